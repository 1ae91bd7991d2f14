"""Parse: turns raw message bytes into headers, a text body and attachments.

Real mail is often broken, so nothing here raises for bad input: a part that
cannot be decoded is kept as bytes and noted in ``defects``. Text whose charset
is missing, wrong or unknown is decoded by trying UTF-8, then Windows-1252, so
that æøå survive. Forwarded messages (``message/rfc822``) give their
attachments, and their text is appended to the body under a separator.
"""

from __future__ import annotations

import itertools
import quopri
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import Message as EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from intake.mail.charsets import LATIN, codec_name, decode_bytes, decode_words, fix_text
from intake.mail.htmltext import html_to_text
from intake.mail.large import MARKER, STREAMED_BODY, Elided, LargeBody, decode, elide, find_first, lenient_base64

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAX_DEPTH = 10
# The most of a header-less text file that is kept as its body.
MAX_PLAIN_TEXT = 1024 * 1024
# Parts inside parts (multiparts and attached messages together): a real mail has a handful;
# past this many the rest is not read, and past the parser's own reach the message is unreadable.
MAX_LEVELS = 40
# Multipart boundaries and attached messages a message may declare before it is not read at all.
MAX_CONTAINERS = 200
_CONTAINER = re.compile(rb"boundary\s*=|message/(?:rfc822|global)", re.IGNORECASE)
MESSAGE_ID_MAX = 998
# No control characters: RFC 5322 allows none in a msg-id, and PostgreSQL stores no NUL in text.
_MSGID = re.compile(r"<[^<>\s\x00-\x1f\x7f]+>")
_HEADER_MSGID = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:")
_ADDRESS_HEADERS = {"from", "sender", "reply-to", "to", "cc", "bcc", "return-path"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


@dataclass
class Part:
    """An attachment (or an inline non-text part) with its decoded bytes.

    A large one has empty ``data`` and its body in ``large``, decoded piece by
    piece when it is stored (``intake/extract/attachments.py``); ``content`` gives the
    bytes either way.
    """

    filename: str
    content_type: str
    data: bytes
    inline: bool = False
    depth: int = 0
    large: LargeBody | None = field(default=None, repr=False, compare=False)
    # A forwarded message this parser walked into: its files are listed beside it as well, and the
    # extractor finds them inside it again (intake.extract.attachments keeps one of the two).
    walked: bool = False

    def content(self) -> bytes:
        return self.large.content() if self.large is not None else self.data


@dataclass
class ParsedMessage:
    """What the rest of the pipeline needs to know about a message."""

    message_id: str | None = None
    subject: str | None = None
    sender: str | None = None
    sender_name: str | None = None
    reply_to: str | None = None
    to: list[str] = field(default_factory=list)
    date: datetime | None = None
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "text/plain"
    body_text: str = ""
    attachments: list[Part] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    not_mime: str | None = None
    charset_hint: str | None = None
    large: Elided | None = field(default=None, repr=False, compare=False)

    def header(self, name: str) -> str | None:
        """The first value of a header, decoded, or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key == wanted]


def parse(raw: bytes) -> ParsedMessage:
    """Parses raw bytes; never raises for malformed mail."""
    if raw.startswith(OLE_MAGIC):
        return ParsedMessage(not_mime="an Outlook .msg file, not a MIME message", defects=["not MIME"])
    # A large message is a memory map (no isspace); blank files are small.
    if not raw or (len(raw) <= 65536 and bytes(raw).isspace()):
        return ParsedMessage(not_mime="an empty file, not a mail", defects=["not MIME"])
    skipped = _skip_leading_junk(raw)
    if not _HEADER_LINE.match(skipped):
        # Text with no header at all: not a mail, but its words are kept (and searched) as the body.
        text = _CONTROL.sub("", decode_bytes(raw[:MAX_PLAIN_TEXT], None)).strip()
        return ParsedMessage(not_mime="no mail header: the file is read as plain text", defects=["not MIME"],
                             body_text=text)
    repaired = _repair_folding(skipped)
    large = elide(repaired)
    # bytes() of bytes is the same object; of a memory-mapped message with nothing cut out, a copy.
    source = large.reduced if large else bytes(repaired)
    unreadable: str | None = None
    if _too_many_parts(source):
        # The standard parser descends into nested parts recursively and slows with the square
        # of their depth (20,000 levels in 1 MB: 25 s, then a RecursionError); such a message is
        # not read past its header.
        unreadable = f"more than {MAX_CONTAINERS} nested or attached parts"
    else:
        try:
            # The legacy policy keeps every header as it came, which is all this module reads (it decodes
            # them itself, from ``raw_items``): the default policy's header objects were four fifths of
            # the parsing time of an ordinary response, for the same result.
            msg = BytesParser(policy=policy.compat32).parsebytes(source)
        except RecursionError:
            unreadable = f"nested more than {MAX_LEVELS} levels deep"
    if unreadable is not None:
        msg = BytesParser(policy=policy.compat32).parsebytes(source, headersonly=True)
        msg.set_payload("")
        large = None
    parsed = ParsedMessage(not_mime=unreadable)
    parsed.large = large
    hint = parsed.charset_hint = _charset_hint(msg)
    raw_headers = _raw_headers(msg, hint)
    parsed.headers = [(name, decode_words(value, hint)) for name, value in raw_headers]
    parsed.message_id = normalise_message_id(parsed.header("message-id"))
    parsed.subject = _clean_line(parsed.header("subject"))
    for header in ("from", "sender"):
        for name, value in raw_headers:
            if name == header and parsed.sender is None:
                parsed.sender_name, parsed.sender = _first_address(value, hint)
    parsed.reply_to = next(
        (addr for name, value in raw_headers if name == "reply-to" for _, addr in _addresses(value, hint)), None
    )
    parsed.to = [addr for name, value in raw_headers if name == "to" for _, addr in _addresses(value, hint)]
    parsed.date = _date(parsed.header("date"))
    parsed.in_reply_to = message_ids(parsed.header("in-reply-to"))
    parsed.references = [mid for value in parsed.header_all("references") for mid in message_ids(value)]
    parsed.content_type = _content_type(msg)
    texts: list[str] = []
    if unreadable is None:
        _walk(msg, 0, texts, parsed)
    else:
        parsed.defects.append("nesting too deep")
    parsed.body_text = "\n\n".join(t for t in texts if t.strip()).strip()
    for defect in getattr(msg, "defects", []):
        parsed.defects.append(type(defect).__name__)
    parsed.large = None  # the raw bytes are not kept beyond parsing
    return parsed


def _too_many_parts(raw: bytes) -> bool:
    return next(itertools.islice(_CONTAINER.finditer(raw), MAX_CONTAINERS, None), None) is not None


def normalise_message_id(value: str | None) -> str | None:
    """The ``<...>`` of a Message-ID header; None for anything that cannot be one.

    Not one: a value with control characters or longer than a header line may
    be (998 characters, RFC 5322), which is also what the columns hold; a
    hostile message must not stop its whole batch from being stored.
    """
    if not value:
        return None
    found = _MSGID.search(value)
    if found:
        message_id = found.group(0)
    else:
        value = value.strip()
        message_id = f"<{value}>" if value and _MSGID.fullmatch(f"<{value}>") else ""
    return message_id if 0 < len(message_id) <= MESSAGE_ID_MAX else None


def peek_message_id(raw: bytes) -> str | None:
    """The normalised Message-ID of raw bytes, read off the header block without parsing the message."""
    # find, not split: splitting would copy the whole body (68 MB for a 50 MB attachment) to drop it.
    # Nor a search for a line ending the message lacks through all of it (find_first: window by window).
    end, _ = find_first(raw, (b"\r\n\r\n", b"\n\n"))
    header_block = raw[:end] if end >= 0 else raw
    found = _HEADER_MSGID.search(header_block)
    if not found:
        return None
    return normalise_message_id(found.group(1).decode("ascii", "replace"))


def message_ids(value: str | None) -> list[str]:
    return _MSGID.findall(value or "")


def _skip_leading_junk(raw: bytes) -> bytes:
    """Drops an mbox ``From `` line or a few non-header lines before the headers."""
    rest = raw
    for _ in range(3):
        if not rest or _HEADER_LINE.match(rest):
            return rest
        newline = rest.find(b"\n")
        if newline < 0:
            return raw
        first = rest[:newline]
        if not (first.startswith(b"From ") or b":" not in first or first.strip(b"\r").startswith(b"-")):
            return rest
        rest = rest[newline + 1 :]
    return rest if _HEADER_LINE.match(rest) else raw


def _repair_folding(raw: bytes) -> bytes:
    """Joins header lines that some senders fold without the leading space the RFC asks for.

    Without this, the parser ends the headers at such a line and the Subject and
    From that follow it are lost.
    """
    end, _ = find_first(raw, (b"\n\n", b"\r\n\r\n"))
    if end < 0 or not _HEADER_LINE.match(raw):
        return raw
    lines = raw[:end].split(b"\n")
    if all(line[:1] in (b" ", b"\t") or _HEADER_LINE.match(line) for line in lines):
        return raw
    fixed = [line if line[:1] in (b" ", b"\t") or _HEADER_LINE.match(line) else b" " + line for line in lines]
    return b"\n".join(fixed) + raw[end:]


def _charset_hint(msg: EmailMessage) -> str | None:
    """The charset the message declares: used for raw 8-bit bytes in its headers.

    A non-Latin charset wins over a Latin one, since Latin-1 text decodes as
    Windows-1252 anyway and raw Chinese or Japanese bytes only decode with theirs.
    """
    declared: list[str] = []
    for part in msg.walk():
        try:
            charset = part.get_content_charset()
        except Exception:  # a broken Content-Type parameter
            charset = None
        codec = codec_name(charset)
        if codec and codec not in declared:
            declared.append(codec)
    for codec in declared:
        if codec not in LATIN:
            return codec
    return declared[0] if declared else None


def _raw_headers(msg: EmailMessage, hint: str | None) -> list[tuple[str, str]]:
    out = []
    for name, value in msg.raw_items():
        if name == MARKER:  # ours, added before parsing a large message
            continue
        out.append((name.lower(), fix_text(str(value), hint)))
    return out


def _clean_line(value: str | None) -> str | None:
    if value is None:
        return None
    return _CONTROL.sub("", " ".join(value.split()))


def _addresses(value: str | None, hint: str | None = None) -> list[tuple[str, str]]:
    """Addresses from a raw header; display names are decoded after the split, so an
    encoded comma or angle bracket in a name cannot change the address."""
    if not value:
        return []
    try:
        pairs = getaddresses([re.sub(r"\r?\n[ \t]", " ", value)])
    except Exception:  # getaddresses can fail on pathological input; treat as no address
        return []
    out = []
    for name, addr in pairs:
        addr = addr.strip().strip(".").lower()
        if addr and "@" in addr and "\n" not in addr and "\r" not in addr:
            out.append((_clean_line(decode_words(name, hint)) or "", addr))
    if not out:
        # A bare local part is kept for robots such as MAILER-DAEMON that send without a domain.
        bare = [(n, a.strip().lower()) for n, a in pairs if re.fullmatch(r"[A-Za-z0-9][\w.-]*", a.strip())]
        out = [(_clean_line(decode_words(n, hint)) or "", a) for n, a in bare[:1]]
    return out


def _first_address(value: str | None, hint: str | None = None) -> tuple[str | None, str | None]:
    pairs = _addresses(value, hint)
    if not pairs:
        return None, None
    name, addr = pairs[0]
    return (name or None), addr


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)


def _content_type(part: EmailMessage) -> str:
    try:
        return part.get_content_type()
    except Exception:  # a broken Content-Type header
        return "application/octet-stream"


def _payload(part: EmailMessage, parsed: ParsedMessage) -> bytes:
    span = parsed.large.span_of(part) if parsed.large else None
    if span is not None and parsed.large is not None:
        body, defects = decode(parsed.large.raw, span, str(part.get("Content-Transfer-Encoding", "")))
        for defect in defects:
            part.policy.handle_defect(part, defect)
        return body
    try:
        data = part.get_payload(decode=True)
    except Exception as err:  # undecodable transfer encoding
        parsed.defects.append(f"payload: {type(err).__name__}")
        data = None
    if _encoding(part) == "base64" and any(type(d).__name__ == "InvalidBase64LengthDefect" for d in part.defects):
        # The parser gives up on the whole body for one character too many; mail clients decode around it.
        raw_text = part.get_payload()
        if isinstance(raw_text, str):
            return lenient_base64(raw_text.encode("ascii", "replace"))
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def _encoding(part: EmailMessage) -> str:
    return str(part.get("Content-Transfer-Encoding", "")).strip().lower()


def _filename(part: EmailMessage, hint: str | None = None) -> str | None:
    name = None
    # Read the parameter from the raw header: the parsed one has already turned raw
    # 8-bit bytes into replacement characters.
    for header in ("content-disposition", "content-type"):
        raw = next((str(v) for k, v in part.raw_items() if k.lower() == header), None)
        if raw is None:
            continue
        holder = EmailMessage()
        try:
            holder[header] = fix_text(re.sub(r"\r?\n[ \t]", " ", raw), hint)
            found = holder.get_param("filename" if header == "content-disposition" else "name", header=header)
        except Exception:  # broken RFC 2231 parameters
            found = None
        if found:
            name = found if isinstance(found, str) else _rfc2231(found)
            break
    if not name:
        return _name_from_content_id(part)
    name = decode_words(fix_text(str(name), hint), hint)
    # Some clients send the sender's whole path (C:\\TEMP\\x.png); the file's name is its last part.
    name = re.split(r"[\\/]", name)[-1]
    name = _UNSAFE_FILENAME.sub("_", name).strip(" ._")
    return name[:200] or None


def _described(part: EmailMessage) -> str | None:
    """A report's or forwarded message's Content-Description ("Undelivered Message"), as a name."""
    value = next((str(v) for k, v in part.raw_items() if k.lower() == "content-description"), None)
    if not value:
        return None
    name = _UNSAFE_FILENAME.sub("_", decode_words(value)).strip(" ._")
    return name[:100] or None


def _name_from_content_id(part: EmailMessage) -> str | None:
    """Outlook names inline images only in their Content-ID (``<image001.jpg@01CD…>``)."""
    content_id = next((str(v) for k, v in part.raw_items() if k.lower() == "content-id"), "")
    found = re.match(r"\s*<?([\w.-]{1,100}\.[A-Za-z0-9]{2,5})@", content_id)
    return found.group(1) if found else None


def _rfc2231(value: tuple[str | None, str | None, str]) -> str:
    charset, _language, text = value
    data = text.encode("latin-1", "surrogateescape")
    return decode_bytes(data, charset)


def _walk(part: EmailMessage, depth: int, texts: list[str], parsed: ParsedMessage, level: int = 0) -> None:
    if depth > MAX_DEPTH or level > MAX_LEVELS:
        if "nesting too deep" not in parsed.defects:
            parsed.defects.append("nesting too deep")
        return
    ctype = _content_type(part)
    if ctype in ("message/rfc822", "message/global"):
        _forwarded(part, depth, texts, parsed, level)
        return
    if ctype.startswith("message/"):
        # Delivery and disposition reports: kept as a text attachment.
        name = _filename(part, parsed.charset_hint) or _described(part) or ctype.split("/")[1]
        parsed.attachments.append(Part(f"{name}.txt" if "." not in name else name, ctype, _body_bytes(part),
                                       depth=depth))
        return
    if part.is_multipart():
        payload = part.get_payload()
        children = [c for c in payload if isinstance(c, EmailMessage)] if isinstance(payload, list) else []
        if ctype == "multipart/alternative":
            _alternative(children, depth, texts, parsed, level + 1)
            return
        for child in children:
            _walk(child, depth, texts, parsed, level + 1)
        return
    disposition = part.get_content_disposition()
    filename = _filename(part, parsed.charset_hint)
    if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
        text = decode_bytes(_payload(part, parsed), part.get_content_charset())
        texts.append(html_to_text(text) if ctype == "text/html" else text)
        return
    span = parsed.large.span_of(part) if parsed.large else None
    large = None
    if span is not None and parsed.large is not None and span[1] - span[0] >= STREAMED_BODY:
        large = LargeBody(parsed.large.raw, span, str(part.get("Content-Transfer-Encoding", "")))
    inline = disposition == "inline" or (disposition is None and part.get("Content-ID") is not None)
    parsed.attachments.append(
        Part(
            filename=filename or _default_name(ctype, len(parsed.attachments) + 1),
            content_type=ctype,
            data=b"" if large is not None else _payload(part, parsed),
            inline=inline,
            depth=depth,
            large=large,
        )
    )


def _alternative(
    children: list[EmailMessage], depth: int, texts: list[str], parsed: ParsedMessage, level: int
) -> None:
    plain = [c for c in children if _content_type(c) == "text/plain" and not _filename(c)]
    chosen = plain[-1] if plain else None
    for child in children:
        ctype = _content_type(child)
        if ctype in ("text/plain", "text/html") and not _filename(child):
            if chosen is None and ctype == "text/html":
                chosen = child
            if child is chosen:
                _walk(child, depth, texts, parsed, level)
        else:
            _walk(child, depth, texts, parsed, level)


def _forwarded(part: EmailMessage, depth: int, texts: list[str], parsed: ParsedMessage, level: int) -> None:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if _encoding(part) in ("base64", "quoted-printable"):
        # The parser reads an encoded attached message as a header-less one holding the encoded
        # text; decoded, it is read like any other.
        encoded = _body_bytes(part)
        decoded = lenient_base64(encoded) if _encoding(part) == "base64" else quopri.decodestring(encoded)
        inner = BytesParser(policy=policy.compat32).parsebytes(decoded) if decoded.strip() else None
    if not isinstance(inner, EmailMessage):
        data = _payload(part, parsed)
        parsed.attachments.append(Part("videresendt.eml", "message/rfc822", data, depth=depth))
        return
    inner_headers = _raw_headers(inner, parsed.charset_hint)
    subject = next((value for name, value in inner_headers if name == "subject"), None)
    title = _clean_line(decode_words(subject, parsed.charset_hint)) if subject is not None else None
    name = _filename(part, parsed.charset_hint) or f"{title or _described(part) or 'videresendt'}.eml"
    parsed.attachments.append(Part(_UNSAFE_FILENAME.sub("_", name)[:200], "message/rfc822", _as_bytes(inner),
                                   inline=False, depth=depth, walked=True))
    lines = ["---------- Videresendt melding ----------"]
    for wanted in ("From", "Date", "Subject", "To"):
        value = next((v for name, v in inner_headers if name == wanted.lower()), None)
        if value is not None:
            lines.append(f"{wanted}: {_clean_line(decode_words(value, parsed.charset_hint))}")
    texts.append("\n".join(lines))
    _walk(inner, depth + 1, texts, parsed, level + 1)


def _as_bytes(message: EmailMessage) -> bytes:
    try:
        return message.as_bytes(policy=policy.SMTP.clone(linesep="\r\n", max_line_length=0))
    except Exception:  # re-serialising a broken message can fail; keep its string form
        return str(message).encode("utf-8", "surrogateescape")


def _body_bytes(part: EmailMessage) -> bytes:
    whole = _as_bytes(part)
    for separator in (b"\r\n\r\n", b"\n\n"):
        if separator in whole:
            return whole.split(separator, 1)[1]
    return whole


def _default_name(content_type: str, number: int) -> str:
    extension = {
        "application/pdf": ".pdf",
        "text/plain": ".txt",
        "text/html": ".html",
        "image/png": ".png",
        "image/jpeg": ".jpg",
        "message/delivery-status": ".txt",
        "message/rfc822": ".eml",
    }.get(content_type, ".bin")
    return f"vedlegg-{number}{extension}"
