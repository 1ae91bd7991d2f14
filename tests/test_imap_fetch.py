"""The poller's own reading of FETCH answers gives exactly what imapclient's parser gives."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imapclient.response_parser import parse_fetch_response

from intake.sources.imap_fetch import FETCH_ITEMS, _read_plain, fetch_batch, internaldate, read_fetch, uid_set
from tests.builders import make_email
from tests.dovecot import Dovecot

Literal = tuple[str, bytes]  # a value sent as a literal: ("literal", bytes)


def imaplib_data(answers: list[tuple[int, list[tuple[bytes, bytes | Literal]]]]) -> list[Any]:
    """The list imaplib hands over for these untagged FETCH answers: each line up to a literal is
    paired with the literal, and what follows the last literal is a line of its own."""
    data: list[Any] = []
    for seq, items in answers:
        line = f"{seq} (".encode()
        for i, (name, value) in enumerate(items):
            line += (b" " if i else b"") + name + b" "
            if isinstance(value, tuple):
                data.append((line + b"{%d}" % len(value[1]), value[1]))
                line = b""
            else:
                line += value
        data.append(line + b")")
    return data


def comparable(answer: dict[int, dict[bytes, Any]]) -> dict[int, dict[bytes, Any]]:
    """Datetimes with their offset, so that the same instant at another offset does not pass."""
    return {
        key: {name: (v, v.utcoffset()) if isinstance(v, datetime) else v for name, v in fields.items()}
        for key, fields in answer.items()
    }


def imapclient_reads(data: list[Any]) -> dict[int, dict[bytes, Any]]:
    return dict(parse_fetch_response(data, normalise_times=False, uid_is_key=True))


MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
DATES = st.builds(
    lambda day, month, year, h, m, s, sign, oh, om, pad: (
        f'"{day:{" 2" if pad else ""}d}-{month}-{year} {h:02d}:{m:02d}:{s:02d} {sign}{oh:02d}{om:02d}"'.encode()
    ),
    st.integers(1, 31), st.sampled_from([*MONTHS, "jan", "NOV", "Foo"]), st.integers(1970, 2100),
    st.integers(0, 23), st.integers(0, 59), st.integers(0, 60), st.sampled_from("+-"), st.integers(0, 14),
    st.sampled_from([0, 30, 45]), st.booleans(),
)
BODIES = st.one_of(
    st.binary(max_size=200).map(lambda b: ("literal", b)),
    st.sampled_from([b"NIL", b'"short body"', b'""']),
)
FLAGS = st.lists(st.sampled_from([b"\\Seen", b"\\Recent", b"\\Flagged", b"$Forwarded", b"Junk", b"7", b"07"]),
                 max_size=4).map(lambda f: b"(" + b" ".join(f) + b")")
NAME_CASE = st.sampled_from([bytes.upper, bytes.lower, lambda b: b])


@st.composite
def plain_answer(draw: st.DrawFn, seq: int) -> tuple[int, list[tuple[bytes, bytes | Literal]]]:
    """One message's answer in the shape the fast path reads: our three items and the UID, in
    any order and case, sometimes with FLAGS, sometimes an item missing or NIL."""
    items: list[tuple[bytes, bytes | Literal]] = [
        (b"UID", str(draw(st.integers(1, 2**32 - 1))).encode()),
        (b"INTERNALDATE", draw(st.one_of(DATES, st.just(b"NIL")))),
        (b"RFC822.SIZE", str(draw(st.integers(0, 10**9))).encode()),
        (b"BODY[]", draw(BODIES)),
    ]
    if draw(st.booleans()):
        items.append((b"FLAGS", draw(FLAGS)))
    items = draw(st.permutations(items))
    if draw(st.integers(0, 9)) == 0:
        items = items[1:]
    case = draw(NAME_CASE)
    return seq, [(case(name), value) for name, value in items]


@st.composite
def plain_answers(draw: st.DrawFn) -> list[tuple[int, list[tuple[bytes, bytes | Literal]]]]:
    count = draw(st.integers(0, 5))
    return [draw(plain_answer(draw(st.integers(1, 10**6)))) for _ in range(count)]


@settings(max_examples=400, deadline=None)
@given(plain_answers())
def test_the_fast_path_reads_plain_answers_as_imapclient_does(answers: list[Any]) -> None:
    data = imaplib_data(answers) or [None]
    assert data == [None] or _read_plain(data) is not None, "the fast path gave up on a plain answer"
    assert comparable(read_fetch(data)) == comparable(imapclient_reads(data))


# Values outside the fast path's shape: each must go to imapclient's parser and come out the same.
ODD_ITEMS: list[tuple[bytes, bytes | Literal]] = [
    (b"MODSEQ", b"(12345)"),
    (b"X-GM-LABELS", b'("\\\\Inbox" Junk)'),
    (b"BODY[]", b'"a \\" quote"'),
    (b"BODY[]<0>", ("literal", b"partial")),
    (b"RFC822.SIZE", b"0389"),
    (b"INTERNALDATE", b'"Mon, 23 Nov 2026 21:55:26 +0100"'),
    (b"FLAGS", b"(\\Seen (nested))"),
    (b"ENVELOPE", b'(NIL "subject" NIL NIL NIL NIL NIL NIL NIL NIL)'),
    (b"X-ATOM", b"SOMEATOM"),
    (b"BODY[]", b"nil"),
]


@settings(max_examples=200, deadline=None)
@given(plain_answers(), st.sampled_from(ODD_ITEMS), st.data())
def test_anything_else_is_read_by_imapclients_parser(answers: list[Any], odd: Any, data: st.DataObject) -> None:
    answers = answers or [(1, [(b"UID", b"9")])]
    where = data.draw(st.integers(0, len(answers) - 1))
    seq, items = answers[where]
    answers[where] = (seq, [*items, odd])
    raw = imaplib_data(answers)
    assert comparable(read_fetch(raw)) == comparable(imapclient_reads(raw))


def test_a_plain_answer_from_each_kind_of_server() -> None:
    # Dovecot puts UID first; Exchange puts the body first and the UID after the literal;
    # Gmail answers with FLAGS it was not asked for.
    dovecot = [(b'1 (UID 7 INTERNALDATE "23-Nov-2026 21:55:26 +0100" RFC822.SIZE 5 BODY[] {5}', b"Hei\r\n"), b")"]
    exchange = [(b"4 (BODY[] {5}", b"Hei\r\n"), b' UID 7 INTERNALDATE " 3-Nov-2026 09:05:00 -0500" RFC822.SIZE 5)']
    gmail = [(b'2 (UID 7 RFC822.SIZE 5 INTERNALDATE "23-Nov-2026 21:55:26 +0000" FLAGS (\\Seen) BODY[] {5}',
              b"Hei\r\n"), b")"]
    for data in (dovecot, exchange, gmail):
        assert _read_plain(data) is not None
        assert comparable(read_fetch(data)) == comparable(imapclient_reads(data))
    assert read_fetch(exchange)[7][b"BODY[]"] == b"Hei\r\n"
    assert read_fetch(exchange)[7][b"INTERNALDATE"].isoformat() == "2026-11-03T09:05:00-05:00"


def test_an_unsolicited_answer_about_the_same_message_is_merged() -> None:
    data = [b"3 (FLAGS (\\Seen))", (b"3 (UID 9 BODY[] {2}", b"ok"), b")"]
    assert read_fetch(data) == imapclient_reads(data) == {3: {b"SEQ": 3, b"FLAGS": (b"\\Seen",)},
                                                          9: {b"SEQ": 3, b"BODY[]": b"ok"}}


def test_internaldate_matches_imapclient_where_the_fast_reading_cannot_decide() -> None:
    assert internaldate(b"31-Feb-2026 00:00:00 +0000") is None
    assert internaldate(b"NIL") is None and internaldate(None) is None
    assert internaldate(b"1-Jan-2026 10:00:00 +2500") is not None  # a day's offset: imapclient reads it


@given(st.lists(st.integers(1, 500), max_size=60))
def test_uid_set_names_exactly_the_uids(uids: list[int]) -> None:
    named: set[int] = set()
    text = uid_set(uids)
    for part in text.split(",") if text else []:
        low, _, high = part.partition(":")
        named.update(range(int(low), int(high or low) + 1))
    assert named == set(uids)
    assert uid_set([5, 1, 2, 3, 9, 10]) == "1:3,5,9:10"


def test_fetch_batch_gives_what_imapclient_gives_from_a_real_server(dovecot: Dovecot, imap_user: str) -> None:
    raws = [
        make_email(message_id="<a@example.no>", body="Kort svar."),
        make_email(message_id="<b@example.no>", body="Høringssvar med æøå og en parentes til slutt)"),
        make_email(message_id="<c@example.no>", body="x" * 70_000),
        make_email(message_id="<d@example.no>", body="Slettes."),
        make_email(message_id="<e@example.no>", body=""),
    ]
    dovecot.append_many(raws, user=imap_user)
    with dovecot.client(imap_user) as client:
        client.select_folder("INBOX")
        uids = sorted(client.search("ALL"))
        client.add_flags(uids[:2], [b"\\Flagged"])
        client.delete_messages([uids[3]])
        client.expunge()
        client.normalise_times = False  # as the poller's connection has it
        wanted = [*uids, uids[-1] + 50]  # an expunged UID and one never given out
        ours, theirs = fetch_batch(client, wanted), client.fetch(wanted, FETCH_ITEMS)
        assert comparable(ours) == comparable(theirs)
        assert sorted(ours) == [uids[0], uids[1], uids[2], uids[4]]
        assert [ours[uid][b"BODY[]"].replace(b"\r\n", b"\n") for uid in sorted(ours)] == [
            raws[i].replace(b"\r\n", b"\n") for i in (0, 1, 2, 4)
        ]
        assert fetch_batch(client, []) == {}


def test_a_refused_fetch_is_an_imap_error(dovecot: Dovecot, imap_user: str) -> None:
    from imapclient.exceptions import IMAPClientError

    dovecot.append_many([make_email(message_id="<a@example.no>")], user=imap_user)
    with dovecot.client(imap_user) as client, pytest.raises(IMAPClientError):
        fetch_batch(client, [1])  # no folder selected


def test_a_large_body_is_written_to_the_store_as_it_comes_and_a_small_one_is_read(
    dovecot: Dovecot, imap_user: str, tmp_path: Path
) -> None:
    from intake.mail.large import MAPPED_MESSAGE, Mapped
    from intake.store.raw import RawStore

    raws = [make_email(message_id="<a@example.no>", body="Kort svar."),
            make_email(message_id="<b@example.no>", body="x" * MAPPED_MESSAGE)]
    dovecot.append_many(raws, user=imap_user)
    store = RawStore(tmp_path / "store")
    with dovecot.client(imap_user) as client:
        client.select_folder("INBOX")
        client.normalise_times = False
        uids = sorted(client.search("ALL"))
        ours, theirs = fetch_batch(client, uids, store.spool), client.fetch(uids, FETCH_ITEMS)
    small, large = (ours[uid][b"BODY[]"] for uid in uids)
    assert type(small) is bytes and isinstance(large, Mapped)
    assert comparable({u: {**f, b"BODY[]": bytes(f[b"BODY[]"])} for u, f in ours.items()}) == comparable(theirs)
    (spooled,) = (store.root / "incoming").iterdir()
    # Stored: moved into place under its content's name, read back the same.
    stored = store.put_batch([small, large])
    assert stored[1][0] == hashlib.sha256(theirs[uids[1]][b"BODY[]"]).hexdigest()
    assert store.read(stored[1][1]) == theirs[uids[1]][b"BODY[]"] and not spooled.exists()
    # A spooled body that is never stored (a poll cut short) does not stay behind.
    with dovecot.client(imap_user) as client:
        client.select_folder("INBOX")
        again = fetch_batch(client, uids[1:], store.spool)
    assert len(list((store.root / "incoming").iterdir())) == 1
    del again
    assert list((store.root / "incoming").iterdir()) == []
