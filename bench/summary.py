"""Benchmark: a case after the deadline with 5,000 responses: summary page, XLSX, campaigns, package.

A fresh database gets the shipped workflows and 5,000 responses to case 22/414, inserted in
the shape the pipeline leaves them: the letters of ``tests/campaign_corpus.py`` (three planted
campaigns of 900, 400 and 150 copies among letters of their own), one in three from an invited
body (with its category), one in five from a private person; two in three answered the form
(a choice and a text for q1, a text for q2), and every other response has a PDF attachment
whose bytes are in the store. Then, each timed on its own:

- the campaign grouping (``review.campaigns.regroup``), with the precision and recall of the
  groups against the planted campaigns; target ≤ 10 s on 2 cores;
- the summary page, served in-process by the real application: the first view, which reads
  every letter's beginning, and the median of 5 (later views remember those); target ≤ 1 s;
- the XLSX for the case officer, through its download route; target ≤ 5 s;
- the publishing package (``intake publish``), every document read back and checked; target ≤ 30 s.

    python bench/summary.py [--database POSTGRESQL_URL] [--responses 5000]

Every figure is printed with its target and the ratio to it (under 1.0 is within the target).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402
from sqlmodel import select  # noqa: E402

from bench.process import database, insert_rows, runtime  # noqa: E402
from intake.db.engine import session_scope  # noqa: E402
from intake.db.models import Attachment, CampaignMember, Case, Message, Organisation, Submission, User  # noqa: E402
from intake.publish.package import build_package  # noqa: E402
from intake.review.campaigns import regroup  # noqa: E402
from intake.runtime import Runtime  # noqa: E402
from intake.web.app import create_app  # noqa: E402
from intake.web.auth import hash_password  # noqa: E402
from tests.campaign_corpus import planted_letters, precision_recall  # noqa: E402

FIRST = datetime(2022, 9, 1, 8, 0, tzinfo=UTC)
CHOICES = ("Ja", "Nei", "Vet ikke")
PASSWORD = "benk-benk-benk"
BATCH = 1000


def _pdf(number: int) -> bytes:
    # Unique bytes per response, about the size of a one-page response form.
    return b"%PDF-1.4\n" + f"% høringssvar {number}\n".encode() + bytes(range(256)) * 80


def prefill(rt: Runtime, total: int) -> dict[int, int | None]:
    """Inserts ``total`` responses; returns each submission's planted campaign (None: a letter of its own)."""
    letters = planted_letters(total)
    with session_scope(rt.engine) as session:
        case_id = session.exec(select(Case.id).where(Case.number == "22/414")).one()
        invited = list(session.exec(select(Organisation.id, Organisation.name).where(Organisation.kind == "invited")))
        session.add(User(name="bench", password_hash=hash_password(PASSWORD), role="admin"))
    planted: dict[int, int | None] = {}
    for start in range(0, total, BATCH):
        chunk = letters[start : start + BATCH]
        with session_scope(rt.engine) as session:
            orgs: list[tuple[int, str]] = []
            new_orgs = []
            for letter in chunk:
                n = letter.number
                if n % 3 == 0:
                    orgs.append(invited[n % len(invited)])
                    continue
                person = n % 5 == 1
                key = f"person:p{n}@gmail.com" if person else f"domain:org{n}.no"
                name = letter.sender_name if person else f"org{n}.no"
                new_orgs.append({"key": key, "name": name, "kind": "person" if person else "domain",
                                 "domains": [] if person else [f"org{n}.no"], "created_at": FIRST})
                orgs.append((-1, name))
            new_ids = iter(insert_rows(session, Organisation, new_orgs))
            orgs = [(next(new_ids), name) if org_id == -1 else (org_id, name) for org_id, name in orgs]
            when = [FIRST + timedelta(seconds=500 * p.number) for p in chunk]
            message_ids = insert_rows(session, Message, [
                {"sha256": f"{p.number:064x}", "size": 2000, "blob": "prefilled", "source": "file",
                 "received_at": w, "stored_at": w, "status": "processed", "attempts": 0, "processed_at": w}
                for p, w in zip(chunk, when, strict=True)
            ])
            subs = insert_rows(session, Submission, [
                {"message_ref": mid, "sender": f"p{p.number}@gmail.com" if p.number % 5 == 1 else
                 f"post@org{p.number}.no", "sender_name": p.sender_name, "subject": "Høringssvar sak 22/414",
                 "body_text": p.body, "received_at": w, "case_id": case_id, "case_number": "22/414",
                 "match_source": "subject", "late": False, "organisation_id": org_id, "organisation": name,
                 "form": _form(p.number, p.campaign), "receipt_ref": f"B-{p.number:08d}", "review_status": "open",
                 "decision": None, "withheld": False, "body_withheld": False, "created_at": w, "updated_at": w}
                for p, w, mid, (org_id, name) in zip(chunk, when, message_ids, orgs, strict=True)
            ])
            files = []
            for p, sid in zip(chunk, subs, strict=True):
                planted[sid] = p.campaign
                if p.number % 2 == 0:
                    sha, blob = rt.store.put(_pdf(p.number))
                    files.append({"submission_id": sid, "position": 0, "filename": f"Høringssvar {p.number}.pdf",
                                  "content_type": "application/pdf", "size": len(_pdf(p.number)), "sha256": sha,
                                  "blob": blob, "inline": False, "depth": 0, "text": None, "text_chars": 0,
                                  "extraction_status": "ok", "withheld": False})
            insert_rows(session, Attachment, files)
    return planted


