"""The publishing package: static HTML and the documents, nothing withheld, flagged or left out."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from intake import workflows
from intake.config import Settings
from intake.db.engine import session_scope
from intake.db.models import AuditLog, Case
from intake.pipeline.run import ingest
from intake.publish.package import PublishError, build_package
from intake.review.actions import decide_late, set_withheld
from intake.runtime import Runtime
from intake.store.messages import Source
from tests.consultation import ON_TIME, forwarded, respond
from tests.staff import two_roles  # noqa: F401  (the fixture)
from tests.web_support import login

PDF = b"%PDF-1.4\n% a document\n"


def _seed(rt: Runtime) -> dict[str, int]:
    ids = {
        "legemiddelverket": respond(rt, sender="Statens legemiddelverk <post@legemiddelverket.no>",
                                    attachments=[("Høringssvar.pdf", "application/pdf", PDF)]),
        "abelia": respond(rt, sender="Abelia <post@abelia.no>", attachments=[("Abelia svar.pdf", "application/pdf",
                                                                             PDF + b"abelia")]),
        "oslo": respond(rt, sender="Oslo kommune <postmottak@oslo.kommune.no>", body="Oslo kommune støtter målene."),
        "aas": respond(rt, sender="Ås kommune <post@as.kommune.no>", body="Ås kommune støtter målene."),
        "person": respond(rt, sender="Kari Nordmann <kari@gmail.com>", body="Jeg støtter strategien."),
        "withheld": respond(rt, sender="Delta <post@delta.no>", body="Fortrolig."),
        "personal": respond(rt, sender="Fagforbundet <post@fagforbundet.no>", body="Fnr 01019012057 er med."),
        "rejected": respond(rt, sender="Tekna <post@tekna.no>", body="For sent.",
                            when=ON_TIME.replace(month=10, day=20)),
    }
    # Forwarded by the secretariat: the documents inside the forward are published, not the .eml.
    raw = forwarded("Sekretariatet <sekretariat@ffo.no>", "FFO <post@ffo.no>",
                    [("FFO svar.pdf", "application/pdf", PDF + b"f")])
    result = ingest(rt, raw, Source(kind="file"), ON_TIME)
    assert result.submission_id is not None
    ids["forward"] = result.submission_id
    with session_scope(rt.engine) as session:
        set_withheld(session, ids["withheld"], withheld=True, actor="kari", reason="Unntatt offentlighet")
        decide_late(session, ids["rejected"], accept=False, actor="kari")
    return ids


def test_the_package_holds_what_is_published_in_order(rt: Runtime, tmp_path: Path) -> None:
    _seed(rt)
    out = tmp_path / "pakke"
    index = build_package(rt, "22/414", out, actor="anne")
    html = index.read_text(encoding="utf-8")
    assert "<script" not in html and '<html lang="nb">' in html
    headings = re.findall(r"<h2[^>]*>([^<]+)</h2>", html)
    # The workflow's categories in its order, then the fallbacks (Kommuner, Andre, Privatpersoner).
    assert headings == ["Næringsliv (1)", "Statlige etater (1)", "Organisasjoner (1)", "Kommuner (2)",
                        "Privatpersoner (1)"]
    names = re.findall(r'<th scope="row">([^<]+)</th>', html)
    # Alphabetical within a category, with Ås after Oslo as Norwegian sorts it; a person as «Privatperson».
    assert names == ["Abelia", "Statens legemiddelverk", "Funksjonshemmedes Fellesorganisasjon", "Oslo kommune",
                     "Ås kommune", "Privatperson"]
    for left_out in ("Delta", "Fagforbundet", "Tekna", "Kari Nordmann", ".eml"):
        assert left_out not in html
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert "dokumenter/0003 Funksjonshemmedes Fellesorganisasjon/FFO svar.pdf" in files
    assert not any(f.endswith(".eml") for f in files)
    assert (out / "dokumenter/0001 Abelia/Abelia svar.pdf").read_bytes() == PDF + b"abelia"
    assert (out / "dokumenter/0006 Privatperson/E-post.txt").read_text(encoding="utf-8").startswith(
        "Jeg støtter strategien.")
    # Every link in the page leads to a file of the package.
    for link in re.findall(r'href="([^"]+)"', html):
        from urllib.parse import unquote

        assert (out / unquote(link)).is_file(), link
    with session_scope(rt.engine) as session:
        entry = session.exec(select(AuditLog).where(AuditLog.action == "case.published")).one()
        assert entry.actor == "anne" and (entry.detail or {})["responses"] == 6
    with pytest.raises(PublishError, match="ikke tom"):
        build_package(rt, "22/414", out)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_private_persons_by_name_when_configured(settings_factory: Callable[..., Settings], tmp_path: Path) -> None:
    rt = Runtime.open(settings_factory(publication={"private_persons": "name"}), extract=True)
    try:
        with session_scope(rt.engine) as session:
            workflows.sync(session, rt.settings.workflows.path)
        respond(rt, sender="Kari Nordmann <kari@gmail.com>", body="Jeg støtter strategien.")
        html = build_package(rt, "22/414", tmp_path / "ut").read_text(encoding="utf-8")
    finally:
        rt.close()
    assert '<th scope="row">Kari Nordmann</th>' in html and "Privatperson<" not in html


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_package_is_downloaded_by_an_admin_only(rt: Runtime, two_roles: TestClient) -> None:  # noqa: F811
    client = two_roles
    _seed(rt)
    with session_scope(rt.engine) as session:
        case_id = session.exec(select(Case.id).where(Case.number == "22/414")).one()
    csrf = login(client, "kari")
    listing = client.get(f"/cases/{case_id}/publication").text
    assert "publication.zip" not in listing
    assert client.get(f"/cases/{case_id}/publication.zip").status_code == 403
    client.post("/logout", data={"csrf_token": csrf})
    login(client, "anne")
    assert "Last ned publiseringspakken (ZIP)" in client.get(f"/cases/{case_id}/publication").text
    response = client.get(f"/cases/{case_id}/publication.zip")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(BytesIO(response.content)) as archive:
        names = archive.namelist()
    assert "index.html" in names and "dokumenter/0001 Abelia/Abelia svar.pdf" in names
