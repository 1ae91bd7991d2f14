"""Attachment file names as staff see them: without the invisible characters that disguise a name.

A right-to-left override (U+202E) makes «report\\u202efdp.exe» display as
«reportexe.pdf»; zero-width and other format characters (Unicode category Cf)
hide or join letters the same way. They are removed, control characters become
spaces, and what is left is one trimmed line, so the name shown is the name the
file has when it is saved.
"""

from __future__ import annotations

import unicodedata

FALLBACK = "vedlegg"


def shown_filename(name: str | None) -> str:
    """The file name without format characters and with controls as spaces; ``vedlegg`` when nothing is left."""
    kept = []
    for ch in name or "":
        category = unicodedata.category(ch)
        if category == "Cf":
            continue
        kept.append(" " if category in ("Cc", "Zl", "Zp") else ch)
    return " ".join("".join(kept).split()) or FALLBACK