def _form(number: int, campaign: int | None) -> dict[str, Any] | None:
    # A campaign is a letter, not a form; two in three of the others answered the form.
    if campaign is not None or number % 3 == 2:
        return None
    return {"q1": {"choice": CHOICES[number % 3], "text": f"Begrunnelse nummer {number} for valget."},
            "q2": {"text": f"Indikatorene bør måles hvert år (svar {number})."}}


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def figure(name: str, seconds: float, target: float) -> None:
    print(f"{name:<34} {seconds:7.2f} s   target ≤ {target:g} s   ratio {seconds / target:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", help="a PostgreSQL server's URL (default: a SQLite file)")
    parser.add_argument("--responses", type=int, default=5000)
    args = parser.parse_args()
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="intake-bench-")))
        rt = runtime(stack.enter_context(database(args.database, folder)), folder)
        stack.callback(rt.close)
        started = time.perf_counter()
        planted = prefill(rt, args.responses)
        backend = rt.engine.dialect.name
        print(f"{args.responses} responses to 22/414 on {backend}, inserted in {time.perf_counter() - started:.1f} s")

        with session_scope(rt.engine) as session:
            case = session.exec(select(Case).where(Case.number == "22/414")).one()
            case_id = case.id
            grouping = timed(lambda: regroup(session, case))
        with session_scope(rt.engine) as session:
            found = {m.submission_id: m.campaign_id for m in session.exec(select(CampaignMember))
                     if m.status in ("member", "confirmed")}
        precision, recall = precision_recall(found, planted)
        figure("campaign grouping", grouping, 10)
        planted_count = sum(1 for c in planted.values() if c is not None)
        print(f"  {len(set(found.values()))} campaigns, {len(found)} letters grouped of {planted_count} planted: "
              f"precision {precision:.4f}, recall {recall:.4f}")

        client = stack.enter_context(TestClient(create_app(rt)))
        form = client.get("/login")
        token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token})
        pages = []
        for _ in range(5):
            started = time.perf_counter()
            response = client.get(f"/cases/{case_id}/summary")
            pages.append(time.perf_counter() - started)
            assert response.status_code == 200, response.status_code
        figure("summary page, first view", pages[0], 1)
        figure("summary page (median of 5)", statistics.median(pages), 1)
        xlsx = timed(lambda: client.get(f"/cases/{case_id}/summary.xlsx").raise_for_status())
        figure("XLSX of every response", xlsx, 5)
        package = timed(lambda: build_package(rt, "22/414", folder / "pakke"))
        documents = sum(1 for p in (folder / "pakke").rglob("*") if p.is_file()) - 1
        figure("publishing package", package, 30)
        print(f"  {documents} documents in the package")


if __name__ == "__main__":
    main()
