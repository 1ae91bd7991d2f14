"""``intake users add|list|unlock`` against a real database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from intake.cli.users import users_app
from intake.db.engine import make_engine, session_scope
from intake.db.models import User, utcnow
from intake.web.auth import authenticate


@pytest.fixture
def config(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "config").mkdir()
    file = tmp_path / "config" / "intake.toml"
    file.write_text(f'[database]\nurl = "{database_url}"\n', encoding="utf-8")
    monkeypatch.setenv("INTAKE_CONFIG", str(file))
    return database_url


def test_add_list_unlock(config: str) -> None:
    runner = CliRunner()
    added = runner.invoke(users_app, ["add", "kari", "--role", "admin", "--password-stdin"], input="hemmelig-passord\n")
    assert added.exit_code == 0, added.output
    assert "kari (admin)" in added.output
    engine = make_engine(config)
    try:
        with session_scope(engine) as session:
            user = authenticate(session, "kari", "hemmelig-passord")
            assert user.role == "admin"
            user.locked_until = utcnow() + timedelta(minutes=10)
            session.add(user)
        listed = runner.invoke(users_app, ["list"])
        assert listed.exit_code == 0 and "kari\tadmin\taktiv låst til" in listed.output
        assert runner.invoke(users_app, ["unlock", "kari"]).exit_code == 0
        with session_scope(engine) as session:
            assert session.exec(select(User).where(User.name == "kari")).one().locked_until is None
    finally:
        engine.dispose()


def test_refuses_a_short_password_and_an_unknown_role(config: str) -> None:
    runner = CliRunner()
    short = runner.invoke(users_app, ["add", "ola", "--password-stdin"], input="kort\n")
    assert short.exit_code == 2 and "minst 8 tegn" in short.output
    role = runner.invoke(users_app, ["add", "ola", "--role", "boss", "--password-stdin"], input="langt-nok-passord\n")
    assert role.exit_code == 2
    assert runner.invoke(users_app, ["unlock", "nobody"]).exit_code == 2


def test_the_password_prompt_speaks_one_language(config: str) -> None:
    runner = CliRunner()
    added = runner.invoke(users_app, ["add", "per"], input="et-langt-passord\net-langt-passord\n")
    assert added.exit_code == 0, added.output
    assert "Passord:" in added.output and "Gjenta passordet:" in added.output
    assert "Repeat" not in added.output
    mismatch = runner.invoke(users_app, ["add", "ola"], input="et-langt-passord\nnoe-annet-helt\n" * 3)
    assert mismatch.exit_code == 2
    assert "De to passordene er ikke like" in mismatch.output and "Error" not in mismatch.output
