"""What every command shares: the settings of the run and the Runtime of one command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import typer

from intake.config import Settings, load_settings
from intake.db.engine import check_connection
from intake.localtime import OSLO
from intake.runtime import Runtime


def settings_of(ctx: typer.Context) -> Settings:
    cached = ctx.obj.get("settings")
    if cached is None:
        cached = load_settings(ctx.obj.get("config"))
        ctx.obj["settings"] = cached
    return cached  # type: ignore[no-any-return]


@contextmanager
def service(ctx: typer.Context, *, extract: bool, sync: bool = False) -> Iterator[Runtime]:
    """The Runtime of one command: the database checked first, workflows synced when asked, closed after."""
    rt = Runtime.open(settings_of(ctx), extract=extract)
    try:
        check_connection(rt.engine)
        if sync:
            _sync_workflows(rt)
        yield rt
    finally:
        rt.close()


def _sync_workflows(rt: Runtime) -> None:
    from intake import workflows

    report = workflows.sync_database(rt.engine, rt.settings.workflows.path)
    for error in report.errors:
        typer.echo(f"workflow skipped: {error}", err=True)


def parse_when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError as err:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}") from err
    # A time without an offset is read as Norwegian time, the way staff write it.
    return when if when.tzinfo else when.replace(tzinfo=OSLO)
