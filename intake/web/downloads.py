"""File downloads that a browser saves and never displays or runs."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from fastapi.responses import Response

# Types a browser may label the saved file with; anything else (HTML, SVG, scripts) goes out as bytes.
SAFE_TYPES = {
    "application/pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.oasis.opendocument.text",
    "application/rtf",
    "application/zip",
    "image/png",
    "image/jpeg",
    "image/gif",
    "text/plain",
    "text/csv",
    "message/rfc822",
}


def _ascii_name(filename: str) -> str:
    folded = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    folded = re.sub(r"[^A-Za-z0-9._ -]", "_", folded).strip(" .")
    return folded or "vedlegg"


def clean_filename(filename: str) -> str:
    """The last path part, without control characters; never empty."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    return name or "vedlegg"


def download(data: bytes, *, filename: str, content_type: str) -> Response:
    """``Content-Disposition: attachment`` with an ASCII fallback and the UTF-8 name (RFC 6266)."""
    name = clean_filename(filename)
    media = content_type.split(";")[0].strip().lower()
    if media not in SAFE_TYPES:
        media = "application/octet-stream"
    disposition = f"attachment; filename=\"{_ascii_name(name)}\"; filename*=UTF-8''{quote(name, safe='')}"
    return Response(
        content=data,
        media_type=media,
        headers={
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            # Should a browser render it anyway, it runs in an opaque origin without scripts.
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "private, no-store",
        },
    )
