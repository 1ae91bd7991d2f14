"""One UID FETCH of a batch of messages, and a reader made for its answer.

imapclient reads a FETCH answer with its general IMAP parser, which looks at
every character outside the message bodies in Python: for a batch of small
messages that was most of the CPU time of fetching, and a poll shares one
interpreter lock between fetching and storing. Our FETCH always asks for the
same three items (``FETCH_ITEMS``), and the answer has a small, fixed shape::

    * 12 FETCH (UID 345 INTERNALDATE "23-Nov-2026 21:55:26 +0100" RFC822.SIZE 389 BODY[] {389}
    <389 bytes>)

``read_fetch`` reads that shape with one regular expression per item, in any
order, with unsolicited FLAGS, NIL and quoted values. Anything else in an
answer (another kind of value, an escaped string, a nested list, a quirk of a
server) hands the whole answer to imapclient's own parser, so the result is
always what ``IMAPClient.fetch`` would have returned: the tests hold the two
to that.
"""

from __future__ import annotations

import imaplib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from imapclient import IMAPClient
from imapclient.datetime_util import parse_to_datetime
from imapclient.exceptions import IMAPClientError
from imapclient.response_parser import parse_fetch_response

from intake.mail.large import CHUNK, MAPPED_MESSAGE

Fetch = dict[int, dict[bytes, Any]]
# Writes a body that comes in pieces somewhere durable; returns it readable as bytes.
Spool = Callable[[Iterable[bytes]], bytes]
FETCH_ITEMS = [b"BODY.PEEK[]", b"INTERNALDATE", b"RFC822.SIZE"]
_FETCH_ARGUMENT = "(" + b" ".join(FETCH_ITEMS).decode() + ")"

