"""The daemon's drop folder: filled by mode, and a full or read-only folder is an error that marks nothing exported.

The full and read-only folders are real: a small tmpfs, mounted read-write or
read-only (root can write through permission bits, not through either of these).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from intake.archive.job import fill_drop_folder
from intake.db.engine import session_scope
from intake.db.models import ArchiveExport, Submission
from intake.review import actions
from intake.review.serialize import submission_json
from intake.runtime import Runtime
from intake.web.app import create_app
from tests.archive_support import check_package, open_rt, receipt_ref, received
from tests.builders import make_email
from tests.conftest import need


@contextmanager
def tmpfs(path: Path, *, size_kb: int, read_only: bool = False) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size_kb}k" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        need("tmpfs", f"cannot mount a small file system: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _status(rt: Runtime, sub_id: int) -> str:
    with Session(rt.engine) as session:
        sub = session.get(Submission, sub_id)
        assert sub is not None
        return str(submission_json(session, sub)["archive"]["status"])


def test_when_reviewed_waits_for_the_review_and_immediately_does_not(settings_factory: Any, tmp_path: Path) -> None:
    rt = open_rt(settings_factory, tmp_path, mode="when_reviewed")
    try:
        clean = received(rt, make_email())
        flagged = received(rt, make_email(sender="Ola <ola@example.org>", subject="Innspill", body="Uten sak."))
        with session_scope(rt.engine) as session:
            actions.set_case(session, flagged, "22/414", actor="kari")
        late = received(rt, make_email(sender="Datatilsynet <post@datatilsynet.no>"),
                        datetime(2022, 10, 3, 9, 0, tzinfo=UTC))
        report = fill_drop_folder(rt)
        assert report is not None
        written = {o.submission_id for o in report.outcomes if o.status == "written"}
        # The one set by hand has its case flags resolved; the late one waits for staff.
        assert written == {clean, flagged}
        with session_scope(rt.engine) as session:
            actions.decide_late(session, late, accept=True, actor="kari")
        again = fill_drop_folder(rt)
        assert again is not None and [o.submission_id for o in again.outcomes if o.status == "written"] == [late]
        drop = rt.settings.archive.path
        assert drop is not None
        for sub_id in (clean, flagged):
            check_package(rt, drop / receipt_ref(rt, sub_id))
        # Accepting the late one changed its package's facts: its decision is in it.
        assert _status(rt, late) == "exported"
    finally:
        rt.close()


def test_manual_mode_writes_nothing_by_itself(settings_factory: Any, tmp_path: Path) -> None:
    rt = open_rt(settings_factory, tmp_path)
    try:
        received(rt, make_email())
        assert fill_drop_folder(rt) is None
    finally:
        rt.close()


HEALTH_TOKEN = "drop-folder-monitor"


def _health(rt: Runtime) -> tuple[int, dict[str, Any]]:
    """/healthz as a monitor with the token reads it; without one it says only that the archive is unwell."""
    web = rt.settings.web.model_copy(update={"health_token": HEALTH_TOKEN})
    monitored = dataclasses.replace(rt, settings=rt.settings.model_copy(update={"web": web}))
    with TestClient(create_app(monitored)) as client:
        anonymous = client.get("/healthz").json()
        response = client.get("/healthz", headers={"Authorization": f"Bearer {HEALTH_TOKEN}"})
        body = response.json()
        if "archive" in body:
            assert anonymous["archive"] == {"ok": body["archive"]["ok"]}
        return response.status_code, body


@pytest.mark.parametrize("read_only", [False, True], ids=["full", "read-only"])
def test_a_full_or_read_only_drop_folder_is_an_error_and_nothing_is_marked_exported(
    settings_factory: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, read_only: bool
) -> None:
    if os.geteuid() != 0:
        need("tmpfs", "mounting a small file system needs root")
    with tmpfs(tmp_path / "drop", size_kb=256, read_only=read_only):
        rt = open_rt(settings_factory, tmp_path, mode="immediately")
        try:
            sub_id = received(rt, make_email(attachments=[("bilag.bin", "application/octet-stream",
                                                           os.urandom(512 * 1024))]))
            with caplog.at_level(logging.ERROR, logger="intake.archive"):
                report = fill_drop_folder(rt)
            assert report is not None
            (outcome,) = report.outcomes
            expected = "arkivmappen er skrivebeskyttet" if read_only else "arkivmappen er full"
            assert outcome.status == "failed" and outcome.reason is not None and expected in outcome.reason
            assert any(expected in r.getMessage() for r in caplog.records)
            drop = rt.settings.archive.path
            assert drop is not None
            assert [p.name for p in drop.iterdir() if not p.name.startswith(".")] == []
            assert _status(rt, sub_id) == "not_exported"
            with Session(rt.engine) as session:
                assert [r.status for r in session.exec(select(ArchiveExport))] == ["failed"]
            code, body = _health(rt)
            assert code == 503 and body["ok"] is False
            assert body["archive"]["ok"] is False and expected in body["archive"]["error"]
        finally:
            rt.close()
    # Once the folder takes packages again, the next run writes it and the health is good again.
    rt = open_rt(settings_factory, tmp_path, mode="immediately")
    try:
        report = fill_drop_folder(rt)
        assert report is not None and [o.status for o in report.outcomes] == ["written"]
        assert _status(rt, sub_id) == "exported"
        code, body = _health(rt)
        assert code == 200
        assert body["archive"] == {"ok": True, "path": str(tmp_path / "drop"), "mode": "immediately", "error": None}
    finally:
        rt.close()
