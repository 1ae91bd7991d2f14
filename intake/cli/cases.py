"""``intake cases …`` and ``intake publish``: the cases, their summary, exports and publishing package."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session, select

from intake.cli.common import service
from intake.db.engine import session_scope
from intake.db.models import Case
from intake.decide.matching import parse_case
from intake.errors import IntakeError
from intake.review import queries
from intake.review.serialize import case_json
from intake.runtime import Runtime

cases_app = typer.Typer(help="Cases (consultations).", no_args_is_help=True)
CaseArg = Annotated[str, typer.Argument(help="The case number, e.g. 22/414.")]


def _case(session: Session, number: str) -> Case:
    case = session.exec(select(Case).where(Case.number == (parse_case(number) or number))).first()
    if case is None:
        raise IntakeError(f"no case {number}")
    return case


def _grouped(rt: Runtime, number: str, *, force: bool = False) -> None:
    """Groups the case's campaigns when responses came in since the last grouping (or always, ``force``)."""
    from intake.review.campaigns import ensure_grouped, regroup

    with session_scope(rt.engine) as session:
        case = _case(session, number)
        if force:
            regroup(session, case)
        else:
            ensure_grouped(session, case)


@cases_app.command("list")
def cases_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Lists cases with their counts."""
    with service(ctx, extract=False) as rt, Session(rt.engine) as session:
        data = [case_json(s) for s in queries.list_cases(session)]
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for item in data:
        counts = item["counts"]
        typer.echo(
            f"{item['case']:<8} frist {item['deadline']}  {counts['received']} mottatt, "
            f"{counts['late']} for sent, {counts['flagged']} til behandling  {item['title']}"
        )


@cases_app.command("summary")
def cases_summary(
    ctx: typer.Context,
    case: CaseArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON (CONTRACT.md).")] = False,
) -> None:
    """The case's summary: responses, no-comment responses, counts per choice, campaigns."""
    from intake.review.summary import case_summary, summary_json

    with service(ctx, extract=False) as rt:
        _grouped(rt, case)
        with Session(rt.engine) as session:
            data = summary_json(case_summary(session, _case(session, case)))
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    typer.echo(f"{data['case']}  {data['responses']} svar, {data['invited_responses']} fra inviterte, "
               f"{data['no_comments']} uten merknader, {len(data['campaigns'])} kampanjer")
    for qid, question in data["questions"].items():
        choices = ", ".join(f"{k}: {v}" for k, v in question["choices"].items())
        typer.echo(f"  {qid}  {question['answered']} svart  {choices}")
    for campaign in data["campaigns"]:
        typer.echo(f"  kampanje {campaign['id']}: {campaign['count']} like brev (mal: innsending "
                   f"{campaign['template_submission']})")


@cases_app.command("campaigns")
def cases_campaigns(ctx: typer.Context, case: CaseArg) -> None:
    """Groups the case's responses into campaigns again and prints the groups."""
    with service(ctx, extract=False) as rt:
        _grouped(rt, case, force=True)
        with Session(rt.engine) as session:
            from intake.review.summary import case_summary

            summary = case_summary(session, _case(session, case))
    for line in summary.campaigns:
        typer.echo(f"kampanje {line.id}: {line.count} like brev, {line.maybe} kanskje (mal: innsending "
                   f"{line.template_submission}, {line.organisation})")
    typer.echo(f"{len(summary.campaigns)} campaign(s)", err=True)


@cases_app.command("export")
def cases_export(
    ctx: typer.Context,
    case: CaseArg,
    xlsx: Annotated[Path | None, typer.Option("--xlsx", help="Write the spreadsheet of responses here.")] = None,
    docx: Annotated[Path | None, typer.Option("--docx", help="Write the draft summary here.")] = None,
) -> None:
    """Writes the case officer's exports: the XLSX of every response and the DOCX draft summary."""
    from intake.review.draft import summary_docx
    from intake.review.spreadsheet import summary_xlsx
    from intake.review.summary import case_summary

    if xlsx is None and docx is None:
        raise typer.BadParameter("give --xlsx FILE, --docx FILE or both")
    with service(ctx, extract=False) as rt:
        _grouped(rt, case)
        with Session(rt.engine) as session:
            summary = case_summary(session, _case(session, case))
            if xlsx is not None:
                xlsx.write_bytes(summary_xlsx(session, summary, review_url=rt.settings.review_url()))
                typer.echo(f"wrote {xlsx}", err=True)
            if docx is not None:
                docx.write_bytes(summary_docx(summary))
                typer.echo(f"wrote {docx}", err=True)


@cases_app.command("extend")
def cases_extend(
    ctx: typer.Context,
    case: CaseArg,
    organisation: Annotated[int, typer.Option("--organisation", help="The organisation's id.")],
    until: Annotated[str, typer.Option("--until", help="The new last day, inclusive (YYYY-MM-DD).")],
    reason: Annotated[str, typer.Option("--reason", help="Why, for the audit log.")] = "",
) -> None:
    """Grants an organisation a later deadline in the case (utsatt frist); its responses are decided again."""
    from intake.review.actions import grant_extension

    try:
        day = date.fromisoformat(until)
    except ValueError as err:
        raise typer.BadParameter(f"not a date: {until!r}") from err
    with service(ctx, extract=False) as rt, session_scope(rt.engine) as session:
        grant_extension(session, _case(session, case), organisation, day, actor="cli", reason=reason)
    typer.echo(f"deadline for organisation {organisation} in {case} is now {day}", err=True)


def publish(
    ctx: typer.Context,
    case: Annotated[str, typer.Option("--case", help="The case number, e.g. 22/414.")],
    out: Annotated[Path, typer.Option("--out", help="An empty or new folder for the package.")],
) -> None:
    """Writes the publishing package: OUT/index.html and the published documents."""
    from intake.publish.package import build_package

    with service(ctx, extract=False) as rt:
        with Session(rt.engine) as session:
            number = _case(session, case).number
        index = build_package(rt, number, out, actor="cli")
    typer.echo(f"wrote {index}", err=True)
