"""Builds the MIME message of a receipt and keeps anything a sender wrote out of its headers.

Only three things from the original message reach a receipt's headers, and
each is checked here: the recipient address (one plain address, no display
name), the original Message-ID (only if it has the shape of one) and the
subject (decoded, stripped of control characters, reduced to one line of
text). The email package then encodes them itself, so no sender can add a
header or a recipient.
"""

from __future__ import annotations

import binascii
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.header import Header, decode_header
from email.utils import format_datetime

MAX_SUBJECT = 200
# A deliberately plain address: printable ASCII without spaces, quotes, brackets, commas or
# semicolons, one "@", and a dotted domain. Anything fancier gets no receipt.
_ADDRESS = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_MESSAGE_ID = re.compile(r"^<[\x21-\x3b\x3d\x3f-\x7e]{1,900}>$")  # printable ASCII, no "<" or ">" inside
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
# RFC 2047: white space between two encoded-words is not part of the text.
_ADJACENT_WORDS = re.compile(r"(\?=)\s+(=\?)")


_LINK_FREE = "[lenke fjernet]"
_SCHEMES = ("mailto:", "http:", "https:", "ftp:", "file:", "tel:", "sms:", "data:", "javascript:")
# Top-level domains that mail clients turn into links when they see ``name.tld``. File
# extensions that are also top-level domains but end most file names (``.zip``, ``.mov``) are
# left out, so an attachment called «svar.zip» keeps its name.
_LINKED_TLDS = frozenset({
    "com", "net", "org", "info", "biz", "io", "co", "me", "ru", "cn", "xyz", "top", "online", "site", "shop",
    "club", "app", "dev", "link", "click", "live", "store", "tk", "ml", "ga", "cf", "gq", "ws", "cc", "tv",
    "no", "se", "dk", "fi", "is", "de", "uk", "eu", "nl", "fr", "es", "it", "pl", "us", "ly", "gl", "to",
})


@dataclass(frozen=True)
class Envelope:
    """What the transport needs: the sender for MAIL FROM (empty: ``MAIL FROM:<>``), the one recipient,
    and the bytes."""

    sender: str
    recipient: str
    message_id: str
    data: bytes


def valid_address(address: str) -> bool:
    return len(address) <= 254 and bool(_ADDRESS.match(address)) and ".." not in address


# A thread can grow long; the last ids are the ones a mail program threads by.
MAX_REFERENCES = 20


def reference_chain(references: list[str], original: str) -> list[str]:
    """The original's References, then the original's own Message-ID: the last MAX_REFERENCES, each once."""
    chain: list[str] = []
    for message_id in [*references, original]:
        if valid_message_id(message_id) and message_id not in chain:
            chain.append(message_id)
    if original in chain:
        chain.remove(original)
        chain.append(original)
    return chain[-MAX_REFERENCES:]


def valid_message_id(value: str | None) -> bool:
    return bool(value) and bool(_MESSAGE_ID.match(value or ""))


def sanitise_subject(subject: str | None) -> str:
    """The original subject as one line of harmless text.

    Encoded-words are decoded first (a few rounds, as some senders encode twice),
    so that a CR or LF hidden inside one is seen and removed like any other control
    character; leftover ``=?`` sequences are broken so nothing downstream decodes them.
    """
    text = subject or ""
    for _ in range(3):
        if not _ENCODED_WORD.search(text):
            break
        text = _ENCODED_WORD.sub(_decode_word, _ADJACENT_WORDS.sub(r"\1\2", text))
    cleaned = "".join(" " if unicodedata.category(ch).startswith(("C", "Z")) else ch for ch in text)
    cleaned = " ".join(cleaned.split()).replace("=?", "= ?")
    if len(cleaned) > MAX_SUBJECT:
        cleaned = cleaned[: MAX_SUBJECT - 1].rstrip() + "…"
    return cleaned


def quoted_text(value: str | None, limit: int) -> str:
    """Sender-written text as a receipt may repeat it: one harmless line of at most ``limit``
    characters, with every web or mail address in it replaced, so that no mail client shows it
    as a link and a receipt cannot carry anybody's advertisement."""
    words = [_LINK_FREE if _looks_like_link(word) else word for word in sanitise_subject(value).split(" ")]
    text = " ".join(words)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _looks_like_link(word: str) -> bool:
    """Whether a mail client would make ``word`` a link: a scheme, ``www.``, an address, or a host name."""
    lowered = word.lower().strip("()[]{}<>«»\"'.,;:!?")
    if "://" in lowered or lowered.startswith("www.") or "@" in lowered or lowered.startswith(_SCHEMES):
        return True
    host = lowered.split("/", 1)[0]
    labels = host.split(".")
    return len(labels) >= 2 and all(labels) and labels[-1] in _LINKED_TLDS


def _decode_word(found: re.Match[str]) -> str:
    """One encoded-word as text; left as it was when its charset or encoding is broken."""
    try:
        ((data, charset),) = decode_header(found.group(0))
        return data.decode(charset or "ascii", "replace") if isinstance(data, bytes) else data
    except (ValueError, LookupError):
        return found.group(0)


