"""Builds the MIME message of a receipt and keeps anything a sender wrote out of its headers.

Only three things from the original message reach a receipt's headers, and
each is checked here: the recipient address (one plain address, no display
name), the original Message-ID (only if it has the shape of one) and the
subject (decoded, stripped of control characters, reduced to one line of
text). The email package then encodes them itself, so no sender can add a
header or a recipient.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.header import decode_header
from email.headerregistry import Address
from email.message import EmailMessage
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
    """
    if not valid_address(recipient):
        raise ValueError(f"not a plain address: {recipient!r}")
    if not valid_message_id(message_id):
        raise ValueError(f"not a Message-ID: {message_id!r}")
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = Address(display_name=sanitise_subject(from_name), addr_spec=from_address)
    # The recipient's own display name is never copied: it is the one place a sender could try
    # to smuggle in a second address.
    msg["To"] = recipient
    msg["Subject"] = sanitise_subject(subject)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    if valid_message_id(in_reply_to):
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = " ".join(reference_chain(references or [], in_reply_to or ""))
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["Precedence"] = "auto_reply"
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    # The null envelope sender (RFC 3834 §3.3): a bounce of a receipt goes nowhere, rather than into
    # postmottak, where it would be one more message to process and perhaps to answer.
    return Envelope(sender="", recipient=recipient, message_id=message_id, data=msg.as_bytes())
