"""Configuration: TOML, environment overrides, secrets from files, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from intake.config import load_settings
from intake.errors import ConfigError

BASE = """
[database]
url = "sqlite:///var/intake.db"

[[mailboxes]]
name = "postmottak"
host = "imap.example.no"
username = "postmottak"
password_file = "secrets/imap"

[smtp]
host = "smtp.example.no"
port = 587
"""


def write(tmp_path: Path, text: str = BASE) -> Path:
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "secrets").mkdir(exist_ok=True)
    (tmp_path / "secrets" / "imap").write_text("s3cret\n")
    path = tmp_path / "config" / "intake.toml"
    path.write_text(text)
    return path


def test_relative_paths_are_relative_to_the_project_root(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path), environ={})
    assert settings.database.url == f"sqlite:///{tmp_path.resolve()}/var/intake.db"
    assert settings.storage.path == tmp_path.resolve() / "var" / "store"
    assert settings.workflows.path == tmp_path.resolve() / "workflows"


def test_password_file_is_read(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path), environ={})
    assert settings.mailbox("postmottak").password == "s3cret"


def test_environment_overrides_sections_and_mailboxes(tmp_path: Path) -> None:
    env = {
        "INTAKE_DATABASE__URL": "postgresql+psycopg://u@h/db",
        "INTAKE_SMTP__PORT": "2525",
        "INTAKE_MAILBOXES__POSTMOTTAK__POLL_INTERVAL_SECONDS": "15",
        "INTAKE_RECEIVER__RECIPIENTS": '["a@b.no", "c@d.no"]',
    }
    settings = load_settings(write(tmp_path), environ=env)
    assert settings.database.url == "postgresql+psycopg://u@h/db"
    assert settings.smtp.port == 2525
    assert settings.mailbox("postmottak").poll_interval_seconds == 15
    assert settings.receiver.recipients == ["a@b.no", "c@d.no"]


def test_config_file_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path)
    settings = load_settings(None, environ={"INTAKE_CONFIG": str(path)})
    assert settings.config_file == path.resolve()


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        (BASE + "\n[smtp2]\nx = 1\n", {}, "config error: smtp2: unknown key"),
        (BASE.replace("port = 587", 'port = "many"'), {}, "config error: smtp.port:"),
        (BASE.replace('host = "imap.example.no"', 'host = "imap.example.no"\nsecurity = "tls"'), {},
         "config error: mailboxes.postmottak.security:"),
        (BASE, {"INTAKE_MAILBOXES__OTHER__HOST": "x"}, "config error: INTAKE_MAILBOXES__OTHER__HOST"),
        (BASE.replace("secrets/imap", "secrets/missing"), {}, "config error: mailboxes.postmottak.password_file"),
        ("[database\n", {}, "config error:"),
    ],
)
def test_bad_configuration_is_one_line_naming_the_key(tmp_path: Path, text: str, env: dict[str, str],
                                                      message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), environ=env)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml", environ={})
