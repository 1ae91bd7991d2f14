"""Large bodies kept out of the email parser.

The standard library's parser splits a body into lines and holds it as text
several times over: a 68 MB message carrying a 50 MB PDF takes eight seconds
and 590 MB to parse, and even a 40 kB form costs it a millisecond, line by
line, half of parsing an ordinary response. So before a message is parsed,
every leaf body over a few kilobytes (an attachment, as a rule) is cut out of
the bytes the parser sees, and its part is marked with a header naming where
the body lies in the original bytes; the parser then reads a message of a few
kilobytes, and a marked body is decoded straight from the original bytes
(``decode``) when its part is read.

Only the MIME structure is read here: headers of each part, multipart
boundaries, leaves. Anything this does not understand is left for the parser
as it is, so a strange message is parsed exactly as before, only not faster.
"""

from __future__ import annotations

import binascii
import mmap
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from email._encoded_words import decode_b  # the parser's lenient base64, for broken padding
from email.errors import InvalidBase64LengthDefect, MessageDefect
from email.message import Message as EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32

# A message this large has its large bodies cut out; a body this large is one.
LARGE_MESSAGE = 16 * 2**10
LARGE_BODY = 8 * 2**10
# A cut-out body this large is decoded piece by piece into the store, never whole in memory
# (``LargeBody``); a smaller one is decoded at once, straight from the original bytes.
STREAMED_BODY = 1 * 2**20
# A stored message this large is read through a memory map (``store/raw.py``).
MAPPED_MESSAGE = 4 * 2**20
MARKER = "X-Intake-Large-Body"
MAX_DEPTH = 10
CHUNK = 2**20
_WHITESPACE = b" \t\r\n"
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]+")
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_DECODED_HERE = {"", "base64", "quoted-printable", "7bit", "8bit", "binary"}


class Mapped(mmap.mmap):
    """A stored raw message read through a memory map: its pages are read as they are touched and
    dropped again (``release``) once decoded, so a large message is never whole in memory.

    Offers what the scanning here needs of ``bytes`` that a map lacks.
    """

    def startswith(self, prefix: bytes | tuple[bytes, ...], start: int = 0) -> bool:
        prefixes = prefix if isinstance(prefix, tuple) else (prefix,)
        return any(self[start : start + len(p)] == p for p in prefixes)


def open_mapped(path: str | os.PathLike[str]) -> Mapped:
    with open(path, "rb") as handle:
        return Mapped(handle.fileno(), 0, access=mmap.ACCESS_READ)


def release(raw: bytes, start: int, end: int) -> None:
    """Gives back the pages of ``raw[start:end]`` when ``raw`` is a map; they are read again if touched."""
    if not isinstance(raw, Mapped) or raw.closed:
        return
    first = start - start % mmap.PAGESIZE
    length = min(end, len(raw)) - first
    if length > 0:
        raw.madvise(mmap.MADV_DONTNEED, first, length)


@dataclass
class Elided:
    """The bytes for the parser, and where each cut-out body lies in the original."""

    raw: bytes
    reduced: bytes
    token: str
    spans: list[tuple[int, int]]

    def span_of(self, part: EmailMessage) -> tuple[int, int] | None:
        """The body span of a part marked by ``elide`` (and not by a sender imitating the marker)."""
        value = part.get(MARKER)
        if not value:
            return None
        token, _, number = str(value).strip().partition(".")
        if token != self.token or not number.isdigit() or int(number) >= len(self.spans):
            return None
        return self.spans[int(number)]


def _find(raw: bytes, needle: bytes, start: int, end: int) -> int:
    """``raw.find(needle, start, end)``; through a map window by window, each given back once searched,
    so that looking for the delimiter after a 50 MB body never has the whole body resident."""
    if not isinstance(raw, Mapped):
        return raw.find(needle, start, end)
    return find_first(raw, (needle,), start, end)[0]


