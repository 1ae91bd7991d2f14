"""What other projects' test mail showed: short and header-less files, encoded forwards, mbox
bodies with ``From `` lines, stray base64 characters and Windows paths in file names."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import Session

from intake.cli.main import _messages_in
from intake.mail import mbox
from intake.mail.mime import parse
from intake.pipeline.run import ingest
from intake.review import queries
from intake.review.serialize import submission_json
from intake.runtime import Runtime
from intake.store.messages import Source
from tests.builders import make_email

WHEN = datetime(2022, 9, 28, 8, 0, tzinfo=UTC)


def _shown(rt: Runtime, raw: bytes) -> dict[str, object]:
    result = ingest(rt, raw, Source(kind="file"), WHEN)
    with Session(rt.engine) as session:
        return next(submission_json(session, s) for s in queries.list_submissions(session)
                    if s.id == result.submission_id)


def test_a_short_text_without_header_keeps_its_text() -> None:
    # Before: the lines were taken for junk before a header and the whole text was lost, unflagged.
    parsed = parse(b"Hei, vi slutter oss til forslaget i sak 22/414.\nMvh Kari\n")
    assert parsed.body_text == "Hei, vi slutter oss til forslaget i sak 22/414.\nMvh Kari"
    assert parsed.not_mime == "no mail header: the file is read as plain text"


@pytest.mark.parametrize("raw", [b"", b" \r\n", b"Bare litt tekst"], ids=["empty", "blank", "text"])
def test_a_file_that_is_not_mail_is_unreadable_not_unmatched(rt: Runtime, raw: bytes) -> None:
    shown = _shown(rt, raw)
    assert "unreadable" in shown["flags"]  # type: ignore[operator]
    assert "unmatched" not in shown["flags"]  # type: ignore[operator]


def _encoded_forward() -> bytes:
    inner = make_email(subject="Høringssvar sak 22/414", body="Teksten i det videresendte svaret.",
                       attachments=[("svar.txt", "text/plain", b"Vedlegget i videresendingen.")])
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = "sekretariat@kommune.no", "postmottak@ehelse.no", "Fwd: svar"
    outer.set_content("Videresender svaret under.")
    outer.add_attachment(inner, maintype="message", subtype="rfc822")
    raw = outer.as_bytes()
    assert b"Content-Transfer-Encoding: base64" in raw.split(b"message/rfc822", 1)[1][:200]
    return raw


def test_a_base64_encoded_forward_is_decoded() -> None:
    # Before: the attached message stayed encoded text; its words and its attachment were lost.
    parsed = parse(_encoded_forward())
    assert "Teksten i det videresendte svaret." in parsed.body_text
    assert "Subject: Høringssvar sak 22/414" in parsed.body_text
    assert [a.filename for a in parsed.attachments] == ["Høringssvar sak 22_414.eml", "svar.txt"]


def test_mbox_is_split_only_at_envelope_lines(tmp_path: Path) -> None:
    path = tmp_path / "eksport.mbox"
    with path.open("wb") as out:
        for n in range(2):
            out.write(b"From kari@example.no Mon Sep 26 10:00:00 2022\n")
            out.write(make_email(subject=f"Svar {n}", body="Innledning.\n\nFrom our side: ja.\nFrom 2023 gjelder det."))
            out.write(b"\n")
    found = list(_messages_in(path))
    # Before: every body line starting with "From " began a message of its own (six, not two).
    assert len(found) == mbox.count(path) == 2
    assert [parse(m).subject for m in found] == ["Svar 0", "Svar 1"]
    assert "From our side: ja.\nFrom 2023 gjelder det." in parse(found[0]).body_text


@pytest.mark.parametrize("damage", [lambda b: b[:8] + "!" + b[8:], lambda b: b + "x",
                                    lambda b: b[:12] + "\n " + b[12:] + "x"],
                         ids=["stray-character", "dangling-character", "broken-line-and-dangling"])
def test_base64_with_a_stray_character_is_decoded_leniently(damage) -> None:  # type: ignore[no-untyped-def]
    # 42 bytes: no padding, so a character more is one too many for the last group of four.
    body = base64.b64encode("Høringssvar til sak 22/414 fra Kommunen!!".encode()).decode()
    raw = ("From: kari@example.no\nSubject: Svar\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
           "Content-Transfer-Encoding: base64\n\n" + damage(body) + "\n").encode()
    # Before: one character too many left the whole body as undecoded base64.
    assert parse(raw).body_text == "Høringssvar til sak 22/414 fra Kommunen!!"


@pytest.mark.parametrize("sent", ["C:\\TEMP\\bilde.png", "C:\\Users\\kari\\Documents\\svar.pdf", "/home/kari/svar.pdf"])
def test_a_path_in_a_file_name_keeps_only_its_last_part(sent: str) -> None:
    parsed = parse(make_email(attachments=[(sent, "application/octet-stream", b"data")]))
    # Before: C:\\TEMP\\bilde.png became C_TEMP_bilde.png.
    assert [a.filename for a in parsed.attachments] == [sent.replace("\\", "/").rsplit("/", 1)[-1]]