def build_receipt(
    *,
    from_address: str,
    from_name: str,
    recipient: str,
    message_id: str,
    in_reply_to: str | None,
    subject: str,
    text: str,
    html: str,
    date: datetime,
    references: list[str] | None = None,
) -> Envelope:
    """The receipt as bytes with CRLF line ends, ready for SMTP DATA or an .eml file.

    ``references`` is the original's own References; the receipt's References is that
    chain followed by the original's Message-ID (RFC 5322 §3.6.4), its last MAX_REFERENCES ids.
    The message is written out here rather than by the email package's object model, which
    cost a millisecond a receipt: every header value is either checked above (addresses and
    ids: printable ASCII without spaces), our own, or encoded (RFC 2047) from one line of text,
    and both bodies are quoted-printable, so a line of ours can never look like a header or a
    boundary.
    """
    if not valid_address(recipient):
        raise ValueError(f"not a plain address: {recipient!r}")
    if not valid_message_id(message_id):
        raise ValueError(f"not a Message-ID: {message_id!r}")
    # Quoted-printable writes every "=" as "=3D", so a boundary that starts with "=_" is in no body.
    boundary = f"=_kvittering_{secrets.token_hex(12)}"
    # The recipient's own display name is never copied: it is the one place a sender could try
    # to smuggle in a second address.
    headers = [
        _from(sanitise_subject(from_name), from_address),
        f"To: {recipient}",
        f"Subject: {_unstructured(sanitise_subject(subject), 'Subject')}",
        f"Date: {format_datetime(date)}",
        f"Message-ID: {message_id}",
    ]
    if in_reply_to is not None and valid_message_id(in_reply_to):
        headers.append(f"In-Reply-To: {in_reply_to}")
        headers.append(_folded_ids("References", reference_chain(references or [], in_reply_to)))
    headers += [
        "Auto-Submitted: auto-replied",
        "X-Auto-Response-Suppress: All",
        "Precedence: auto_reply",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"',
    ]
    parts = [f"--{boundary}\r\nContent-Type: text/{kind}; charset=\"utf-8\"\r\n"
             f"Content-Transfer-Encoding: quoted-printable\r\n\r\n".encode("ascii") + _quoted_printable(body)
             for kind, body in (("plain", text), ("html", html))]
    data = "\r\n".join(headers).encode("ascii") + b"\r\n\r\n" + b"\r\n".join(parts) + \
        f"\r\n--{boundary}--\r\n".encode("ascii")
    # The null envelope sender (RFC 3834 §3.3): a bounce of a receipt goes nowhere, rather than into
    # postmottak, where it would be one more message to process and perhaps to answer.
    return Envelope(sender="", recipient=recipient, message_id=message_id, data=data)


def _unstructured(value: str, name: str) -> str:
    """A header's text: as it is when it is ASCII, else as RFC 2047 encoded-words; folded either way."""
    if value.isascii():
        return Header(value, "us-ascii", header_name=name).encode(linesep="\r\n")
    return _encoded_words(value)


# At most this many UTF-8 bytes per encoded-word: 42 make 56 base64 characters, so that a word is
# at most 68 and "Subject: " or "From: " and one word fit a line of 78.
WORD_BYTES = 42


def _encoded_words(value: str) -> str:
    """``value`` as base64 encoded-words of UTF-8, one to a line, none splitting a character (RFC 2047 §5).

    The email package's Header did the same in about 0.2 ms a subject, most of a receipt's composing.
    """
    data = value.encode("utf-8")
    words, start = [], 0
    while start < len(data):
        end = min(start + WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # not inside a character
            end -= 1
        words.append("=?utf-8?b?" + binascii.b2a_base64(data[start:end], newline=False).decode("ascii") + "?=")
        start = end
    return FOLD.join(words)


FOLD = "\r\n "


def _from(name: str, address: str) -> str:
    """``From: name <address>``, the name a quoted string when it is ASCII, else encoded-words."""
    if not name:
        return f"From: <{address}>"
    quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    phrase = quoted if name.isascii() else _encoded_words(name)
    # The address goes on a line of its own where it would take the line past 78 characters.
    fits = len("From: ") + len(phrase.rsplit("\n", 1)[-1]) + len(address) + 3 <= 78
    return f"From: {phrase}{' ' if fits else FOLD}<{address}>"


def _folded_ids(name: str, ids: list[str]) -> str:
    """``name: <a> <b> …``, a new line begun before an id that would take the line past 78 characters."""
    lines, line = [], f"{name}:"
    for one in ids:
        if len(line) + 1 + len(one) > 78 and line != f"{name}:":
            lines.append(line)
            line = ""
        line += " " + one
    return "\r\n".join([*lines, line])


def _quoted_printable(text: str) -> bytes:
    """``text`` as UTF-8 in quoted-printable, lines of at most 76 characters ending in CRLF."""
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    encoded = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    return encoded.replace(b"\n", b"\r\n")
