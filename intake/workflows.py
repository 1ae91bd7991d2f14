"""Workflows: one YAML file per case, validated, then synced into the database.

A bad file is reported by its name and line and skipped; the others still load.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from intake.db.audit import record
from intake.db.engine import session_scope
from intake.db.models import Case, Invitation, Organisation, utcnow
from intake.decide.deadlines import sync_extensions
from intake.decide.matching import parse_case
from intake.decide.organisations import invited_key
from intake.errors import WorkflowError

log = logging.getLogger(__name__)


class _Loader(yaml.SafeLoader):
    """Leaves dates as text, so that pydantic validates them and a bad one gets its line."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InvitedBody(_Strict):
    name: str = Field(min_length=1)
    domains: list[str] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)
    # The respondent category the summary counts it under, e.g. «Kommuner» or «Statlige etater».
    category: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("domains")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [d.strip().lower().lstrip("@") for d in value if d.strip()]


class Question(_Strict):
    id: str = Field(min_length=1)
    text: str = Field(min_length=3)
    choices: list[str] = Field(default_factory=list)


class Form(_Strict):
    questions: list[Question] = Field(min_length=1)

    @field_validator("questions")
    @classmethod
    def _unique_ids(cls, value: list[Question]) -> list[Question]:
        ids = [q.id for q in value]
        if len(set(ids)) != len(ids):
            raise ValueError("question ids must be unique")
        return value


class Extension(_Strict):
    """A later deadline (utsatt frist) for one organisation: an invited body's name or alias, or a domain."""

    organisation: str = Field(min_length=1)
    until: date
class ArchiveMetadata(_Strict):
    """What the case's saksmappe says in the archive, where it differs from ``[archive]`` in the config."""

    administrativ_enhet: str | None = Field(default=None, min_length=1)
    saksansvarlig: str | None = Field(default=None, min_length=1)
    saksdato: date | None = None


class Workflow(_Strict):
    case: str
    title: str = Field(min_length=1)
    deadline: date
    timezone: str = "Europe/Oslo"
    language: Literal["nb", "nn", "en"] = "nb"
    invited: list[InvitedBody] = Field(default_factory=list)
    form: Form | None = None
    templates: dict[Literal["on_time", "late", "unmatched"], str] = Field(default_factory=dict)
    extensions: list[Extension] = Field(default_factory=list)
    archive: ArchiveMetadata | None = None

    @model_validator(mode="after")
    def _extensions(self) -> Workflow:
        names = {" ".join(n.casefold().split()) for body in self.invited for n in (body.name, *body.aliases)}
        for extension in self.extensions:
            name = " ".join(extension.organisation.casefold().split())
            if name not in names and "." not in name:
                raise ValueError(f"extensions: {extension.organisation!r} is neither an invited body nor a domain")
            if extension.until < self.deadline:
                raise ValueError(f"extensions: {extension.organisation}: {extension.until} is before the deadline")
        return self

    @field_validator("case", mode="before")
    @classmethod
    def _case(cls, value: Any) -> str:
        case = parse_case(str(value))
        if case is None:
            raise ValueError(f"{value!r} is not a case number like 22/414")
        return case

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r}") from err
        return value


