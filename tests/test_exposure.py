"""What an intruder could read or run: file modes, workflow templates, unused secrets."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from intake.config import settings_from_dict
from intake.errors import ConfigError, TemplateError
from intake.receipts.render import render
from tests.builders import make_email
from tests.test_receipts import context

REPO = Path(__file__).resolve().parent.parent


def test_the_service_creates_every_file_600_and_every_folder_700(tmp_path: Path) -> None:
    """``intake`` sets umask 077 at start: the database, its WAL, the store and the receipts are private."""
    root = tmp_path / "root"
    (root / "config").mkdir(parents=True)
    config = root / "config" / "intake.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///var/intake.db"\n[storage]\npath = "var/store"\n'
        f'[workflows]\npath = "{REPO / "workflows"}"\n[smtp]\nhost = ""\noutbox_path = "var/outbox"\n'
        '[extract]\nworkers = 0\n', encoding="utf-8")
    eml = tmp_path / "svar.eml"
    eml.write_bytes(make_email(attachments=[("svar.txt", "text/plain", b"Vi stotter strategien.")]))
    env = {**os.environ, "INTAKE_CONFIG": str(config)}
    intake = [sys.executable, "-m", "intake"]
    # Run under a lax umask, as a shell might have it: the service must not inherit it.
    for argv in (["db", "upgrade"], ["ingest", str(eml), "--received-at", "2022-09-28T10:00"], ["poll", "--once"]):
        done = subprocess.run([*intake, *argv], env=env, capture_output=True, text=True, timeout=120,
                              umask=0o022)
        assert done.returncode == 0, done.stderr
    var = root / "var"
    files = [p for p in var.rglob("*") if p.is_file()]
    folders = [var, *(p for p in var.rglob("*") if p.is_dir())]
    names = {p.name for p in files}
    assert "intake.db" in names and any(n.startswith("kvittering-") for n in names), names
    assert any(p.parent.name != "var" for p in files)  # the store's own files are among them
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in folders:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path


def test_a_workflow_template_cannot_reach_python(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "22-414").mkdir()
    (tmp_path / "22-414" / "kvittering.txt.j2").write_text(
        "{% set receipt_subject %}Kvittering{% endset %}"
        f"{{{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}}}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"22-414/kvittering\.txt\.j2"):
        render(context("nb"), "on_time", "nb", override="22-414/kvittering.txt.j2", workflows_path=tmp_path)
    assert not marker.exists()
    (tmp_path / "22-414" / "kvittering.txt.j2").write_text(
        "{% set receipt_subject %}Kvittering{% endset %}{{ ''.__class__.__mro__[1].__subclasses__() }}\n",
        encoding="utf-8")
    with pytest.raises(TemplateError):
        render(context("nb"), "on_time", "nb", override="22-414/kvittering.txt.j2", workflows_path=tmp_path)


@pytest.mark.parametrize("key", ["secret_key", "secret_key_file"])
def test_the_unused_web_secret_key_is_refused_with_a_reason(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError, match=f"web.*{key} is no longer used"):
        settings_from_dict({"web": {key: "x"}}, root=tmp_path)
    assert "secret_key" not in type(settings_from_dict({}, root=tmp_path).web).model_fields


@pytest.mark.parametrize("name", ["intake.image.toml", "intake.compose.toml"])
def test_the_image_config_sets_secure_cookies(name: str) -> None:
    import tomllib

    from intake.config import WebSettings

    web = WebSettings.model_validate(tomllib.loads((REPO / "deploy" / name).read_text(encoding="utf-8"))["web"])
    assert web.secure_cookies is True and web.cookies_secure