# The start of one message's answer: its sequence number and the opening parenthesis.
_HEAD = re.compile(rb"(\d+) \(")
# One item and its value, each value exactly as imapclient's parser would read it: a number
# (without a leading zero), a quoted string without escapes, NIL, a flat list of atoms, or the
# announcement of a literal, which can only end a line. A value must be followed by a space or
# the closing parenthesis.
_ITEM = re.compile(
    rb"""
    \x20?([A-Za-z][A-Za-z0-9.]*(?:\[\])?)\x20
    (?:
        (0|[1-9][0-9]*)(?=[\x20)])
      | "([^"\\\x00-\x1f]*)"(?=[\x20)])
      | (?-i:(NIL))(?=[\x20)])
      | \(([^\x00-\x1f()"{}\[\]%]*)\)(?=[\x20)])
      | \{([0-9]+)\}\Z
    )
    """,
    re.IGNORECASE | re.VERBOSE,
)
_INTERNALDATE = re.compile(rb" ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")
_MONTHS = {m: i for i, m in enumerate(b"jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}


def fetch_batch(client: IMAPClient, uids: Sequence[int], spool: Spool | None = None) -> Fetch:
    """``client.fetch(uids, FETCH_ITEMS)``, read faster; raises imapclient's errors as it does.

    With ``spool`` (``RawStore.spool``) a body of ``MAPPED_MESSAGE`` or more is not read into
    memory but written by ``spool`` piece by piece as it comes off the connection; the answer
    then holds what ``spool`` returned (a memory map of the written file) in its place.
    """
    if not uids:
        return {}
    imap = client._imap  # imaplib's connection: the same command imapclient would send
    if spool is None:
        typ, data = imap.uid("FETCH", uid_set(uids), _FETCH_ARGUMENT)
    else:
        # imaplib reads every literal with self.read(size); for this one command, large ones are spooled.
        imap.read = _spooling(imap.read, spool)
        try:
            typ, data = imap.uid("FETCH", uid_set(uids), _FETCH_ARGUMENT)
        finally:
            del imap.read
    if typ != "OK":
        raise IMAPClientError(f"fetch failed: {data!r}")
    answer = read_fetch(data)
    wanted = set(uids)
    # Like imapclient: unsolicited answers about other messages are dropped.
    return {uid: fields for uid, fields in answer.items() if uid in wanted}


def _spooling(read: Callable[[int], bytes], spool: Spool) -> Callable[[int], bytes]:
    def spooled_read(size: int) -> bytes:
        if size < MAPPED_MESSAGE:
            return read(size)

        def pieces() -> Iterator[bytes]:
            left = size
            while left:
                piece = read(min(CHUNK, left))
                if not piece:
                    raise imaplib.IMAP4.abort(f"connection closed with {left} bytes of a literal unread")
                left -= len(piece)
                yield piece

        return spool(pieces())

    return spooled_read


def uid_set(uids: Iterable[int]) -> str:
    """An IMAP sequence set naming exactly these UIDs: runs of consecutive ones become ``a:b``."""
    runs: list[list[int]] = []
    for uid in sorted(set(uids)):
        if runs and uid == runs[-1][1] + 1:
            runs[-1][1] = uid
        else:
            runs.append([uid, uid])
    return ",".join(f"{low}:{high}" if high != low else str(low) for low, high in runs)


def read_fetch(data: list[Any]) -> Fetch:
    """The messages in a FETCH answer as imaplib hands it over, keyed by UID (sequence number without one)."""
    if data == [None]:
        return {}
    fast = _read_plain(data)
    if fast is not None:
        return fast
    return dict(parse_fetch_response(data, normalise_times=False, uid_is_key=True))


def _read_plain(data: list[Any]) -> Fetch | None:
    """The answer read by the fast path, or None for anything it does not recognise."""
    out: Fetch = {}
    pieces = iter(data)
    for piece in pieces:
        text, literal = piece if isinstance(piece, tuple) else (piece, None)
        if not isinstance(text, bytes):
            return None
        head = _HEAD.match(text)
        if head is None:
            return None
        seq = int(head[1])
        fields: dict[bytes, Any] = {b"SEQ": seq}
        key = seq
        pos = head.end()
        while True:
            item = _ITEM.match(text, pos)
            if item is None:
                # The answer must end here, with nothing left over.
                if literal is not None or text[pos:] != b")":
                    return None
                break
            name = item[1].upper()
            value: Any
            if item[2] is not None:
                value = int(item[2])
            elif item[3] is not None:
                value = item[3]
            elif item[4] is not None:
                value = None
            elif item[5] is not None:
                value = tuple(_atom(a) for a in item[5].split(b" ") if a)
            else:
                if literal is None or len(literal) != int(item[6]):
                    return None
                value = literal
                following = next(pieces, None)
                if following is None:
                    return None
                text, literal = following if isinstance(following, tuple) else (following, None)
                if not isinstance(text, bytes):
                    return None
                item = None
            if name == b"UID":
                if not isinstance(value, int):
                    return None
                key = value
            elif name == b"INTERNALDATE":
                fields[name] = internaldate(value)
            else:
                fields[name] = value
            pos = 0 if item is None else item.end()
        out.setdefault(key, {}).update(fields)
    return out


def _atom(word: bytes) -> Any:
    return int(word) if word.isdigit() and (word[:1] != b"0" or len(word) == 1) else word


def internaldate(value: Any) -> datetime | None:
    """An INTERNALDATE (``"23-Nov-2026 21:55:26 +0100"``) with its offset; None when unreadable, as imapclient."""
    if not isinstance(value, bytes):
        return None
    plain = _INTERNALDATE.fullmatch(value)
    month = _MONTHS.get(plain[2].lower()) if plain else None
    if plain is not None and month is not None:
        offset = timedelta(hours=int(plain[8]), minutes=int(plain[9]))
        try:
            zone = timezone(-offset if plain[7] == b"-" else offset)
            hour, minute, second = (int(part) for part in plain.group(4, 5, 6))
            return datetime(int(plain[3]), month, int(plain[1]), hour, minute, second, tzinfo=zone)
        except ValueError:
            pass  # an impossible date, or an offset of a day or more: imapclient decides
    try:
        parsed: datetime = parse_to_datetime(value, normalise=False)
        return parsed
    except ValueError:
        return None
