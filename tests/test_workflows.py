"""Workflows: the shipped cases load; a bad file is reported by name and line; sync is idempotent."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from intake import workflows
from intake.db.engine import session_scope
from intake.db.models import AuditLog, Case, Invitation
from tests.conftest import REPO

SHIPPED = REPO / "workflows"


def test_shipped_workflows_are_the_two_real_consultations() -> None:
    report = workflows.load_folder(SHIPPED)
    assert report.errors == []
    by_case = {w.case: w for _, w in report.workflows}
    assert set(by_case) == {"22/414", "21/761"}
    strategy = by_case["22/414"]
    assert strategy.title == "Nasjonal e-helsestrategi for helse- og omsorgssektoren"
    assert strategy.deadline == date(2022, 10, 1)
    assert len(strategy.invited) == 94
    assert strategy.form is not None
    assert [q.id for q in strategy.form.questions] == ["q1", "q2", "q3", "q4"]
    assert strategy.form.questions[0].choices == ["Ja", "Nei", "Vet ikke"]
    governance = by_case["21/761"]
    assert governance.deadline == date(2022, 4, 11)
    assert len(governance.invited) == 98
    assert governance.form is None
    names = {body.name for body in strategy.invited}
    assert {"Statens legemiddelverk", "Helsedirektoratet", "Datatilsynet", "Sametinget"} <= names


def test_bad_file_is_reported_by_name_and_line_and_the_others_load(tmp_path: Path) -> None:
    shutil.copy(SHIPPED / "22-414.yaml", tmp_path / "22-414.yaml")
    (tmp_path / "broken.yaml").write_text('case: "23/1"\ntitle: x\ndeadline: 2023-02-30\n')
    (tmp_path / "syntax.yaml").write_text('case: "23/2"\ntitle: [unclosed\n')
    (tmp_path / "unknown.yaml").write_text('case: "23/3"\ntitle: x\ndeadline: 2023-01-01\ncolour: red\n')
    (tmp_path / "notacase.yaml").write_text('case: "hello"\ntitle: x\ndeadline: 2023-01-01\n')
    report = workflows.load_folder(tmp_path)
    assert [w.case for _, w in report.workflows] == ["22/414"]
    errors = sorted(report.errors)
    assert errors[0].startswith("broken.yaml: line 3: deadline:")
    assert errors[1].startswith("notacase.yaml: line 1: case:")
    assert errors[2].startswith("syntax.yaml: line ")
    assert errors[3].startswith("unknown.yaml: line 4: colour:")


def test_sync_twice_changes_nothing_and_removal_deactivates(engine: Engine, tmp_path: Path) -> None:
    for name in ("22-414.yaml", "21-761.yaml"):
        shutil.copy(SHIPPED / name, tmp_path / name)
    with session_scope(engine) as session:
        workflows.sync(session, tmp_path)
    with session_scope(engine) as session:
        workflows.sync(session, tmp_path)
    with Session(engine) as session:
        assert len(session.exec(select(Case)).all()) == 2
        assert len(session.exec(select(AuditLog).where(AuditLog.action == "case.updated")).all()) == 0
        strategy = session.exec(select(Case).where(Case.number == "22/414")).one()
        assert len(session.exec(select(Invitation).where(Invitation.case_id == strategy.id)).all()) == 94
    (tmp_path / "21-761.yaml").unlink()
    with session_scope(engine) as session:
        workflows.sync(session, tmp_path)
    with Session(engine) as session:
        active = {c.number: c.active for c in session.exec(select(Case)).all()}
        assert active == {"22/414": True, "21/761": False}
