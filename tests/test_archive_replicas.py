"""Two processes exporting at once write each package once; a process killed mid-export leaves no half package.

Both are real ``intake archive export`` processes on the same database (SQLite and
PostgreSQL) and the same store, as two replicas of the service would be.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from sqlmodel import Session, select

from intake.archive.package import INCOMING
from intake.db.models import ArchiveExport
from intake.runtime import Runtime
from tests.archive_support import check_package, receipt_ref, received
from tests.builders import make_email
from tests.conftest import REPO
from tests.test_cli import INTAKE, run


def _config(tmp_path: Path, rt: Runtime) -> Path:
    (tmp_path / "config").mkdir(exist_ok=True)
    config = tmp_path / "config" / "intake.toml"
    config.write_text(
        f'[database]\nurl = "{rt.settings.database.url}"\n[storage]\npath = "{rt.settings.storage.path}"\n'
        f'[workflows]\npath = "{REPO / "workflows"}"\n[extract]\nworkers = 0\n', encoding="utf-8")
    return config


def _start(config: Path, out: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    return subprocess.Popen([*INTAKE, "--config", str(config), "archive", "export", "--case", "22/414", "--out",
                             str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def _seed(rt: Runtime, count: int, attachment: bytes = b"") -> list[int]:
    files = [("bilag.bin", "application/octet-stream", attachment)] if attachment else []
    return [received(rt, make_email(sender=f"Org {n} <post@org{n}.no>", attachments=files)) for n in range(count)]


def _packages(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if not p.name.startswith("."))


def _rows(rt: Runtime) -> list[tuple[int, int, str]]:
    with Session(rt.engine) as session:
        return sorted((r.submission_id, r.version, r.status) for r in session.exec(select(ArchiveExport)))


def test_two_replicas_exporting_at_once_write_each_package_once(rt: Runtime, tmp_path: Path) -> None:
    ids = _seed(rt, 10)
    config = _config(tmp_path, rt)
    out = tmp_path / "drop"
    first, second = _start(config, out), _start(config, out)
    results = [p.communicate(timeout=180) for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], results
    assert _packages(out) == sorted(receipt_ref(rt, i) for i in ids)
    assert _rows(rt) == [(i, 1, "written") for i in ids]
    written = [int(err.strip().splitlines()[-1].split()[0]) for _, err in results]
    assert sum(written) == len(ids)
    for name in _packages(out):
        check_package(rt, out / name)
    listed = run(config, "submissions", "list", "--json", "--case", "22/414")
    assert listed.returncode == 0, listed.stderr
    states = [item["archive"] for item in json.loads(listed.stdout)]
    assert [(s["status"], s["version"]) for s in states] == [("exported", 1)] * len(ids)
    assert all(s["exported_at"].endswith(("+02:00", "+01:00")) for s in states)


def test_a_process_killed_mid_export_leaves_no_half_package(rt: Runtime, tmp_path: Path) -> None:
    ids = _seed(rt, 8, attachment=os.urandom(2 * 1024 * 1024))
    config = _config(tmp_path, rt)
    out = tmp_path / "drop"
    process = _start(config, out)
    incoming = out / INCOMING
    deadline = time.monotonic() + 120
    # Killed while a package is being written, after at least one was put in place.
    while not ((out.is_dir() and _packages(out)) and incoming.is_dir() and any(incoming.iterdir())):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the export never got under way"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert any(incoming.iterdir()), "killed between packages, not in the middle of one"
    placed = _packages(out)
    assert 0 < len(placed) < len(ids)
    for name in placed:
        check_package(rt, out / name)

    again = _start(config, out)
    _, err = again.communicate(timeout=180)
    assert again.returncode == 0, err
    assert _packages(out) == sorted(receipt_ref(rt, i) for i in ids)
    assert list(incoming.iterdir()) == []
    assert _rows(rt) == [(i, 1, "written") for i in ids]
    for name in _packages(out):
        check_package(rt, out / name)
