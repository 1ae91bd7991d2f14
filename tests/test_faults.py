"""Fault injection at small scale (bench/faults.py): kill -9, Dovecot and SMTP outages while mail arrives.

The shared PostgreSQL is not restarted here (other runs use it); the bench does
that with a private server.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from intake.db.engine import make_engine
from tests.conftest import need
from tests.dovecot import dovecot_binary
from tests.pgscratch import PG_ADMIN_URL

pytestmark = pytest.mark.slow


# Two seeds: the faults fall at other moments, a server hang-up after the data included.
@pytest.mark.parametrize("seed", [3, 5])
def test_every_message_is_stored_once_and_every_receipt_sent_once_through_kills_and_outages(
    tmp_path: Path, seed: int
) -> None:
    if dovecot_binary() is None:
        need("Dovecot", "the dovecot binary is not installed (Debian package dovecot-imapd)")
    admin = make_engine(PG_ADMIN_URL)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as err:  # any failure to reach the server means "not available"
        need("PostgreSQL", str(err).splitlines()[0])
    finally:
        admin.dispose()
    from bench.faults import Plan, run_faults

    plan = Plan(n=60, kills=3, sink_pause=4.0, dovecot_pause=2.0, database="postgresql", workers=2,
                feed_seconds=15.0, settle_timeout=45.0, seed=seed)
    report = run_faults(plan, tmp_path)
    log = (tmp_path / "serve.log").read_text(errors="replace")[-4000:]
    detail = f"{report.table()}\n{report.events}\n{log}"
    assert report.kills == 3
    assert report.stored == report.distinct_message_ids == report.submissions == 60, detail
    assert report.eligible > 0
    assert report.delivered == report.eligible, detail
    assert report.duplicates == 0, detail
