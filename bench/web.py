"""Benchmark: the clerk's pages with 10,000 submissions and their attachment text, on SQLite and PostgreSQL.

A fresh database gets the shipped workflows and 10,000 submissions to 22/414 in the shape the
pipeline leaves them: every one with a mail text and an attachment whose text is a page of
Norwegian words (one in 100 mentions «legemiddelmangel»), two in five late and flagged, one
in ten unmatched. One submission has a real five-page PDF in the store. Then, served
in-process by the real application, each timed as the server's time for the request:

- the queue's first page (median of 5); target ≤ 150 ms;
- a full-text search for a word in one in 100 attachments (median of 5); target ≤ 200 ms;
- a bulk «Godta for sene svar» of 100 selected rows; target ≤ 2 s;
- one PDF page as an image, the first time (rendered) and cached (median of 5); targets ≤ 300 ms / ≤ 20 ms;
- the submission page with a 20-page DOCX shown with its structure: the first time (the outline is
  read by an extraction worker) and cached (median of 5), beside the same page without it.

    python bench/web.py [--database POSTGRESQL_URL] [--only sqlite|postgresql] [--submissions 10000]

Every figure is printed with its target, the ratio to it and the machine's load average.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlmodel import select  # noqa: E402

from bench.process import database, insert_rows, runtime  # noqa: E402
from intake.db.engine import session_scope  # noqa: E402
from intake.db.models import Attachment, Case, Flag, Message, Submission, User  # noqa: E402
from intake.extract import Limits, PoolExtractor  # noqa: E402
from intake.runtime import Runtime  # noqa: E402
from intake.web.app import create_app  # noqa: E402
from intake.web.auth import hash_password  # noqa: E402
from tests.docx_builder import DOCX_TYPE, long_docx  # noqa: E402
from tests.pdf_builder import make_pdf, text_page  # noqa: E402
from tests.pgscratch import PG_ADMIN_URL  # noqa: E402

FIRST = datetime(2022, 9, 1, 8, 0, tzinfo=UTC)
PASSWORD = "benk-benk-benk"
BATCH = 1000
WORDS = ("strategien", "kommunene", "pasientene", "helsetjenesten", "digitalisering", "journal", "samhandling",
         "fastlegen", "sykehuset", "personvern", "informasjonssikkerhet", "finansiering", "tiltakene",
         "forslaget", "høringen", "departementet", "direktoratet", "kompetanse", "brukerne", "tjenestene")


def _text(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(300)]
    if n % 100 == 0:
        words[rng.randrange(300)] = "legemiddelmangel"
    return " ".join(words)


def prefill(rt: Runtime, total: int) -> tuple[int, int]:
    """Inserts ``total`` submissions; returns the case's id and the id of the attachment with a real PDF."""
    rng = random.Random(16)
    pdf = make_pdf([text_page([f"Side {p} av høringssvaret", "Vi støtter strategien."]) for p in range(1, 6)])
    with session_scope(rt.engine) as session:
        case_id = session.exec(select(Case.id).where(Case.number == "22/414")).one()
        session.add(User(name="bench", password_hash=hash_password(PASSWORD), role="admin"))
    pdf_attachment = 0
    for start in range(0, total, BATCH):
        numbers = range(start, min(start + BATCH, total))
        with session_scope(rt.engine) as session:
            when = [FIRST + timedelta(seconds=300 * n) for n in numbers]
            messages = insert_rows(session, Message, [
                {"sha256": f"{n:064x}", "size": 3000, "blob": "prefilled", "source": "file", "received_at": w,
                 "stored_at": w, "status": "processed", "attempts": 0, "processed_at": w}
                for n, w in zip(numbers, when, strict=True)])
            subs = insert_rows(session, Submission, [
                {"message_ref": m, "sender": f"post@org{n}.no", "sender_name": f"Organisasjon {n}",
                 "subject": f"Høringssvar {n} sak 22/414", "body_text": f"Vedlagt er vårt svar nummer {n}.",
                 "received_at": w, "case_id": None if n % 10 == 9 else case_id,
                 "case_number": None if n % 10 == 9 else "22/414", "match_source": "subject",
                 "late": n % 5 < 2, "organisation": f"Organisasjon {n}", "receipt_ref": f"W-{n:08d}",
                 "review_status": "open", "withheld": False, "body_withheld": False, "created_at": w,
                 "updated_at": w}
                for n, w, m in zip(numbers, when, messages, strict=True)])
            flags = []
            for n, sid in zip(numbers, subs, strict=True):
                if n % 5 < 2:
                    flags.append({"submission_id": sid, "name": "late", "detail": "mottatt etter fristen",
                                  "created_at": FIRST})
                if n % 10 == 9:
                    flags.append({"submission_id": sid, "name": "unmatched", "detail": "fant ikke saksnummer i subject",
                                  "created_at": FIRST})
            insert_rows(session, Flag, flags)
            files = []
            for n, sid in zip(numbers, subs, strict=True):
                body = _text(rng, n)
                data = pdf if n == 0 else body.encode()
                sha, blob = rt.store.put(data)
                files.append({"submission_id": sid, "position": 0, "filename": f"Svar {n}.pdf",
                              "content_type": "application/pdf", "size": len(data), "sha256": sha, "blob": blob,
                              "inline": False, "depth": 0, "text": body, "text_chars": len(body),
                              "pages": 5 if n == 0 else 1, "extraction_status": "ok", "withheld": False})
            ids = insert_rows(session, Attachment, files)
            if start == 0:
                pdf_attachment = ids[0]
    if rt.engine.dialect.name == "postgresql":
        with rt.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    return case_id, pdf_attachment


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def figure(name: str, seconds: float, target: float) -> None:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"  {name:<36} {seconds * 1000:8.1f} ms   target ≤ {target * 1000:g} ms   "
          f"ratio {seconds / target:.2f}   load {load}")


