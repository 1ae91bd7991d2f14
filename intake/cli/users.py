"""``intake users …``: staff accounts for the review interface."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from intake.config import Settings, load_settings
from intake.db.engine import make_engine, session_scope
from intake.db.models import User
from intake.localtime import oslo
from intake.web.auth import AuthError, create_user

users_app = typer.Typer(help="Staff users of the review interface (in Norwegian).", no_args_is_help=True)


class Role(StrEnum):
    reviewer = "reviewer"
    admin = "admin"


def _settings(ctx: typer.Context) -> Settings:
    """The Settings of the running command: from the parent command when it built them, else loaded here."""
    root = ctx.find_root()
    obj: Any = root.obj
    if isinstance(obj, Settings):
        return obj
    if isinstance(getattr(obj, "settings", None), Settings):
        return obj.settings  # type: ignore[no-any-return]
    if isinstance(obj, dict):
        # The main command keeps {"config": path, "settings": Settings once loaded} here.
        if isinstance(obj.get("settings"), Settings):
            return obj["settings"]  # type: ignore[no-any-return]
        if obj.get("config") is not None:
            loaded = load_settings(obj["config"])
            obj["settings"] = loaded
            return loaded
    config = root.params.get("config")
    return load_settings(config if isinstance(config, str | Path) else None)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    # Our own confirmation, so that a mismatch is told in the prompt's language too.
    for _attempt in range(3):
        value: str = typer.prompt("Passord", hide_input=True)
        if typer.prompt("Gjenta passordet", hide_input=True) == value:
            return value
        typer.echo("De to passordene er ikke like. Prøv igjen.", err=True)
    typer.echo("feil: passordet ble ikke bekreftet", err=True)
    raise typer.Exit(2)


@users_app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[Role, typer.Option("--role", help="reviewer or admin.")] = Role.reviewer,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Adds a user, or sets a new password and role for an existing one."""
    settings = _settings(ctx)
    password = _password(password_stdin)
    engine = make_engine(settings.database.url)
    try:
        with session_scope(engine) as session:
            user = create_user(session, name=name, password=password, role=role.value, actor="cli")
            typer.echo(f"bruker {user.name} ({user.role}) lagret")
    except AuthError as err:
        typer.echo(f"feil: {err}", err=True)
        raise typer.Exit(2) from err
    except SQLAlchemyError as err:
        typer.echo(f"feil: databasen: {str(err).splitlines()[0]} (er `intake db upgrade` kjørt?)", err=True)
        raise typer.Exit(1) from err
    finally:
        engine.dispose()


@users_app.command("list")
def list_users(ctx: typer.Context) -> None:
    """Lists the users with their role and whether they are locked out."""
    engine = make_engine(_settings(ctx).database.url)
    try:
        with session_scope(engine) as session:
            for user in session.exec(select(User).order_by(col(User.name))):
                locked = f" låst til {oslo(user.locked_until)}" if user.locked_until else ""
                typer.echo(f"{user.name}\t{user.role}\t{'aktiv' if user.active else 'deaktivert'}{locked}")
    finally:
        engine.dispose()


@users_app.command("unlock")
def unlock(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Lifts a lock-out after failed logins."""
    engine = make_engine(_settings(ctx).database.url)
    try:
        with session_scope(engine) as session:
            user = session.exec(select(User).where(User.name == name)).first()
            if user is None:
                typer.echo(f"feil: ingen bruker heter «{name}»", err=True)
                raise typer.Exit(2)
            user.locked_until = None
            user.failed_logins = 0
            session.add(user)
            typer.echo(f"bruker {name} er låst opp")
    finally:
        engine.dispose()
