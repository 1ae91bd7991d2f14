"""``intake users …``: staff accounts for the review interface."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from intake.config import Settings, load_settings
from intake.db.engine import make_engine, session_scope
from intake.db.models import User, utcnow
from intake.localtime import oslo
from intake.web import throttle
from intake.web.auth import AuthError, create_user, find_user, log_out_everywhere, set_active

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
    """Adds a user, or sets a new password and role for an existing one (which ends their sessions)."""
    _settings(ctx)
    password = _password(password_stdin)
    with _session(ctx) as session:
        user = create_user(session, name=name, password=password, role=role.value, actor="cli")
        typer.echo(f"bruker {user.name} ({user.role}) lagret")


@users_app.command("list")
def list_users(ctx: typer.Context) -> None:
    """Lists the users with their role, whether they are active, and any wait after failed logins."""
    with _session(ctx) as session:
        now = utcnow()
        for user in session.exec(select(User).order_by(col(User.name))):
            until = throttle.account_wait(session, user.name, now)
            waiting = f" innlogging venter til {oslo(until)}" if until else ""
            typer.echo(f"{user.name}\t{user.role}\t{'aktiv' if user.active else 'deaktivert'}{waiting}")


@users_app.command("unlock")
def unlock(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Forgets the failed logins counted against a user, so they need not wait."""
    with _session(ctx) as session:
        find_user(session, name)
        throttle.clear_name(session, name)
        typer.echo(f"bruker {name} kan logge inn uten å vente")


@users_app.command("disable")
def disable(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Disables a user: their sessions end at once and they cannot log in until enabled."""
    with _session(ctx) as session:
        set_active(session, name, active=False, actor="cli")
        typer.echo(f"bruker {name} er deaktivert og logget ut")


@users_app.command("enable")
def enable(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Lets a disabled user log in again."""
    with _session(ctx) as session:
        set_active(session, name, active=True, actor="cli")
        typer.echo(f"bruker {name} er aktiv igjen")


@users_app.command("logout")
def logout(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Ends every session of a user; they must log in again."""
    with _session(ctx) as session:
        ended = log_out_everywhere(session, name, actor="cli")
        typer.echo(f"bruker {name} er logget ut ({ended} økt{'er' if ended != 1 else ''} avsluttet)")


@contextmanager
def _session(ctx: typer.Context) -> Iterator[Session]:
    """One transaction on the configured database; a refused action is one line and exit 2."""
    engine = make_engine(_settings(ctx).database.url)
    try:
        with session_scope(engine) as session:
            yield session
    except AuthError as err:
        typer.echo(f"feil: {err}", err=True)
        raise typer.Exit(2) from err
    except SQLAlchemyError as err:
        typer.echo(f"feil: databasen: {str(err).splitlines()[0]} (er `intake db upgrade` kjørt?)", err=True)
        raise typer.Exit(1) from err
    finally:
        engine.dispose()
