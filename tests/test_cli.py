"""The intake command as operators script it (CONTRACT.md), run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import make_email
from tests.conftest import REPO

INTAKE = [sys.executable, "-m", "intake"]


def run(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    full_env.update(env or {})
    return subprocess.run([*INTAKE, "--config", str(config), *args], capture_output=True, text=True,
                          env=full_env, timeout=120, cwd=REPO)


@pytest.fixture
def project(tmp_path: Path, database_url: str) -> Path:
    (tmp_path / "config").mkdir()
    config = tmp_path / "config" / "intake.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n[workflows]\npath = "{REPO / "workflows"}"\n'
        '[extract]\nworkers = 1\n[smtp]\nfrom_address = "postmottak@ehelse.no"\n'
    )
    return config


def test_upgrade_sync_ingest_and_list(project: Path, tmp_path: Path) -> None:
    assert run(project, "db", "upgrade").returncode == 0
    synced = run(project, "workflows", "sync")
    assert synced.returncode == 0, synced.stderr
    assert "22/414" in synced.stderr and "21/761" in synced.stderr
    on_time = tmp_path / "svar.eml"
    on_time.write_bytes(make_email())
    late = tmp_path / "sent.eml"
    late.write_bytes(make_email(subject="Høringssvar sak 21/761", sender="post@helsedir.no"))
    first = run(project, "ingest", str(on_time), "--received-at", "2022-09-28T10:15:00+02:00")
    assert first.returncode == 0, first.stderr
    second = run(project, "ingest", str(late), str(on_time), "--received-at", "2022-04-12T00:30:00")
    assert second.returncode == 0, second.stderr
    assert "1 new, 1 already known" in second.stderr

    listed = run(project, "submissions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert [(s["case"], s["late"], s["received_at"]) for s in data] == [
        ("21/761", True, "2022-04-12T00:30:00+02:00"),
        ("22/414", False, "2022-09-28T10:15:00+02:00"),
    ]
    keys = {"id", "message_id", "mailbox", "sender", "sender_name", "subject", "received_at", "case",
            "match_source", "late", "flags", "organisation", "attachments", "form", "acknowledgement"}
    assert keys <= set(data[0])
    late_only = json.loads(run(project, "submissions", "list", "--json", "--flag", "late").stdout)
    assert [s["case"] for s in late_only] == ["21/761"]
    by_case = json.loads(run(project, "submissions", "list", "--json", "--case", "2022/414").stdout)
    assert [s["case"] for s in by_case] == ["22/414"]

    cases = json.loads(run(project, "cases", "list", "--json").stdout)
    counts = {c["case"]: c["counts"] for c in cases}
    # This project trusts no border's Authentication-Results, so the invited body's sender is not yet
    # confirmed (an open suspicious_sender flag): it is received, and does not yet tick the body off,
    # the same count the pages show (intake.review.queries.case_counts).
    assert "suspicious_sender" in next(s["flags"] for s in data if s["case"] == "22/414")
    assert counts["22/414"]["received"] == 1 and counts["22/414"]["invited_responded"] == 0
    assert counts["21/761"]["late"] == 1


def test_mbox_file_is_ingested_message_by_message(project: Path, tmp_path: Path) -> None:
    run(project, "db", "upgrade")
    mbox = tmp_path / "export.mbox"
    with mbox.open("wb") as handle:
        for n in range(3):
            handle.write(b"From sender@example.no Mon Sep 26 10:00:00 2022\n")
            handle.write(make_email(subject=f"Høringssvar {n} sak 22/414", sender=f"p{n}@firma{n}.no"))
            handle.write(b"\n")
    result = run(project, "ingest", str(mbox))
    assert result.returncode == 0, result.stderr
    assert "3 new" in result.stderr
    data = json.loads(run(project, "submissions", "list", "--json").stdout)
    assert sorted(s["subject"] for s in data) == [f"Høringssvar {n} sak 22/414" for n in range(3)]


def test_bad_config_is_one_line_and_non_zero(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    config = tmp_path / "config" / "intake.toml"
    config.write_text("[database]\nurl = 1\nport = 2\n")
    result = run(config, "cases", "list", "--json")
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("config error: database.")


def test_unreachable_database_is_one_line_and_non_zero(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    config = tmp_path / "config" / "intake.toml"
    config.write_text('[database]\nurl = "postgresql+psycopg://nobody@127.0.0.1:1/none"\n')
    result = run(config, "poll", "--once")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: database unreachable")
