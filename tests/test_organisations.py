"""Who a sender speaks for, on both databases: invited bodies by domain, name and invitation; else domain or person."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from intake import workflows
from intake.db.engine import session_scope
from intake.db.models import Case
from intake.decide import organisations

# Two consultations whose invited bodies share domains, as the statsforvaltere share statsforvalteren.no.
FIRST = """\
case: "30/1"
title: Første høring
deadline: 2030-01-01
invited:
  - {name: "Statsforvalteren i Agder", domains: [statsforvalteren.no]}
  - {name: "Statsforvalteren i Rogaland", domains: [statsforvalteren.no]}
  - {name: "Helse Vest", domains: [helse-vest.no]}
  - {name: "Helse Vest IKT", domains: [ikt.helse-vest.no]}
"""
SECOND = """\
case: "30/2"
title: Andre høring
deadline: 2030-01-01
invited:
  - {name: "Statsforvalteren i Rogaland", domains: [statsforvalteren.no]}
  - {name: "Datatilsynet", domains: [datatilsynet.no]}
"""


@pytest.fixture
def cases(engine: Engine, tmp_path: Path) -> dict[str, int]:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "30-1.yaml").write_text(FIRST, encoding="utf-8")
    (folder / "30-2.yaml").write_text(SECOND, encoding="utf-8")
    with session_scope(engine) as session:
        assert workflows.sync(session, folder).errors == []
        return {c.number: c.id for c in session.exec(select(Case)).all() if c.id is not None}


def _resolve(engine: Engine, sender: str, name: str | None, case_id: int | None) -> tuple[str, str] | None:
    with session_scope(engine) as session:
        org = organisations.resolve(session, sender=sender, sender_name=name, case_id=case_id)
        return None if org is None else (org.kind, org.name)


@pytest.mark.parametrize(
    ("sender", "name", "case", "expected"),
    [
        # The display name decides among bodies sharing a domain, even one not invited to the case...
        ("post@statsforvalteren.no", "Statsforvalteren i Agder", "30/2", ("invited", "Statsforvalteren i Agder")),
        # ... also when it is only part of the body's name.
        ("ola@statsforvalteren.no", "Rogaland", "30/1", ("invited", "Statsforvalteren i Rogaland")),
        # Without a telling name, the one body invited to this case.
        ("ola@statsforvalteren.no", "Ola Nordmann", "30/2", ("invited", "Statsforvalteren i Rogaland")),
        # Both invited and neither named: the body with the most specific domain.
        ("kari@ikt.helse-vest.no", "Kari", "30/1", ("invited", "Helse Vest IKT")),
        # A subdomain belongs to the body of its parent domain; a parent never to a subdomain's body.
        ("kari@helse-vest.no", "Kari", "30/1", ("invited", "Helse Vest")),
        ("per@sub.datatilsynet.no", None, "30/2", ("invited", "Datatilsynet")),
        ("per@sub.datatilsynet.no", None, None, ("invited", "Datatilsynet")),
        # Not invited: the domain, or for a public mail provider the person.
        ("per@firma.no", "Per", "30/1", ("domain", "firma.no")),
        ("kari.nordmann@gmail.com", "Kari Nordmann", "30/1", ("person", "Kari Nordmann")),
    ],
)
def test_sender_resolves_to(
    engine: Engine, cases: dict[str, int], sender: str, name: str | None, case: str | None,
    expected: tuple[str, str],
) -> None:
    assert _resolve(engine, sender, name, cases[case] if case else None) == expected


def test_no_usable_address_has_no_organisation(engine: Engine, cases: dict[str, int]) -> None:
    assert _resolve(engine, "", "Noen", cases["30/1"]) is None
    assert _resolve(engine, "ikke-en-adresse", "Noen", cases["30/1"]) is None


def test_a_domain_is_created_once_and_found_again(engine: Engine, cases: dict[str, int]) -> None:
    with session_scope(engine) as session:
        first = organisations.resolve(session, sender="a@firma.no", sender_name="A", case_id=None)
    with Session(engine) as session:
        again = organisations.resolve(session, sender="b@firma.no", sender_name="B", case_id=None)
    assert first is not None and again is not None and first.id == again.id
