"""``intake archive export``: archive packages (arkivmelding) for the agency's Noark 5 archive."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from intake.cli.common import parse_when, service

archive_app = typer.Typer(help="Archive packages for the Noark 5 archive (arkivmelding).", no_args_is_help=True)


@archive_app.command("export")
def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Folder to write one package per submission into.")],
    case: Annotated[str | None, typer.Option("--case", help="Every response to this case, e.g. 22/414.")] = None,
    submission: Annotated[int | None, typer.Option("--submission", help="One submission, by its id.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every response that has a case.")] = False,
    since: Annotated[
        str | None, typer.Option("--since", help="Only those received at or after this time (ISO 8601).")
    ] = None,
) -> None:
    """Writes a package for each response whose newest version is not in the folder yet."""
    from intake.archive.export import export_many, select_submissions
    from intake.decide.matching import parse_case

    if sum(1 for chosen in (case is not None, submission is not None, all_) if chosen) != 1:
        raise typer.BadParameter("velg nøyaktig én av --case, --submission og --all")
    when = parse_when(since)
    with service(ctx, extract=True) as rt:
        with Session(rt.engine) as session:
            number = (parse_case(case) or case) if case else None
            ids, skipped = select_submissions(session, case=number, submission=submission, since=when)
        if submission is not None and skipped:
            raise typer.BadParameter(f"innsending {submission} {skipped[0].reason}", param_hint="--submission")
        report = export_many(rt, ids, out, actor=_actor(), create=True)
    for outcome in report.outcomes:
        if outcome.status == "written":
            typer.echo(f"{outcome.path}  (versjon {outcome.version})")
        elif outcome.status == "failed":
            typer.echo(f"feilet: innsending {outcome.submission_id}: {outcome.reason}", err=True)
    typer.echo(
        f"{report.count('written')} pakke(r) skrevet, {report.count('unchanged')} uendret, "
        f"{report.count('busy')} tatt av en annen prosess, {report.count('failed')} feilet; "
        f"{len(skipped)} ikke eksportert (uten sak eller autosvar)",
        err=True,
    )
    if report.count("failed"):
        raise typer.Exit(1)


def _actor() -> str:
    """Who ran the command, for the export rows and the audit log."""
    try:
        return f"{getpass.getuser()} (kommandolinje)"
    except (KeyError, OSError):
        return "kommandolinje"
