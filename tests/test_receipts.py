"""Receipt templates, formatting, sanitising and the decision who gets no receipt."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from intake import workflows
from intake.config import Settings
from intake.db.engine import session_scope
from intake.db.models import Case
from intake.errors import TemplateError
from intake.receipts.compose import sanitise_subject, valid_address
from intake.receipts.outbox import deliver_due
from intake.receipts.plan import KINDS, LANGUAGES, is_own_address, is_robot_address
from intake.receipts.render import NO_CASE_KINDS, format_date, format_time, human_size, pronouns, render
from intake.receipts.transport import smtp_data
from intake.runtime import Runtime
from tests.builders import make_email
from tests.receipt_helpers import RuntimeFactory, acks, ingest_one, make_rt  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parent.parent
ON_TIME = datetime(2022, 9, 28, 8, 15, tzinfo=UTC)


def context(language: str, *, case: bool = True, attachments: bool = True, kind: str = "on_time",
            person: bool = False) -> dict[str, Any]:
    return {
        "language": language,
        "kind": kind,
        "person": person,
        "late": kind == "late",
        "you": pronouns(language, person),
        "cases_found": [{"number": "22/414", "title": "Nasjonal e-helsestrategi for helse- og omsorgssektoren"},
                        {"number": "21/761", "title": "Nasjonal styringsmodell for e-helse"}],
        "numbers_unknown": ["23/999"],
        "open_cases": [{"number": "22/414", "title": "Nasjonal e-helsestrategi for helse- og omsorgssektoren",
                        "deadline": format_date(date(2022, 10, 1), language)}] if not case else [],
        "unreadable": ["svar <b>.pdf"] if kind == "unreadable" else [],
        "case": {"number": "22/414", "title": "Nasjonal e-helsestrategi for helse- og omsorgssektoren",
                 "deadline": format_date(date(2022, 10, 1), language)} if case else None,
        "received": format_time(ON_TIME, language),
        "subject": "Høringssvar <script>alert(1)</script> & sak 22/414",
        "sender_name": None,
        "attachments": [{"name": "svar <b>.pdf", "size": human_size(48213, language)}] if attachments else [],
        "more_attachments": 0,
        "attachment_count": 1 if attachments else 0,
        "receipt_ref": "K-0123456789",
        "agency": {"name": "Direktoratet for e-helse", "address": "postmottak@ehelse.no",
                   "contact": "postmottak@ehelse.no"},
    }


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_template_renders_in_every_language(kind: str, language: str) -> None:
    for attachments in (True, False):
        # The receipt of an unmatched message names no file; the context then holds only the count.
        shown = attachments and kind not in NO_CASE_KINDS
        rendered = render(context(language, case=kind not in NO_CASE_KINDS, attachments=shown, kind=kind), kind,
                          language)
        assert rendered.subject.startswith("Receipt: " if language == "en" else "Kvittering: ")
        assert "\n" not in rendered.subject
        assert "K-0123456789" in rendered.text and "K-0123456789" in rendered.html
        # Only the HTML is escaped: the text shows exactly what the sender wrote (the receipt of an
        # unmatched message repeats none of it).
        assert ("<script>" in rendered.text) is (kind not in NO_CASE_KINDS) and "<script>" not in rendered.html
        assert ("&lt;script&gt;" in rendered.html and "svar &lt;b&gt;.pdf" in rendered.html) or not shown
        assert rendered.html.lstrip().startswith("<!DOCTYPE html>") and f'lang="{language}"' in rendered.html
        assert "{{" not in rendered.text and "{%" not in rendered.html


def test_undefined_names_are_errors_not_blanks() -> None:
    broken = context("nb")
    del broken["receipt_ref"]
    with pytest.raises(TemplateError, match="receipt_ref"):
        render(broken, "on_time", "nb")


def test_oslo_time_and_sizes() -> None:
    # One date format in every language: dd.mm.yyyy.
    assert format_time(datetime(2022, 9, 28, 8, 15, tzinfo=UTC), "nb") == "28.09.2022 kl. 10:15"
    assert format_time(datetime(2022, 12, 1, 8, 5, tzinfo=UTC), "nn") == "01.12.2022 kl. 09:05"
    assert format_time(datetime(2022, 12, 1, 8, 5, tzinfo=UTC), "en") == "01.12.2022 at 09:05"
    assert [human_size(n, "nb") for n in (812, 48213, 2_400_000)] == ["812 byte", "47,1 kB", "2,3 MB"]
    assert human_size(48213, "en") == "47.1 kB"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=?utf-8?q?H=C3=B8ringssvar=0D=0ABcc:_x@evil.example?=", "Høringssvar Bcc: x@evil.example"),
        ("Svar\r\nBcc: x@evil.example", "Svar Bcc: x@evil.example"),
        ("=?utf-8?b?PT91dGYtOD9xP0hlaT0wRD0wQUJjYzpfeUBldmlsLmV4YW1wbGU/PQ==?=", "Hei Bcc: y@evil.example"),
        ("Tab\there\u2028line\x00", "Tab here line"),
        ("SV: Høringssvar =?iso-8859-1?q?p=E5?= =?iso-8859-1?q?_sak?= 22/414", "SV: Høringssvar på sak 22/414"),
        ("=?bogus-charset?q?abc?=", "= ?bogus-charset?q?abc?= "[:-1]),
        ("x" * 500, "x" * 199 + "…"),
        (None, ""),
    ],
)
def test_subject_is_one_harmless_line(raw: str | None, expected: str) -> None:
    assert sanitise_subject(raw) == expected


def test_addresses_and_robots() -> None:
    assert valid_address("post@legemiddelverket.no")
    for bad in ("a@b", "a b@c.no", "a@b.no>, c@d.no", "<a@b.no>", "a@b.no\r\nBcc: c@d.no", "a..b@c.no"):
        assert not valid_address(bad), bad
    for robot in ("MAILER-DAEMON@mx.example.no", "postmaster@kommune.no", "noreply@firma.no", "no-reply@firma.no",
                  "do_not_reply@firma.no", "DoNotReply@firma.no", "nyhetsbrev-bounces@lists.example.no",
                  "list+bounce-123@lists.example.no", "no.reply.varsel@nav.no"):
        assert is_robot_address(robot), robot
    for person in ("kari.nordmann@firma.no", "post@legemiddelverket.no", "replyhandler@firma.no"):
        assert not is_robot_address(person), person
    own = {"postmottak@ehelse.no", "@direktoratet.example"}
    assert is_own_address("Postmottak@ehelse.no", own) and is_own_address("x@direktoratet.example", own)
    assert not is_own_address("post@helsedir.no", own)


def test_dots_at_line_starts_are_doubled_for_smtp() -> None:
    assert smtp_data(b"a\r\n.\r\n..b\nc") == b"a\r\n..\r\n...b\r\nc\r\n"


def test_own_and_robot_senders_get_no_receipt(make_rt: RuntimeFactory) -> None:  # noqa: F811
    rt = make_rt(host="")
    ingest_one(rt, make_email(sender="Postmottak <postmottak@ehelse.no>"), ON_TIME)
    ingest_one(rt, make_email(sender="Varsel <no-reply@system.example.no>"), ON_TIME)
    ingest_one(rt, make_email(sender="Kari <kari@ehelse.no>", headers={"Reply-To": "postmottak@ehelse.no"}), ON_TIME)
    reasons = [a.reason or "" for a in acks(rt)]
    assert [a.status for a in acks(rt)] == ["suppressed"] * 3
    assert "vår egen adresse" in reasons[0] and "maskinadresse" in reasons[1] and "vår egen adresse" in reasons[2]
    assert deliver_due(rt).sent == 0


def test_a_workflow_can_name_its_own_template(
    settings_factory: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    yaml = (REPO / "workflows" / "22-414.yaml").read_text(encoding="utf-8")
    (folder / "22-414.yaml").write_text(yaml + 'templates:\n  on_time: "22-414/kvittering.txt.j2"\n', encoding="utf-8")
    (folder / "22-414").mkdir()
    (folder / "22-414" / "kvittering.txt.j2").write_text(
        '{% set receipt_subject %}Takk for svaret i sak {{ case.number }}{% endset %}'
        "Takk for høringssvaret, {{ subject }}. Referanse: {{ receipt_ref }}\n", encoding="utf-8")
    settings: Settings = settings_factory(workflows={"path": str(folder)}, smtp={"host": ""})
    rt = Runtime.open(settings, extract=False)
    try:
        with session_scope(rt.engine) as session:
            workflows.sync(session, folder)
            assert session.exec(select(Case.templates)).one() == {"on_time": "22-414/kvittering.txt.j2"}
        ingest_one(rt, make_email(subject="Svar <fra> oss, sak 22/414"), ON_TIME)
        assert deliver_due(rt).sent == 1
        (eml,) = settings.smtp.outbox_path.glob("*.eml")
        from email import message_from_bytes, policy

        msg = message_from_bytes(eml.read_bytes(), policy=policy.default)
        assert msg["Subject"] == "Takk for svaret i sak 22/414"
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert "Takk for høringssvaret, Svar <fra> oss, sak 22/414." in text
        assert "Svar &lt;fra&gt; oss" in html  # the text shown in the shared layout, escaped
    finally:
        rt.close()
        shutil.rmtree(folder)


PIECES = [*"aø =?_Qq:\r\n\t<>@,.B\u2028\x00", "=0D=0A", "Bcc: x@y.no", "=?utf-8?q?", "?="]


@settings(max_examples=150, deadline=None)
@given(subject=st.lists(st.sampled_from(PIECES), max_size=40).map("".join), encode=st.booleans())
def test_no_subject_can_add_a_header_or_a_recipient(subject: str, encode: bool) -> None:
    from email import message_from_bytes, policy
    from email.header import Header

    from intake.receipts.compose import build_receipt

    if encode:
        subject = Header(subject, "utf-8").encode()
    envelope = build_receipt(from_address="postmottak@ehelse.no", from_name="Postmottak", recipient="a@b.no",
                             message_id="<k@ehelse.no>", in_reply_to="<o@b.no>", subject="Kvittering: " + subject,
                             text="t", html="<p>t</p>", date=datetime(2022, 9, 28, tzinfo=UTC))
    msg = message_from_bytes(envelope.data, policy=policy.default)
    assert {k.lower() for k in msg} == {"from", "to", "subject", "date", "message-id", "in-reply-to", "references",
                                        "auto-submitted", "x-auto-response-suppress", "precedence", "mime-version",
                                        "content-type"}
    assert msg["To"] == "a@b.no" and envelope.recipient == "a@b.no"
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]


LINES = ["Hei,", "", ".", ".. to", "From oss", "slutt med mellomrom   ", "æøå ÆØÅ «sitat» – €", "=3D", "--",
         "x" * 200, "\t tab", "--=_kvittering_boundary"]


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(st.sampled_from(LINES), max_size=30), name=st.sampled_from(
    ["Postmottak", 'Direktoratet "for" e-helse', "Helse\\direktoratet", "Direktoratet for e-helse «Ø»", "",
     "Postmottak 🦉"]),
       subject=st.one_of(st.just("Kvittering: æøå " * 12), st.text(max_size=300)))
def test_a_receipt_carries_its_texts_exactly_in_short_lines(lines: list[str], name: str, subject: str) -> None:
    from email import message_from_bytes, policy

    from intake.receipts.compose import build_receipt, sanitise_subject

    text = "\n".join(lines) + "\n"
    html = "<p>" + "<br>\n".join(lines) + "</p>\n"
    envelope = build_receipt(from_address="postmottak@ehelse.no", from_name=name, recipient="a@b.no",
                             message_id="<k@ehelse.no>", in_reply_to="<o@b.no>", subject=subject,
                             text=text, html=html, date=datetime(2022, 9, 28, tzinfo=UTC),
                             references=[f"<ref{n}.abcdefghij@eksempel.no>" for n in range(20)])
    assert all(len(line) <= 78 for line in envelope.data.split(b"\r\n"))
    assert b"\n" not in envelope.data.replace(b"\r\n", b"")
    msg = message_from_bytes(envelope.data, policy=policy.default)
    assert not msg.defects and all(not part.defects for part in msg.walk())
    (sender,) = msg["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (name, "postmottak@ehelse.no")
    assert msg["Subject"] == sanitise_subject(subject)
    assert str(msg["References"]).split()[-1] == "<o@b.no>"
    plain = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    shown = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert plain.replace("\r\n", "\n") == text and shown.replace("\r\n", "\n") == html
