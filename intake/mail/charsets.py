"""Text from bytes whose charset is missing, wrong or unknown, and RFC 2047 encoded words.

The declared charset is used when it fits; otherwise UTF-8, then Windows-1252,
so that æøå survive whatever the sender's client claimed.
"""

from __future__ import annotations

import codecs
import re
from email.header import decode_header

# Charsets that mail in the wild names but Python calls something else.
_CHARSET_ALIASES = {
    "iso-gb2312": "gbk",
    "gb2312": "gbk",
    "gb_2312-80": "gbk",
    "x-unknown": "utf-8",
    "unknown-8bit": "utf-8",
    "x-user-defined": "windows-1252",
    "ansi_x3.4-1968": "ascii",
    "iso-8859-8-i": "iso-8859-8",
    "ks_c_5601-1987": "cp949",
    "windows-874": "cp874",
}

LATIN = {"iso8859-1", "iso8859-15", "cp1252", "ascii", "utf-8"}


def decode_bytes(data: bytes, declared: str | None = None) -> str:
    """Decodes text bytes: the declared charset when it fits, else UTF-8, else Windows-1252."""
    # A byte-order mark outranks any label.
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    codec = codec_name(declared)
    is_ascii = data.isascii()
    # A message that says Latin-1 (or nothing) but holds valid UTF-8 is UTF-8: mail
    # clients mislabel often, and valid multi-byte UTF-8 by accident is very unlikely.
    if not is_ascii and codec in (None, "ascii", "iso8859-1", "iso8859-15", "cp1252", "latin-1"):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    if codec is not None:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace") if _cp1252_fits(data) else data.decode("latin-1")


def _cp1252_fits(data: bytes) -> bool:
    return not any(b in data for b in (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d"))


def codec_name(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().strip('"').lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def fix_text(text: str, hint: str | None = None) -> str:
    """Repairs raw 8-bit bytes that the email package kept as surrogates in a header."""
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        text = decode_bytes(text.encode("utf-8", "surrogateescape"), hint)
    return text


def decode_words(value: str, hint: str | None = None) -> str:
    """Decodes RFC 2047 encoded words; whitespace between adjacent words is dropped, as the RFC says."""
    unfolded = re.sub(r"\r?\n[ \t]", " ", value)
    if "=?" not in unfolded:
        return unfolded.strip()
    try:
        chunks = decode_header(unfolded)
    except Exception:  # malformed encoded words: keep the text as it stands
        return unfolded.strip()
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            out.append(decode_bytes(chunk, charset or hint))
        else:
            out.append(chunk)
    return "".join(out).strip()
