"""Benchmark: exporting a case of 1,000 responses as archive packages, and exporting it again unchanged.

A fresh database gets the shipped workflows and 1,000 responses to 22/414, run
through the real pipeline (extraction workers on): most with the response form as
PDF, some with only a mail text, a few with the form as DOCX (which LibreOffice
turns into PDF/A, when it is installed). Then the whole case is exported to an
empty folder as ``intake archive export --case 22/414`` does it (two extraction
workers drawing the PDF/A files), and exported once more, when nothing has
changed and nothing may be written.

Figures: responses per second and milliseconds per response for the first export,
the files and bytes written, and the rate of the second one. Floors: the first
export at least 2 responses a second on two workers (a case of 1,000 in under
ten minutes), the unchanged one at least 200 a second.

    python bench/archive.py [--database POSTGRESQL_URL] [--responses 1000] [--docx-share 0.05]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlmodel import Session  # noqa: E402

from intake import workflows  # noqa: E402
from intake.archive.convert import soffice_path  # noqa: E402
from intake.archive.export import export_many, select_submissions  # noqa: E402
from intake.config import settings_from_dict  # noqa: E402
from intake.db.engine import session_scope, upgrade  # noqa: E402
from intake.pipeline.run import ingest  # noqa: E402
from intake.runtime import Runtime  # noqa: E402
from intake.store.messages import Source  # noqa: E402
from tests.builders import make_email  # noqa: E402
from tests.pgscratch import scratch_database  # noqa: E402

FORMS = REPO / "tests" / "fixtures" / "forms"
FIRST = datetime(2022, 6, 1, 8, 0, tzinfo=UTC)
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
FLOOR_FIRST = 2.0
FLOOR_AGAIN = 200.0


def _responses(count: int, docx_share: float) -> list[bytes]:
    pdf = (FORMS / "skjema-ja.pdf").read_bytes()
    docx = (FORMS / "skjema-nei.docx").read_bytes()
    every_docx = max(1, round(1 / docx_share)) if docx_share > 0 else 0
    out = []
    for n in range(count):
        if every_docx and n % every_docx == 0:
            files = [("Høringssvar.docx", DOCX, docx)]
        elif n % 5 == 1:
            files = []
        else:
            files = [(f"Høringssvar {n}.pdf", "application/pdf", pdf)]
        out.append(make_email(sender=f"Organisasjon {n} <post@org{n}.no>", attachments=files,
                              body=f"Vedlagt følger vårt høringssvar.\n\nMed vennlig hilsen\nOrganisasjon {n}\n" * 3))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="a PostgreSQL URL (a scratch database is made on it)")
    parser.add_argument("--responses", type=int, default=1000)
    parser.add_argument("--docx-share", type=float, default=0.05)
    args = parser.parse_args()
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="intake-bench-archive-")))
        url = stack.enter_context(scratch_database("intake_bench_archive", args.database)) if args.database \
            else f"sqlite:///{folder / 'intake.db'}"
        settings = settings_from_dict({
            "database": {"url": url}, "storage": {"path": str(folder / "store")},
            "workflows": {"path": str(REPO / "workflows")}, "extract": {"workers": 2},
        }, root=folder)
        rt = Runtime.open(settings)
        stack.callback(rt.close)
        upgrade(rt.engine)
        with session_scope(rt.engine) as session:
            workflows.sync(session, settings.workflows.path)
        started = time.monotonic()
        for n, raw in enumerate(_responses(args.responses, args.docx_share)):
            ingest(rt, raw, Source(kind="file"), FIRST + timedelta(minutes=n))
        print(f"ingested {args.responses} responses in {time.monotonic() - started:.0f} s "
              f"(LibreOffice {'found' if soffice_path('soffice') else 'NOT installed: DOCX go without PDF/A'})")
        with Session(rt.engine) as session:
            ids, _ = select_submissions(session, case="22/414")
        out = folder / "drop"
        started = time.monotonic()
        first = export_many(rt, ids, out, actor="bench", create=True)
        took = time.monotonic() - started
        files = [p for p in out.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        rate = len(ids) / took
        print(f"first export: {first.count('written')} packages, {len(files)} files, {size / 2**20:.1f} MiB in "
              f"{took:.1f} s: {rate:.1f} responses/s, {1000 * took / len(ids):.0f} ms per response "
              f"({first.count('failed')} failed)")
        started = time.monotonic()
        again = export_many(rt, ids, out, actor="bench")
        took_again = time.monotonic() - started
        rate_again = len(ids) / took_again
        print(f"unchanged export: {again.count('unchanged')} unchanged, {again.count('written')} written in "
              f"{took_again:.2f} s: {rate_again:.0f} responses/s")
        print(f"database: {'postgresql' if args.database else 'sqlite'}")
        print(f"floor: first {rate / FLOOR_FIRST:.2f}x of {FLOOR_FIRST:g}/s, unchanged {rate_again / FLOOR_AGAIN:.2f}x "
              f"of {FLOOR_AGAIN:g}/s: {'OK' if rate >= FLOOR_FIRST and rate_again >= FLOOR_AGAIN else 'BELOW'}")
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
