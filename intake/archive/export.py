"""Exports submissions as archive packages into a folder: one package per submission, each once per version.

For each submission: take its named lock (so two processes never build the same
package), claim the row, build the package outside any transaction (conversions
take seconds), put it in place, and only then mark it written. A submission whose
package in that folder is already its current version is left alone without
taking its lock. One package that fails does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, col, select

from intake.archive import records
from intake.archive.arkivmelding import Agency, Export, build
from intake.archive.documents import Document, plan
from intake.archive.facts import PackageFacts, fingerprint, load_facts
from intake.archive.package import MANIFEST, PackageError, PackageFolder
from intake.archive.render import mail_html
from intake.archive.renditions import PackageFiles, Sources
from intake.db.engine import session_scope
from intake.db.locks import named_lock
from intake.db.models import Attachment, AuditLog, Case, Flag, Message, Submission, utcnow
from intake.decide.pii import find_identity_numbers
from intake.errors import IntakeError, StorageError
from intake.extract import InProcessExtractor, Limits, read_form
from intake.extract.base import Extractor
from intake.localtime import oslo, oslo_day
from intake.runtime import Runtime

log = logging.getLogger(__name__)
BATCH = 500
# Flags that mean "not a response": an auto-reply or bounce is not registered in the archive.
NOT_RESPONSES = ("auto_reply",)


class ArchiveError(IntakeError):
    """An export cannot run as asked; the message is for the person who asked."""


@dataclass(frozen=True)
class Outcome:
    """What became of one submission: written, unchanged, busy (another process has it), failed, or skipped."""

    submission_id: int
    status: str
    path: str | None = None
    version: int | None = None
    reason: str | None = None


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def select_submissions(session: Session, *, case: str | None = None, submission: int | None = None,
                       since: datetime | None = None, reviewed_only: bool = False) -> tuple[list[int], list[Outcome]]:
    """The submissions to export, and those that cannot be (no case yet, or not a response)."""
    query = select(Submission)
    if submission is not None:
        query = query.where(Submission.id == submission)
    if case is not None:
        query = query.join(Case, col(Submission.case_id) == col(Case.id)).where(Case.number == case)
    if since is not None:
        query = query.where(col(Submission.received_at) >= since)
    subs = list(session.exec(query.order_by(col(Submission.received_at), col(Submission.id))))
    if submission is not None and not subs:
        raise ArchiveError(f"innsending {submission} finnes ikke")
    ids = [s.id for s in subs if s.id is not None]
    open_flags: dict[int, set[str]] = {}
    if ids:
        query_flags = select(Flag.submission_id, Flag.name).where(col(Flag.submission_id).in_(ids),
                                                                  col(Flag.resolved_at).is_(None))
        for sub_id, name in session.exec(query_flags):
            open_flags.setdefault(sub_id, set()).add(name)
    chosen: list[int] = []
    skipped: list[Outcome] = []
    for sub in subs:
        assert sub.id is not None
        flags = open_flags.get(sub.id, set())
        if sub.case_id is None:
            skipped.append(Outcome(sub.id, "skipped", reason="har ingen sak ennå"))
        elif flags.intersection(NOT_RESPONSES):
            skipped.append(Outcome(sub.id, "skipped", reason="er et autosvar, ikke et høringssvar"))
        elif reviewed_only and flags:
            skipped.append(Outcome(sub.id, "skipped", reason="venter på gjennomgang"))
        else:
            chosen.append(sub.id)
    return chosen, skipped


def export_many(rt: Runtime, ids: Sequence[int], destination: Path, *, actor: str, create: bool = False,
                progress: Callable[[int, int], None] | None = None) -> Report:
    """Exports each submission in ``ids`` to ``destination``; raises ArchiveError when the folder is unusable."""
    destination = ready(destination, create=create)
    report = Report()
    extractor = rt.extractor or InProcessExtractor(Limits.from_settings(rt.settings.extract))
    # As many packages at once as there are extraction workers, so that each has a rendition to draw
    # while another package's files are copied and synced.
    parallel = max(1, rt.settings.extract.workers)
    done = 0

    def one(sub_id: int, facts: dict[int, PackageFacts], there: dict[int, records.Exported]) -> Outcome:
        item = facts.get(sub_id)
        if item is None:
            return Outcome(sub_id, "skipped", reason="har ingen sak ennå")
        digest = fingerprint(item)
        same = there.get(sub_id)
        if same is not None and same.fingerprint == digest:
            return Outcome(sub_id, "unchanged", same.path, same.version)
        return export_one(rt, item, digest, destination, actor=actor, extractor=extractor)

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="archive") as threads:
        for start in range(0, len(ids), BATCH):
            chunk = list(ids[start:start + BATCH])
            with Session(rt.engine) as session:
                subs = list(session.exec(select(Submission).where(col(Submission.id).in_(chunk))))
                facts = load_facts(session, subs)
                there = records.latest_written(session, chunk, destination=destination)
            for outcome in threads.map(one, chunk, [facts] * len(chunk), [there] * len(chunk)):
                report.outcomes.append(outcome)
                done += 1
                if progress is not None:
                    progress(done, len(ids))
    return report


def ready(destination: Path, *, create: bool) -> Path:
    """The drop folder, resolved; created only when asked (a missing share must not fill the local disk)."""
    if create:
        try:
            destination.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ArchiveError(f"kan ikke lage mappen {destination}: {err.strerror or err}") from err
    if not destination.is_dir():
        raise ArchiveError(f"arkivmappen {destination} finnes ikke")
    return destination.resolve()


def export_one(rt: Runtime, facts: PackageFacts, digest: str, destination: Path, *, actor: str,
               extractor: Extractor) -> Outcome:
    sub_id = facts.response.submission_id
    lock = named_lock(rt.engine, rt.settings.storage.path, f"archive-{sub_id}")
    if not lock.acquire():
        return Outcome(sub_id, "busy", reason="eksporteres av en annen prosess")
    try:
        with session_scope(rt.engine) as session:
            claim = records.claim(session, submission_id=sub_id, receipt_ref=facts.response.receipt_ref,
                                  destination=destination, fingerprint=digest, actor=actor)
        if claim is None:
            return Outcome(sub_id, "unchanged")
        try:
            sha256 = _write(rt, facts, claim, destination, extractor)
        except (OSError, StorageError) as err:
            reason = _reason(err)
            log.error("archive: package %s for submission %s not written to %s: %s", claim.name, sub_id,
                      destination, reason)
            with session_scope(rt.engine) as session:
                records.failed(session, claim, reason=reason, actor=actor)
            return Outcome(sub_id, "failed", str(destination / claim.name), claim.version, reason)
        with session_scope(rt.engine) as session:
            records.written(session, claim, sha256=sha256, actor=actor)
        log.info("archive: wrote %s (submission %s, version %s)", destination / claim.name, sub_id, claim.version)
        return Outcome(sub_id, "written", str(destination / claim.name), claim.version)
    finally:
        lock.release()


def _reason(err: BaseException) -> str:
    if isinstance(err, PackageError | StorageError):
        return str(err)
    if isinstance(err, OSError):
        where = f" ({err.filename})" if err.filename else ""
        return {28: "arkivmappen er full", 30: "arkivmappen er skrivebeskyttet", 13: "ingen skrivetilgang til "
                "arkivmappen", 122: "kvoten for arkivmappen er brukt opp"}.get(err.errno or 0, err.strerror or
                                                                                 str(err)) + where
    return str(err)


@dataclass
class _Loaded:
    case: Case
    created: datetime
    body: dict[int, str]
    texts: dict[int, str]
    blobs: dict[int, str]
    messages: dict[int, str]


def _load(session: Session, facts: PackageFacts) -> _Loaded:
    member_ids = [m.submission_id for m in facts.members]
    subs = list(session.exec(select(Submission).where(col(Submission.id).in_(member_ids))))
    case = session.exec(select(Case).where(Case.number == facts.case_number)).one()
    created = session.exec(select(AuditLog.at).where(AuditLog.action == "case.created", AuditLog.entity_id == case.id)
                           .order_by(col(AuditLog.at))).first() or case.synced_at
    texts: dict[int, str] = {}
    blobs: dict[int, str] = {}
    query = select(Attachment.id, Attachment.text, Attachment.blob).where(col(Attachment.submission_id).in_(member_ids))
    for att_id, text, blob in session.exec(query):
        assert att_id is not None
        texts[att_id] = text or ""
        blobs[att_id] = blob
    query_messages = select(Message.id, Message.blob).where(col(Message.id).in_([s.message_ref for s in subs]))
    messages = {pk: blob for pk, blob in session.exec(query_messages)}
    return _Loaded(case, created, {s.id: s.body_text or "" for s in subs if s.id is not None}, texts, blobs,
                   {s.id: messages[s.message_ref] for s in subs if s.id is not None})


def _write(rt: Runtime, facts: PackageFacts, claim: records.Claim, destination: Path, extractor: Extractor) -> str:
    with Session(rt.engine) as session:
        loaded = _load(session, facts)
    questions = [{"id": qid, "text": text} for qid, text in facts.form_questions]
    documents, left_out = plan(facts, lambda f: bool(read_form(loaded.texts.get(f.attachment_id, ""), questions)))
    sources = Sources(
        read_message=lambda sub_id: rt.store.read(loaded.messages[sub_id]),
        blob_path=lambda att_id: rt.store.path_of(loaded.blobs[att_id]),
        mail_page=lambda document: _mail_page(document, loaded),
        mail_chars=lambda document: len(loaded.body.get(document.member.submission_id, "")),
    )
    now = utcnow()
    with PackageFolder(destination, claim.name) as folder:
        rendered = PackageFiles(folder.path, extractor, rt.settings.archive.soffice).render(documents, sources)
        xml = build(facts, rendered, left_out, agency(rt, loaded.case, loaded.created),
                    Export(claim.melding_id, claim.version, now, claim.replaces, screened(facts, loaded)))
        (folder.path / MANIFEST).write_bytes(xml)
        return folder.place()


def agency(rt: Runtime, case: Case, created: datetime) -> Agency:
    settings = rt.settings.archive
    own = case.archive or {}
    saksdato = own.get("saksdato")
    return Agency(
        system=settings.system,
        administrativ_enhet=(own.get("administrativ_enhet") or settings.administrativ_enhet
                             or rt.settings.smtp.from_name),
        saksansvarlig=own.get("saksansvarlig") or settings.saksansvarlig,
        journalenhet=settings.journalenhet,
        journalstatus=settings.journalstatus,
        tilgangsrestriksjon=settings.tilgangsrestriksjon,
        skjermingshjemmel=settings.skjermingshjemmel,
        saksdato=datetime.fromisoformat(saksdato).date() if saksdato else oslo_day(created),
        case_created=created,
    )


def screened(facts: PackageFacts, loaded: _Loaded) -> tuple[str, ...]:
    """Why a response is screened (skjermet) in the archive; empty when it is not."""
    reasons = []
    member = facts.response
    if member.withheld:
        reasons.append("holdt tilbake av saksbehandler")
    flag = next((f for f in member.flags if f.name == "personal_data"), None)
    # Once the rule has raised the flag, staff decide: a resolved flag means they found no identity
    # number to hide (or withheld the response, said above). Responses from before the rule are read.
    undecided = flag.open if flag is not None else _identity_number(member.submission_id, member.subject, loaded)
    if undecided:
        reasons.append("inneholder noe som ser ut som et fødselsnummer")
    return tuple(reasons)


def _identity_number(sub_id: int, subject: str | None, loaded: _Loaded) -> bool:
    texts = [subject or "", loaded.body.get(sub_id, ""), *loaded.texts.values()]
    return any(find_identity_numbers(text) for text in texts)


def _mail_page(document: Document, loaded: _Loaded) -> str:
    member = document.member
    sender = f"{member.sender_name} <{member.sender}>" if member.sender_name else (member.sender or "ukjent")
    files = ", ".join(f.filename for f in member.files if not f.inline) or "ingen"
    headers = [
        ("Fra", sender),
        ("Emne", member.subject or "(uten emne)"),
        ("Avsenders dato", oslo(member.sent_date) or "ikke oppgitt"),
        ("Mottatt", oslo(member.received_at) + " (norsk tid)"),
        ("Message-ID", member.message_id or "ingen"),
        ("Kvitteringsref.", member.receipt_ref),
        ("Vedlegg", files),
    ]
    return mail_html(title=member.subject or "E-post", headers=headers,
                     body=loaded.body.get(member.submission_id, "") or "(tom)",
                     note="Gjengitt fra den originale e-posten, som ligger ved i produksjonsformat (.eml).")