def find_first(raw: bytes, needles: tuple[bytes, ...], start: int = 0, end: int | None = None) -> tuple[int, bytes]:
    """Where the first of ``needles`` occurs in ``raw[start:end]``, and which it is; (-1, b"") if none.

    Searched window by window, so that finding the blank line after a header does
    not read the whole message when only one of the two line endings occurs in it
    (a CRLF message has no ``\n\n``); a memory map's windows are given back once searched.
    """
    end = len(raw) if end is None else min(end, len(raw))
    at = start
    while at < end:
        # Each needle is looked for where it starts in [at, at + CHUNK), which its window holds whole.
        hits = [(found, n) for n in needles if (found := raw.find(n, at, min(end, at + CHUNK + len(n) - 1))) >= 0]
        if hits:
            return min(hits, key=lambda hit: hit[0])
        release(raw, at, at + CHUNK)
        at += CHUNK
    return -1, b""


def elide(raw: bytes) -> Elided | None:
    """The message with its large leaf bodies cut out, or None when there is nothing to cut."""
    if len(raw) < LARGE_MESSAGE:
        return None
    cuts: list[tuple[int, int, int]] = []
    _scan(raw, 0, len(raw), 0, cuts)
    release(raw, 0, len(raw))  # the scan read every page; the bodies are read again when decoded
    if not cuts:
        return None
    token = secrets.token_hex(8)
    pieces: list[bytes] = []
    position = 0
    for number, (head, body, end) in enumerate(cuts):
        pieces += [raw[position:head], f"{MARKER}: {token}.{number}\r\n".encode(), raw[head:body]]
        position = end
    pieces.append(raw[position:])
    return Elided(raw, b"".join(pieces), token, [(body, end) for _, body, end in cuts])


@dataclass
class LargeBody:
    """A cut-out attachment body, decoded piece by piece by whoever stores it (``chunks``).

    An attachment of 50 MB is then never whole in memory beside the raw message.
    """

    raw: bytes
    span: tuple[int, int]
    encoding: str

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """The decoded body in pieces; the same bytes as ``decode``, which it falls back on when unsure."""
        encoding = self.encoding.strip().lower()
        start, end = self.span
        if encoding not in ("base64", "quoted-printable"):
            for at in range(start, end, size):
                yield self.raw[at : min(at + size, end)]
                release(self.raw, at, min(at + size, end))
            return
        if encoding == "quoted-printable":
            yield from _qp_pieces(self.raw, start, end, size)
        elif _plain_base64(self.raw, start, end, size):
            yield from _base64_pieces(self.raw, start, end, size)
        else:
            yield decode(self.raw, self.span, self.encoding)[0]

    def content(self) -> bytes:
        return b"".join(self.chunks())


def _plain_base64(raw: bytes, start: int, end: int, size: int) -> bool:
    """Whether the body is base64 and whitespace only, padded at its end and nowhere else.

    Only such a body can be decoded in pieces with the very result of decoding it
    whole; anything else is decoded whole, the parser's way."""
    body = memoryview(raw)[start:end]
    length, padded = 0, False
    for at in range(0, len(body), size):
        clean = bytes(body[at : at + size]).translate(None, _WHITESPACE)
        release(raw, start + at, start + at + size)
        if clean.translate(None, _BASE64):
            return False
        if (padded and clean) or b"=" in clean.rstrip(b"="):
            return False
        padded = padded or clean.endswith(b"=")
        length += len(clean)
    return length % 4 == 0


def _base64_pieces(raw: bytes, start: int, end: int, size: int) -> Iterator[bytes]:
    """Plain base64 decoded in pieces cut at whole four-character groups."""
    body = memoryview(raw)[start:end]
    carry = b""
    for at in range(0, len(body), size):
        clean = carry + bytes(body[at : at + size]).translate(None, _WHITESPACE)
        release(raw, start + at, start + at + size)
        whole = len(clean) - len(clean) % 4
        carry = clean[whole:]
        yield binascii.a2b_base64(clean[:whole], strict_mode=False)


def _qp_pieces(raw: bytes, start: int, end: int, size: int) -> Iterator[bytes]:
    """Quoted-printable decoded in pieces cut after a line break, which no escape spans."""
    at = start
    while at < end:
        cut = min(at + size, end)
        if cut < end:
            newline = raw.rfind(b"\n", at, cut)
            cut = newline + 1 if newline >= 0 else raw.find(b"\n", cut, end) + 1 or end
        yield binascii.a2b_qp(memoryview(raw)[at:cut])
        release(raw, at, cut)
        at = cut


