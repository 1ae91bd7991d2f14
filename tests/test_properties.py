"""Property-based tests: the parser and the matcher never raise, and raw bytes are never lost."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from intake.db.models import Message
from intake.decide.matching import candidates, match
from intake.mail.charsets import decode_bytes
from intake.mail.mime import parse
from intake.pipeline.run import ingest
from intake.runtime import Runtime
from intake.store.messages import Source

HEADER_NAMES = st.sampled_from(
    ["Subject", "From", "To", "Reply-To", "Message-ID", "In-Reply-To", "References", "Date",
     "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Auto-Submitted", "X-Weird"]
)
HEADER_VALUES = st.one_of(
    st.binary(max_size=80).filter(lambda b: b"\n" not in b and b"\r" not in b),
    st.sampled_from([
        b"=?utf-8?q?H=C3=B8ring?=", b"=?iso-8859-1?B?SPhyaW5n?=", b"=?bogus?q?x?=", b"multipart/mixed; boundary=",
        b"text/plain; charset=x-unknown", b"base64", b"quoted-printable", b'attachment; filename*=utf-8\'\'%FF%FE',
        b"<a@b> <c@d>", b"\"Kari, Nordmann\" <kari@example.no>", b"<>", b"Mon, 32 Foo 2022 25:61:00 +9999",
    ]),
)
BODIES = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"--\r\n--\r\n", b"begin 644 x\n`\nend\n", b"=\r\n=ZZ=", b"\x00\x01\x02"]),
)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=8))
    head = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers)
    return head + b"\r\n" + draw(BODIES)


@given(st.binary(max_size=2000))
@settings(max_examples=300, deadline=None)
def test_parse_never_raises_on_any_bytes(raw: bytes) -> None:
    parsed = parse(raw)
    assert isinstance(parsed.body_text, str)


@given(messages())
@settings(max_examples=400, deadline=None)
def test_parse_never_raises_on_mail_shaped_bytes(raw: bytes) -> None:
    parsed = parse(raw)
    for part in parsed.attachments:
        assert part.filename and "/" not in part.filename
    assert parsed.subject is None or "\n" not in parsed.subject


@given(st.binary(max_size=500), st.sampled_from([None, "utf-8", "iso-8859-1", "koi8-r", "nonsense", "gb2312"]))
@settings(max_examples=300, deadline=None)
def test_decode_bytes_always_gives_text(data: bytes, charset: str | None) -> None:
    assert isinstance(decode_bytes(data, charset), str)


@given(st.text(max_size=400))
@settings(max_examples=400, deadline=None)
def test_matcher_never_raises(text: str) -> None:
    candidates(text)
    match([("subject", [text]), ("body", [text])], known=lambda c: c == "22/414")


WORDS = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu"), whitelist_characters=" ,.æøåÆØÅ"),
                max_size=40)


@given(WORDS, WORDS, st.sampled_from(["sak", "Saksnummer", "saksnr.", "Deres ref:", "ref."]),
       st.sampled_from(["22/414", "2022/414", "22/00414", "22/414-7"]))
@settings(max_examples=300, deadline=None)
def test_a_case_announced_by_a_case_word_is_always_found(before: str, after: str, word: str, number: str) -> None:
    text = f"{before} {word} {number} {after}"
    result = match([("subject", [text])], known=lambda c: c == "22/414")
    assert result.case == "22/414"


@given(st.binary(min_size=1, max_size=3000))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_raw_bytes_are_never_lost(rt: Runtime, raw: bytes) -> None:
    result = ingest(rt, raw, Source(kind="file"), datetime(2022, 9, 28, tzinfo=UTC))
    with Session(rt.engine) as session:
        message = session.get(Message, result.message_pk)
        assert message is not None
        assert rt.store.read(message.blob) == raw
        assert message.status == "processed", message.last_error
        assert session.exec(select(Message).where(Message.sha256 == message.sha256)).one().id == message.id
