"""The ``intake`` command: what operators and scripts use (see CONTRACT.md)."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from sqlmodel import Session, col, select

from intake.cli.archive import archive_app
from intake.cli.cases import cases_app, publish
from intake.cli.common import parse_when
from intake.cli.common import service as _service
from intake.cli.common import settings_of as _settings
from intake.cli.users import users_app
from intake.db.engine import check_connection, make_engine, upgrade
from intake.db.models import Message, utcnow
from intake.errors import ConfigError, IntakeError, RelayRefused
from intake.mail import mbox
from intake.review import queries
from intake.review.serialize import submissions_json
from intake.runtime import Runtime

if TYPE_CHECKING:
    from intake.receipts.outbox import DeliveryReport

OSLO = ZoneInfo("Europe/Oslo")

app = typer.Typer(help="Postmottak intake for public consultations.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
workflows_app = typer.Typer(help="Consultation workflows (one YAML file per case).", no_args_is_help=True)
submissions_app = typer.Typer(help="Received submissions.", no_args_is_help=True)
messages_app = typer.Typer(help="Stored raw messages, including failed ones.", no_args_is_help=True)
store_app = typer.Typer(help="The store of original messages and attachments.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(workflows_app, name="workflows")
app.add_typer(submissions_app, name="submissions")
app.add_typer(cases_app, name="cases")
app.add_typer(messages_app, name="messages")
app.add_typer(store_app, name="store")
app.add_typer(users_app, name="users")
app.command()(publish)
app.add_typer(archive_app, name="archive")

log = logging.getLogger("intake")


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", help="Config file (else $INTAKE_CONFIG, else config/intake.toml).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Every file the service writes (database, WAL, store, packs, outbox) holds mail or secrets:
    # readable by the service's user alone, files 600 and folders 700.
    os.umask(0o077)
    ctx.obj = {"config": config}


@store_app.command("check")
def store_check(ctx: typer.Context) -> None:
    """Reads back every stored message and attachment and checks its sha256; exit 1 on any problem."""
    from intake.store.check import check_store

    with _service(ctx, extract=False) as rt:
        report = check_store(rt)
    for problem in report.problems:
        typer.echo(problem)
    typer.echo(f"{report.checked} files checked, {len(report.problems)} missing or damaged", err=True)
    if report.problems:
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Applies the migrations to the configured database."""
    settings = _settings(ctx)
    engine = make_engine(settings.database.url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    typer.echo("database is up to date", err=True)


@workflows_app.command("sync")
def workflows_sync(ctx: typer.Context) -> None:
    """Loads the workflows folder into the database; bad files are reported and skipped."""
    from intake import workflows

    settings = _settings(ctx)
    engine = make_engine(settings.database.url)
    try:
        check_connection(engine)
        report = workflows.sync_database(engine, settings.workflows.path)
    finally:
        engine.dispose()
    for path, workflow in report.workflows:
        typer.echo(f"loaded {workflow.case} from {path.name}: {workflow.title}", err=True)
    for error in report.errors:
        typer.echo(f"error: {error}", err=True)
    if report.errors and not report.workflows:
        raise typer.Exit(1)


def _messages_in(path: Path) -> Iterator[bytes]:
    if mbox.is_mbox(path):
        yield from mbox.messages(path)
    else:
        yield path.read_bytes()


def _mbox_count(path: Path) -> int:
    return mbox.count(path) if mbox.is_mbox(path) else 1


@app.command()
def ingest(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help=".eml or mbox files.", exists=True, dir_okay=False)],
    received_at: Annotated[
        str | None, typer.Option("--received-at", help="When we received it (ISO 8601; default now).")
    ] = None,
) -> None:
    """Runs .eml and mbox files through the same pipeline as mail from a mailbox."""
    when = parse_when(received_at)
    totals = {"messages": 0, "new": 0, "duplicates": 0, "failed": 0}
    with _service(ctx, extract=True, sync=True) as rt:
        for path in files:
            count = _mbox_count(path)
            stream = _messages_in(path)
            if count > 20 and sys.stderr.isatty():
                with typer.progressbar(stream, length=count, label=path.name, file=sys.stderr) as bar:
                    _ingest_stream(rt, bar, when, totals)
            else:
                _ingest_stream(rt, stream, when, totals)
            typer.echo(f"{path.name}: {count} message(s)", err=True)
    typer.echo(
        f"ingested {totals['messages']} message(s): {totals['new']} new, {totals['duplicates']} already known, "
        f"{totals['failed']} failed",
        err=True,
    )


def _ingest_stream(rt: Runtime, stream: Iterable[bytes], when: datetime | None, totals: dict[str, int]) -> None:
    from intake.pipeline.run import ingest
    from intake.store.messages import Source

    for raw in stream:
        result = ingest(rt, raw, Source(kind="file"), when or utcnow())
        totals["messages"] += 1
        if result.duplicate:
            totals["duplicates"] += 1
        elif result.submission_id is None:
            totals["failed"] += 1
        else:
            totals["new"] += 1