def decode(raw: bytes, span: tuple[int, int], transfer_encoding: str) -> tuple[bytes, list[MessageDefect]]:
    """A cut-out body decoded by its Content-Transfer-Encoding, with the parser's defects, as the parser would."""
    body = memoryview(raw)[span[0] : span[1]]
    encoding = transfer_encoding.strip().lower()
    if encoding == "base64":
        try:
            # Line breaks (and anything outside the alphabet) are skipped; no copy of the body is made.
            return binascii.a2b_base64(body, strict_mode=False), []
        except binascii.Error:
            # Broken padding: the parser's own lenient decoding, on a copy without line breaks.
            data, defects = decode_b(b"".join(bytes(body).splitlines()))
            if any(isinstance(d, InvalidBase64LengthDefect) for d in defects):
                return lenient_base64(bytes(body)), list(defects)
            return bytes(data), list(defects)
    if encoding == "quoted-printable":
        return binascii.a2b_qp(body), []
    return bytes(body), []


def lenient_base64(encoded: bytes) -> bytes:
    """Base64 that the parser gave up on, decoded as mail clients do.

    Characters outside the alphabet are skipped, what follows the padding is dropped, and a
    dangling last character (one too many for a group of four) is left out; the parser instead
    keeps the whole body undecoded for that one character.
    """
    kept = _NOT_BASE64.sub(b"", encoded.split(b"=", 1)[0])
    kept = kept[: len(kept) - 1] if len(kept) % 4 == 1 else kept + b"=" * (-len(kept) % 4)
    try:
        return binascii.a2b_base64(kept, strict_mode=False)
    except binascii.Error:
        return encoded


def _scan(raw: bytes, start: int, end: int, depth: int, cuts: list[tuple[int, int, int]]) -> None:
    """Notes (header start, body start, body end) of every large leaf in ``raw[start:end]``."""
    if depth > MAX_DEPTH:
        return
    body = _body_start(raw, start, end)
    if body is None:
        return
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw[start:body])
    ctype = headers.get_content_type()
    if ctype == "multipart/digest":
        return  # its parts are messages unless they say otherwise: left to the parser
    if ctype.startswith("multipart/"):
        boundary = headers.get_param("boundary")
        if isinstance(boundary, str) and boundary:
            for part_start, part_end in _parts(raw, body, end, boundary.encode("ascii", "replace")):
                _scan(raw, part_start, part_end, depth + 1, cuts)
        return
    if ctype.startswith("message/") or headers.defects:
        return
    if str(headers.get("content-transfer-encoding", "")).strip().lower() not in _DECODED_HERE:
        return  # uuencode and the like: left to the parser
    if end - body > LARGE_BODY:
        cuts.append((start, body, end))


def _body_start(raw: bytes, start: int, end: int) -> int | None:
    """Where the body of the part at ``start`` begins: after the first empty line."""
    if raw.startswith((b"\r\n", b"\n"), start):
        return start + (2 if raw.startswith(b"\r\n", start) else 1)
    at, found = find_first(raw, (b"\r\n\r\n", b"\n\n"), start, end)
    return None if at < 0 else at + len(found)


def _parts(raw: bytes, body: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    """The spans of a multipart body's parts, between its delimiter lines."""
    delimiter = b"--" + boundary
    lines: list[tuple[int, int, bool]] = []  # (line start, after the line, closing)
    at = _find(raw, delimiter, body, end)
    while at >= 0:
        if at == body or raw[at - 1 : at] == b"\n":
            after = at + len(delimiter)
            closing = raw.startswith(b"--", after)
            newline = raw.find(b"\n", after, end)
            lines.append((at, end if newline < 0 else newline + 1, closing))
            if closing:
                break
        at = _find(raw, delimiter, at + len(delimiter), end)
    spans = []
    followers: list[tuple[int, int, bool] | None] = [*lines[1:], None]
    for (_, part_start, closing), following in zip(lines, followers[: len(lines)], strict=True):
        if closing:
            break
        part_end = end if following is None else following[0]
        # The line break before a delimiter belongs to the delimiter.
        if following is not None:
            part_end -= 2 if raw[part_end - 2 : part_end] == b"\r\n" else 1
        spans.append((part_start, max(part_start, part_end)))
    return spans
