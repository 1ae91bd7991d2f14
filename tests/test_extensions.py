"""Extended deadlines (utsatt frist): from the workflow file or granted by an admin, used by late and receipts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from intake import workflows
from intake.config import Settings
from intake.db.engine import session_scope
from intake.db.models import Acknowledgement, AuditLog, Case, DeadlineExtension, Flag, Organisation, Submission
from intake.errors import WorkflowError
from intake.receipts.render import render_receipt
from intake.runtime import Runtime
from tests.conftest import REPO
from tests.consultation import respond
from tests.staff import two_roles  # noqa: F401  (the fixture)
from tests.web_support import login

KS = "Kommunesektorens organisasjon <post@ks.no>"
# 10 October 2022: after the case's deadline (1 October), before KS's (15 October).
BETWEEN = datetime(2022, 10, 10, 9, 0, tzinfo=UTC)
AFTER_BOTH = datetime(2022, 10, 16, 9, 0, tzinfo=UTC)


def _folder(tmp_path: Path, extensions: str) -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir(exist_ok=True)
    text = (REPO / "workflows" / "22-414.yaml").read_text(encoding="utf-8")
    (folder / "22-414.yaml").write_text(text + extensions, encoding="utf-8")
    return folder


@pytest.fixture
def extended(settings_factory: Callable[..., Settings], tmp_path: Path) -> Iterator[Runtime]:
    folder = _folder(tmp_path, '\nextensions:\n  - {organisation: "KS", until: 2022-10-15}\n')
    rt = Runtime.open(settings_factory(workflows={"path": str(folder)}), extract=True)
    with session_scope(rt.engine) as session:
        workflows.sync(session, folder)
    yield rt
    rt.close()


def _sub(rt: Runtime, submission_id: int) -> tuple[Submission, set[str], Acknowledgement]:
    with session_scope(rt.engine) as session:
        sub = session.get(Submission, submission_id)
        assert sub is not None
        flags = {f.name for f in session.exec(select(Flag).where(Flag.submission_id == submission_id,
                                                                 Flag.resolved_at == None))}  # noqa: E711
        ack = session.exec(select(Acknowledgement).where(Acknowledgement.submission_id == submission_id)).one()
        return sub, flags, ack


def test_the_workflows_extension_is_the_organisations_deadline(extended: Runtime) -> None:
    ks = respond(extended, sender=KS, when=BETWEEN)
    other = respond(extended, sender="Datatilsynet <postkasse@datatilsynet.no>", when=BETWEEN)
    late_ks = respond(extended, sender=KS, subject="Tillegg til høringssvar sak 22/414", when=AFTER_BOTH)
    sub, flags, ack = _sub(extended, ks)
    assert not sub.late and "late" not in flags and ack.kind == "on_time"
    sub, flags, ack = _sub(extended, other)
    assert sub.late and "late" in flags and ack.kind == "late"
    sub, flags, ack = _sub(extended, late_ks)
    assert sub.late and ack.kind == "late"
    with session_scope(extended.engine) as session:
        rendered = render_receipt(session, ack, sub, extended.settings.smtp, extended.settings.workflows.path)
        flag = session.exec(select(Flag).where(Flag.submission_id == late_ks, Flag.name == "late")).one()
    # The late receipt and the flag name KS's own deadline, not the case's.
    assert "som var 15.10.2022" in rendered.text
    assert "fristen var 15.10.2022 (utsatt frist)" in (flag.detail or "")


def test_an_extension_added_later_redecides_the_responses(rt: Runtime, tmp_path: Path) -> None:
    ks = respond(rt, sender=KS, when=BETWEEN)
    assert _sub(rt, ks)[0].late
    folder = _folder(tmp_path, '\nextensions:\n  - {organisation: "ks.no", until: 2022-10-15}\n')
    with session_scope(rt.engine) as session:
        workflows.sync(session, folder)
    sub, flags, _ = _sub(rt, ks)
    assert not sub.late and "late" not in flags
    with session_scope(rt.engine) as session:
        row = session.exec(select(DeadlineExtension)).one()
        assert (row.until, row.source) == (date(2022, 10, 15), "workflow")
    # Taken out of the file again, the case's own deadline applies once more.
    with session_scope(rt.engine) as session:
        workflows.sync(session, _folder(tmp_path, ""))
    assert _sub(rt, ks)[0].late


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ('\nextensions:\n  - {organisation: "Ukjent forening", until: 2022-10-15}\n', "neither an invited body"),
        ('\nextensions:\n  - {organisation: "KS", until: 2022-09-15}\n', "before the deadline"),
    ],
)
def test_a_bad_extension_is_reported_by_file_and_line(tmp_path: Path, block: str, message: str) -> None:
    with pytest.raises(WorkflowError, match=message) as caught:
        workflows.load_file(_folder(tmp_path, block) / "22-414.yaml")
    assert str(caught.value).startswith("22-414.yaml: line ")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_admin_grants_an_extension_in_the_review_pages(rt: Runtime, two_roles: TestClient) -> None:  # noqa: F811
    client = two_roles
    ks = respond(rt, sender=KS, when=BETWEEN)
    with session_scope(rt.engine) as session:
        case_id = session.exec(select(Case.id).where(Case.number == "22/414")).one()
        org_id = session.exec(select(Organisation.id).where(Organisation.key == "invited:kommunesektorens organisasjon")
                              ).one()
    form = {"organisation": str(org_id), "until": "2022-10-15", "reason": "Avtalt på telefon"}
    csrf = login(client, "kari")
    assert "Gi utsatt frist" not in client.get(f"/cases/{case_id}").text
    refused = client.post(f"/cases/{case_id}/extensions", data={**form, "csrf_token": csrf})
    assert refused.status_code == 403 and "Dette kan bare en administrator gjøre" in refused.text
    client.post("/logout", data={"csrf_token": csrf})
    csrf = login(client, "anne")
    page = client.post(f"/cases/{case_id}/extensions", data={**form, "csrf_token": csrf})
    assert page.status_code == 200 and "Den utsatte fristen er lagret." in page.text
    assert "15.10.2022" in page.text and "Avtalt på telefon" in page.text
    sub, flags, _ = _sub(rt, ks)
    assert not sub.late and "late" not in flags
    with session_scope(rt.engine) as session:
        entry = session.exec(select(AuditLog).where(AuditLog.action == "case.extension_granted")).one()
        assert entry.actor == "anne" and (entry.detail or {})["changed"] == [ks]
    early = client.post(f"/cases/{case_id}/extensions", data={**form, "until": "2022-09-01", "csrf_token": csrf})
    assert early.status_code == 400 and "før høringsfristen" in early.text


def test_the_deadline_and_both_duplicate_rules_are_read_in_one_statement(extended: Runtime) -> None:
    from sqlalchemy import event

    from intake.pipeline.run import ingest
    from intake.store.messages import Source
    from tests.builders import make_email

    first = respond(extended, sender=KS, when=BETWEEN)
    with session_scope(extended.engine) as session:
        first_id = session.get(Submission, first).message_id  # type: ignore[union-attr]
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *rest: object) -> None:
        statements.append(statement)

    # The same Message-ID under other bytes, from the same organisation, within its own deadline.
    event.listen(extended.engine, "before_cursor_execute", seen)
    again = ingest(extended, make_email(sender=KS, message_id=first_id, body="Rettet utgave."), Source(kind="file"),
                   BETWEEN).submission_id
    event.remove(extended.engine, "before_cursor_execute", seen)
    assert again is not None
    _, flags, _ = _sub(extended, again)
    assert flags == {"duplicate_message", "duplicate_organisation"}
    (lookup,) = [s for s in statements if "deadline_extensions" in s]
    assert "receipt_ref" in lookup and "submissions.message_id" in lookup