@app.command()
def poll(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Poll every mailbox once, then exit.")] = False,
) -> None:
    """Polls every configured mailbox, processes new mail and delivers due receipts."""
    from intake.pipeline.run import process_pending
    from intake.sources.imap import poll_all

    with _service(ctx, extract=True, sync=True) as rt:
        while True:
            process_pending(rt)
            results = poll_all(rt)
            delivered = _deliver(rt)
            for result in results:
                typer.echo(str(result), err=True)
            if once:
                if delivered.blocked:
                    # Like an unreachable mailbox: one line and a non-zero exit; the receipts stay due.
                    raise RelayRefused(delivered.error or "the mail server refuses to relay")
                typer.echo(str(delivered), err=True)
                break
            typer.echo(str(delivered), err=True)
            time.sleep(min((b.poll_interval_seconds for b in rt.settings.mailboxes), default=60))


def _deliver(rt: Runtime) -> DeliveryReport:
    from intake.receipts.outbox import deliver_due

    return deliver_due(rt)


@app.command()
def serve(ctx: typer.Context) -> None:
    """The daemon: scheduled polling, the SMTP receiver if enabled, receipt delivery, the web UI."""
    from intake.scheduler import serve as run_daemon

    with _service(ctx, extract=True, sync=True) as rt:
        run_daemon(rt)


@submissions_app.command("list")
def submissions_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array (CONTRACT.md).")] = False,
    case: Annotated[str | None, typer.Option("--case", help="Only this case, e.g. 22/414.")] = None,
    flag: Annotated[str | None, typer.Option("--flag", help="Only submissions with this flag.")] = None,
) -> None:
    """Lists submissions."""
    from intake.decide.matching import parse_case

    with _service(ctx, extract=False) as rt, Session(rt.engine) as session:
        number = parse_case(case) or case if case else None
        subs = queries.list_submissions(session, case=number, flag=flag)
        data = submissions_json(session, subs)
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for item in data:
        flags = ",".join(item["flags"]) or "-"
        typer.echo(f"{item['id']:>6}  {item['received_at'][:16]}  {item['case'] or '-':<8}  {flags:<28}  "
                   f"{item['organisation'] or item['sender'] or '?'}: {item['subject'] or ''}")


@messages_app.command("list")
def messages_list(
    ctx: typer.Context,
    status: Annotated[str, typer.Option("--status", help="stored | processed | failed | parked")] = "failed",
) -> None:
    """Lists stored messages by status (failed and parked ones need a person)."""
    with _service(ctx, extract=False) as rt, Session(rt.engine) as session:
        rows = session.exec(select(Message).where(Message.status == status).order_by(col(Message.id))).all()
        for m in rows:
            typer.echo(f"{m.id:>6}  {m.received_at.astimezone(OSLO):%Y-%m-%d %H:%M}  attempts={m.attempts}  "
                       f"{m.message_id or '-'}  {m.last_error or ''}")


@messages_app.command("retry")
def messages_retry(
    ctx: typer.Context,
    ids: Annotated[list[int] | None, typer.Argument(help="Message ids; all failed and parked when none.")] = None,
) -> None:
    """Processes failed or parked messages again."""
    from intake.pipeline.run import process_message

    with _service(ctx, extract=True) as rt:
        with Session(rt.engine) as session:
            wanted = ids or [
                i for i in session.exec(
                    select(Message.id).where(col(Message.status).in_(["failed", "parked"]))
                ).all() if i is not None
            ]
        ok = sum(1 for pk in wanted if process_message(rt, pk, force=True) is not None)
    typer.echo(f"{ok} of {len(wanted)} message(s) processed", err=True)


@messages_app.command("park")
def messages_park(
    ctx: typer.Context,
    ids: Annotated[list[int], typer.Argument(help="Message ids.")],
    reason: Annotated[str, typer.Option("--reason", help="Why, for the person who looks at it.")] = "parked by hand",
) -> None:
    """Parks stored messages for a person: they are not processed again until retried."""
    from intake.pipeline.watchdog import NotParkable, park

    with _service(ctx, extract=False) as rt:
        for pk in ids:
            try:
                park(rt, pk, reason, actor="cli")
            except NotParkable as err:
                typer.echo(f"error: {err}", err=True)
                raise typer.Exit(1) from err
    typer.echo(f"{len(ids)} message(s) parked", err=True)


def main() -> None:
    """Console entry point: our own errors become one line on stderr and a non-zero exit."""
    try:
        app()
    except ConfigError as err:
        typer.echo(str(err), err=True)
        sys.exit(2)
    except IntakeError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(1)
