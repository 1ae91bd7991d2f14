"""Files that hold other files: Outlook's winmail.dat (TNEF), Outlook .msg, and attached messages.

Each unpacker returns the container's own text and its inner files; the caller extracts
the inner files in turn, one level deeper.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import quopri
from email.message import EmailMessage, Message

import olefile
import tnefparse

from intake.errors import ExtractionFailed
from intake.extract.base import FileInput
from intake.extract.text import extract_html, tidy
from intake.mail.charsets import decode_bytes

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
TNEF_MAGIC = b"\x78\x9f\x3e\x22"
ATTACH_PREFIX = "__attach_version1.0_#"


def unpack_tnef(data: bytes) -> tuple[str, list[FileInput]]:
    """The body and attachments of a TNEF (winmail.dat) blob."""
    try:
        tnef = tnefparse.TNEF(data, do_checksum=False)
    except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError) as err:
        raise ExtractionFailed(f"broken TNEF: {err or type(err).__name__}") from err
    body = _text_attr(getattr(tnef, "body", None)) or _text_attr(getattr(tnef, "htmlbody", None))
    files = [
        FileInput(
            filename=_text_attr(att.long_filename()) or "attachment",
            content_type="application/octet-stream",
            data=bytes(att.data),
        )
        for att in tnef.attachments
        if isinstance(getattr(att, "data", None), bytes | bytearray)
    ]
    return tidy(body), files


def _text_attr(value: object) -> str:
    if isinstance(value, bytes):
        return decode_bytes(value.rstrip(b"\x00"))
    return str(value).rstrip("\x00") if value else ""


def unpack_msg(data: bytes) -> tuple[str, list[FileInput]]:
    """The body and attachments of an Outlook .msg file (a compound file of MAPI properties)."""
    try:
        ole = olefile.OleFileIO(data)
    except (OSError, ValueError) as err:
        raise ExtractionFailed(f"broken MSG: {err}") from err
    with ole:
        body = _msg_string(ole, "", "1000") or ""
        storages = sorted({entry[0] for entry in ole.listdir() if entry[0].startswith(ATTACH_PREFIX)})
        files: list[FileInput] = []
        for storage in storages:
            raw = _msg_stream(ole, storage + "/__substg1.0_37010102")
            if raw is None:
                continue  # an embedded message or OLE object without a data stream: listed nowhere
            name = (
                _msg_string(ole, storage + "/", "3707")
                or _msg_string(ole, storage + "/", "3704")
                or "attachment"
            )
            mime = _msg_string(ole, storage + "/", "370E") or "application/octet-stream"
            files.append(FileInput(filename=name, content_type=mime, data=raw))
    return tidy(body), files


def _msg_stream(ole: olefile.OleFileIO, path: str) -> bytes | None:
    if not ole.exists(path):
        return None
    return bytes(ole.openstream(path).read())


def _msg_string(ole: olefile.OleFileIO, prefix: str, prop: str) -> str | None:
    """A string property, stored as UTF-16 (type 001F) or as 8-bit text (type 001E)."""
    unicode = _msg_stream(ole, f"{prefix}__substg1.0_{prop}001F")
    if unicode is not None:
        return unicode.decode("utf-16-le", errors="replace").rstrip("\x00")
    narrow = _msg_stream(ole, f"{prefix}__substg1.0_{prop}001E")
    return decode_bytes(narrow.rstrip(b"\x00")) if narrow is not None else None


def unpack_rfc822(data: bytes) -> tuple[str, list[FileInput]]:
    """The headers, first text body and attachments of an attached e-mail message."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    lines = [
        f"{name}: {message.get(name, '')}" for name in ("From", "To", "Date", "Subject") if message.get(name)
    ]
    plain = ""
    html = ""
    files: list[FileInput] = []
    for part in _leaves(message):
        filename = part.get_filename()
        if part.get_content_type() == "message/rfc822":
            # An attached message is a file of its own, read one level deeper, not merged into this one.
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                raw = _undo_transfer_encoding(inner[0].as_bytes(), str(part.get("Content-Transfer-Encoding", "")))
                files.append(FileInput(filename or "message.eml", "message/rfc822", raw))
            continue
        disposition = part.get_content_disposition()
        if not filename and disposition != "attachment" and part.get_content_maintype() == "text":
            if part.get_content_type() == "text/html":
                html = html or _part_text(part)
            else:
                plain = plain or _part_text(part)
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            files.append(
                FileInput(
                    filename=filename or "attachment", content_type=part.get_content_type(), data=payload
                )
            )
    body = (
        plain if plain.strip() or not html else (extract_html(html.encode("utf-8"), "text/html").text or "")
    )
    return tidy("\n".join(lines) + "\n\n" + body), files


def _undo_transfer_encoding(raw: bytes, encoding: str) -> bytes:
    """The attached message's bytes where its sender encoded them anyway (RFC 2046 forbids it; some do)."""
    encoding = encoding.strip().lower()
    try:
        if encoding == "base64":
            return base64.b64decode(b"".join(raw.split()))
        if encoding == "quoted-printable":
            return quopri.decodestring(raw.lstrip(b"\r\n"))
    except (binascii.Error, ValueError):
        return raw
    return raw


def _leaves(message: Message) -> list[Message]:
    """The message's non-multipart parts in order, with attached messages kept whole."""
    if message.get_content_type() == "message/rfc822" or not message.is_multipart():
        return [message]
    payload = message.get_payload()
    parts = payload if isinstance(payload, list) else []
    return [leaf for part in parts if isinstance(part, Message) for leaf in _leaves(part)]


def _part_text(part: Message) -> str:
    # get_content() raises on unknown charsets and broken parts; the raw payload is still worth reading.
    if isinstance(part, EmailMessage):
        try:
            content = part.get_content()
            if isinstance(content, str):
                return content
        except (KeyError, LookupError, ValueError):
            pass
    payload = part.get_payload(decode=True)
    return decode_bytes(payload, part.get_content_charset()) if isinstance(payload, bytes) else ""