def run(url: str, folder: Path, total: int) -> None:
    with ExitStack() as stack:
        rt = runtime(url, folder)
        stack.callback(rt.close)
        started = time.perf_counter()
        _, attachment_id = prefill(rt, total)
        print(f"{total} submissions on {rt.engine.dialect.name}, inserted in {time.perf_counter() - started:.1f} s")
        client = stack.enter_context(TestClient(create_app(rt)))
        form = client.get("/login")
        token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token})
        csrf = client.get("/search").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]

        def median(path: str, **params: str) -> float:
            times = []
            for _ in range(5):
                started = time.perf_counter()
                response = client.get(path, params=params)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, (path, response.status_code)
            return statistics.median(times)

        figure("queue, first page (median of 5)", median("/queue"), 0.150)
        figure("queue, late, by sender (median of 5)", median("/queue", flag="late", sort="sender"), 0.150)
        page = client.get("/search", params={"q": "legemiddelmangel"}).text
        assert f"Treff i teksten ({total // 100})" in page, "the search did not find every planted word"
        figure("full-text search (median of 5)", median("/search", q="legemiddelmangel"), 0.200)
        figure("full-text search, 2 common words", median("/search", q="strategien kommunene"), 0.200)
        with session_scope(rt.engine) as session:
            late = list(session.exec(select(Flag.submission_id).where(Flag.name == "late").limit(100)))
        bulk = timed(lambda: client.post("/queue/bulk", data={"csrf_token": csrf, "action": "accept_late",
                                                              "ids": [str(i) for i in late]}).raise_for_status())
        figure("bulk accept of 100 rows", bulk, 2.0)
        with session_scope(rt.engine) as session:
            sub_id = session.get(Attachment, attachment_id).submission_id  # type: ignore[union-attr]
        png = f"/submissions/{sub_id}/attachments/{attachment_id}/pages/1.png"
        figure("PDF page preview, first time", timed(lambda: client.get(png).raise_for_status()), 0.300)
        figure("PDF page preview, cached (median of 5)", median(png), 0.020)
        # The outline is read by a real extraction worker, as under «intake serve».
        rt.extractor = stack.enter_context(PoolExtractor(1, Limits()))
        plain, word = _docx_submission(rt)
        figure("submission page, no DOCX (median of 5)", median(f"/submissions/{plain}"), 0.150)
        figure("page with 20-page DOCX, first time", timed(lambda: client.get(f"/submissions/{word}")
                                                             .raise_for_status()), 0.300)
        figure("page with 20-page DOCX, cached (median)", median(f"/submissions/{word}"), 0.150)


def _docx_submission(rt: Runtime) -> tuple[int, int]:
    """Two submissions without a PDF: one left as it is, one given a 20-page DOCX besides its attachment."""
    data = long_docx(20)
    sha, blob = rt.store.put(data)
    with session_scope(rt.engine) as session:
        plain, word = session.exec(select(Submission.id).order_by(Submission.id).offset(1).limit(2)).all()
        assert plain is not None and word is not None
        session.add(Attachment(submission_id=word, position=1, filename="Høringssvar.docx", content_type=DOCX_TYPE,
                               size=len(data), sha256=sha, blob=blob, text="(uthentet tekst)", text_chars=16,
                               extraction_status="ok"))
    return plain, word


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default=PG_ADMIN_URL, help="a PostgreSQL server's URL")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="run on one database only")
    parser.add_argument("--submissions", type=int, default=10_000)
    args = parser.parse_args()
    servers = {"sqlite": None, "postgresql": args.database}
    for name, server in servers.items():
        if args.only not in (None, name):
            continue
        with ExitStack() as stack:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="intake-bench-web-")))
            run(stack.enter_context(database(server, folder)), folder, args.submissions)


if __name__ == "__main__":
    main()