@dataclass
class LoadReport:
    workflows: list[tuple[Path, Workflow]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def load_file(path: Path) -> Workflow:
    """Reads and validates one workflow file; raises WorkflowError naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise WorkflowError(f"{path.name}: cannot read: {err}") from err
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        raise WorkflowError(f"{path.name}: {where}: {getattr(err, 'problem', None) or err}") from err
    if not isinstance(data, dict):
        raise WorkflowError(f"{path.name}: line 1: expected a mapping with case, title, deadline")
    try:
        return Workflow.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = [str(p) for p in first["loc"]]
        line = _line_of(node, list(first["loc"]))
        raise WorkflowError(f"{path.name}: line {line}: {'.'.join(loc) or 'file'}: {first['msg']}") from err


def _line_of(node: Any, loc: list[Any]) -> int:
    """The line of the deepest YAML node along ``loc`` that exists (1-based)."""
    best = node
    for key in loc:
        nxt = None
        if isinstance(best, yaml.MappingNode):
            for k, v in best.value:
                if k.value == key:
                    nxt = v if not isinstance(v, yaml.ScalarNode) else k
                    break
        elif isinstance(best, yaml.SequenceNode) and isinstance(key, int) and key < len(best.value):
            nxt = best.value[key]
        if nxt is None:
            break
        best = nxt
    return int(best.start_mark.line) + 1 if best is not None else 1


def load_folder(folder: Path) -> LoadReport:
    report = LoadReport()
    if not folder.is_dir():
        report.errors.append(f"{folder}: workflows folder not found")
        return report
    seen: dict[str, Path] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            workflow = load_file(path)
        except WorkflowError as err:
            report.errors.append(str(err))
            continue
        if workflow.case in seen:
            other = seen[workflow.case].name
            report.errors.append(f"{path.name}: line 1: case {workflow.case} is also defined in {other}")
            continue
        seen[workflow.case] = path
        report.workflows.append((path, workflow))
    return report


def sync_database(engine: Engine, folder: Path, *, attempts: int = 3) -> LoadReport:
    """Syncs in a transaction of its own; replicas starting at once may race, and the loser retries."""
    for attempt in range(1, attempts + 1):
        try:
            with session_scope(engine) as session:
                return sync(session, folder)
        except IntegrityError:
            if attempt == attempts:
                raise
            log.info("workflows were synced by another process at the same moment; syncing again")
    raise AssertionError("unreachable")


def sync(session: Session, folder: Path) -> LoadReport:
    """Loads every workflow into the database; cases whose file is gone become inactive."""
    report = load_folder(folder)
    for error in report.errors:
        log.error("workflow skipped: %s", error)
    loaded = set()
    for path, workflow in report.workflows:
        _upsert(session, path, workflow)
        loaded.add(workflow.case)
    failed_names = {e.split(":", 1)[0] for e in report.errors}
    for case in session.exec(select(Case).where(Case.active == True)).all():  # noqa: E712
        # A case whose file failed to load keeps its last good version rather than vanishing.
        if case.number not in loaded and Path(case.source_file or "").name not in failed_names:
            case.active = False
            session.add(case)
            record(session, "case.deactivated", "case", case.id, {"number": case.number})
    session.flush()
    return report


def _upsert(session: Session, path: Path, workflow: Workflow) -> Case:
    case = session.exec(select(Case).where(Case.number == workflow.case)).first()
    values: dict[str, Any] = {
        "title": workflow.title,
        "deadline": workflow.deadline,
        "timezone": workflow.timezone,
        "language": workflow.language,
        "form": workflow.form.model_dump() if workflow.form else None,
        "templates": dict(workflow.templates) or None,
        "archive": (workflow.archive.model_dump(mode="json", exclude_none=True) or None) if workflow.archive else None,
        "source_file": str(path),
        "active": True,
    }
    if case is None:
        case = Case(number=workflow.case, **values)
        session.add(case)
        session.flush()
        record(session, "case.created", "case", case.id, {"number": case.number, "file": path.name})
    else:
        changed = {k: v for k, v in values.items() if getattr(case, k) != v}
        if changed:
            for key, value in changed.items():
                setattr(case, key, value)
            session.add(case)
            record(session, "case.updated", "case", case.id, {"number": case.number, "fields": sorted(changed)})
    case.synced_at = utcnow()
    session.add(case)
    session.flush()
    _sync_invited(session, case, workflow.invited)
    sync_extensions(session, case, workflow.extensions, workflow.invited)
    return case


def _sync_invited(session: Session, case: Case, bodies: list[InvitedBody]) -> None:
    assert case.id is not None
    wanted: dict[int, str | None] = {}
    for body in bodies:
        key = invited_key(body.name)
        org = session.exec(select(Organisation).where(Organisation.key == key)).first()
        domains = sorted(set(body.domains))
        if org is None:
            org = Organisation(key=key, name=body.name, kind="invited", domains=domains)
            session.add(org)
            session.flush()
        elif sorted(set(org.domains or []) | set(domains)) != sorted(org.domains or []):
            org.domains = sorted(set(org.domains or []) | set(domains))
            session.add(org)
            session.flush()
        assert org.id is not None
        wanted[org.id] = body.category
    existing = session.exec(select(Invitation).where(Invitation.case_id == case.id)).all()
    have = {inv.organisation_id for inv in existing}
    for inv in existing:
        if inv.organisation_id not in wanted:
            session.delete(inv)
        elif inv.category != wanted[inv.organisation_id]:
            inv.category = wanted[inv.organisation_id]
            session.add(inv)
    for org_id in sorted(set(wanted) - have):
        session.add(Invitation(case_id=case.id, organisation_id=org_id, category=wanted[org_id]))
    session.flush()
