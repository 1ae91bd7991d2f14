"""``intake users add|list|unlock|disable|enable|logout`` against a real database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from typer.testing import CliRunner

from intake.cli.users import users_app
from intake.config import WebSettings
from intake.db.engine import make_engine, session_scope
from intake.db.models import User, WebSession, utcnow
from intake.web import throttle
from intake.web.auth import AuthError, authenticate, load_session, start_session

PASSWORD = "korrekt-hest-batteri"
WEB = WebSettings()


@pytest.fixture
def config(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "config").mkdir()
    file = tmp_path / "config" / "intake.toml"
    file.write_text(f'[database]\nurl = "{database_url}"\n', encoding="utf-8")
    monkeypatch.setenv("INTAKE_CONFIG", str(file))
    return database_url


@pytest.fixture
def db(config: str) -> Engine:
    engine = make_engine(config)
    yield engine  # type: ignore[misc]
    engine.dispose()


def _add(name: str = "kari", password: str = PASSWORD, role: str = "admin") -> str:
    result = CliRunner().invoke(users_app, ["add", name, "--role", role, "--password-stdin"], input=password + "\n")
    return f"{result.exit_code}:{result.output}"


def _session_token(db: Engine, name: str) -> str:
    with session_scope(db) as session:
        return start_session(session, authenticate(session, name, PASSWORD), WEB)


def _still_logged_in(db: Engine, token: str) -> bool:
    with session_scope(db) as session:
        return load_session(session, token, WEB) is not None


def test_add_list_unlock(db: Engine) -> None:
    assert _add().startswith("0:") and "kari (admin)" in _add()
    runner = CliRunner()
    now = utcnow()
    with session_scope(db) as session:
        for _ in range(throttle.ACCOUNT_FREE):
            throttle.record_failure(session, throttle.keys_for("192.0.2.1", "kari"), now)
    listed = runner.invoke(users_app, ["list"])
    assert listed.exit_code == 0 and "kari\tadmin\taktiv innlogging venter til" in listed.output
    assert runner.invoke(users_app, ["unlock", "kari"]).exit_code == 0
    with session_scope(db) as session:
        assert throttle.account_wait(session, "kari", now) is None
    assert "venter" not in runner.invoke(users_app, ["list"]).output


def test_refuses_a_short_or_common_password_and_an_unknown_role(config: str) -> None:
    short = _add("ola", "kort-pass")
    assert short.startswith("2:") and "minst 12 tegn" in short
    for common in ("password123456", "Passord12345!", "qwertyuiop123", "sommersommer", "olaolaolaola1"):
        refused = _add("ola", common)
        assert refused.startswith("2:"), common
        assert "mest brukte" in refused or "brukernavnet" in refused or "ett tegn" in refused, refused
    assert _add("ola", "x" * 12).startswith("2:")
    assert _add("ola", "ola-sitt-passord").startswith("2:")
    assert _add("ola", PASSWORD, role="boss").startswith("2:")
    assert CliRunner().invoke(users_app, ["unlock", "nobody"]).exit_code == 2
    assert _add("ola", PASSWORD).startswith("0:")


def test_a_new_password_ends_every_session_of_the_user(db: Engine) -> None:
    _add("kari")
    _add("ola", role="reviewer")
    kari, ola = _session_token(db, "kari"), _session_token(db, "ola")
    assert _add("kari", "et-helt-nytt-langt-passord").startswith("0:")
    assert not _still_logged_in(db, kari)
    assert _still_logged_in(db, ola)


def test_disable_ends_the_sessions_and_refuses_the_login_until_enabled(db: Engine) -> None:
    _add("kari")
    token = _session_token(db, "kari")
    runner = CliRunner()
    disabled = runner.invoke(users_app, ["disable", "kari"])
    assert disabled.exit_code == 0 and "deaktivert" in disabled.output
    assert not _still_logged_in(db, token)
    with session_scope(db) as session, pytest.raises(AuthError, match="Feil brukernavn eller passord"):
        authenticate(session, "kari", PASSWORD)
    assert "kari\tadmin\tdeaktivert" in runner.invoke(users_app, ["list"]).output
    assert runner.invoke(users_app, ["enable", "kari"]).exit_code == 0
    assert _still_logged_in(db, _session_token(db, "kari"))
    assert runner.invoke(users_app, ["disable", "nobody"]).exit_code == 2


def test_logout_ends_every_session_of_one_user(db: Engine) -> None:
    _add("kari")
    _add("ola", role="reviewer")
    first, second, other = _session_token(db, "kari"), _session_token(db, "kari"), _session_token(db, "ola")
    result = CliRunner().invoke(users_app, ["logout", "kari"])
    assert result.exit_code == 0 and "2 økter avsluttet" in result.output
    assert not _still_logged_in(db, first) and not _still_logged_in(db, second)
    assert _still_logged_in(db, other)
    with session_scope(db) as session:
        assert len(session.exec(select(WebSession)).all()) == 1
        assert session.exec(select(User).where(User.name == "kari")).one().active
    assert CliRunner().invoke(users_app, ["logout", "nobody"]).exit_code == 2


def test_the_password_prompt_speaks_one_language(config: str) -> None:
    runner = CliRunner()
    added = runner.invoke(users_app, ["add", "per"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert added.exit_code == 0, added.output
    assert "Passord:" in added.output and "Gjenta passordet:" in added.output
    assert "Repeat" not in added.output
    mismatch = runner.invoke(users_app, ["add", "ola"], input=f"{PASSWORD}\nnoe-annet-helt\n" * 3)
    assert mismatch.exit_code == 2
    assert "De to passordene er ikke like" in mismatch.output and "Error" not in mismatch.output


def test_the_throttle_forgets_after_a_day(db: Engine) -> None:
    keys = throttle.keys_for("192.0.2.9", "kari")
    long_ago = utcnow() - timedelta(hours=25)
    with session_scope(db) as session:
        for _ in range(throttle.FREE + 3):
            throttle.record_failure(session, keys, long_ago)
    with session_scope(db) as session:
        assert throttle.wait_until(session, keys, utcnow()) is None
