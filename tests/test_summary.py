"""The summary of a case: choices for invited bodies and others, categories, no-comment responses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from intake.db.engine import session_scope
from intake.db.models import Case
from intake.review.letter import own_words
from intake.review.no_comments import is_no_comment
from intake.review.summary import case_summary, summary_json
from intake.runtime import Runtime
from intake.web.app import create_app
from tests.conftest import REPO
from tests.consultation import form_text, respond
from tests.web_support import add_user, login

LONG_LETTER = (
    "Vi har ingen merknader til kapittel 3. Kapittel 4 bør derimot skrives om, fordi målene der ikke kan "
    "måles og fordi kommunene ikke har fått være med på arbeidet. Vi ber om at direktoratet tar med "
    "kommunesektoren i den videre prosessen, og at målindikatorene knyttes til tiltak som faktisk kan "
    "gjennomføres innen strategiperioden, med finansiering som følger ansvaret."
)


@pytest.fixture
def responses(rt: Runtime) -> dict[str, int]:
    ids = {
        "legemiddelverket": respond(rt, sender="Statens legemiddelverk <post@legemiddelverket.no>",
                                    form=form_text("Ja", "Målene er gode.")),
        "datatilsynet": respond(rt, sender="Datatilsynet <postkasse@datatilsynet.no>",
                                form=form_text("Nei", "Personvernet er glemt.")),
        "bergen": respond(rt, sender="Bergen kommune <postmottak@bergen.kommune.no>", form=form_text("Ja")),
        "kari": respond(rt, sender="Kari Nordmann <kari.nordmann@gmail.com>", form=form_text("Vet ikke", "Usikker.")),
        "helsedir": respond(rt, sender="Helsedirektoratet <post@helsedir.no>",
                            body="Hei,\n\nHelsedirektoratet har ingen merknader til høringen.\n\n"
                                 "Med vennlig hilsen\nHelsedirektoratet"),
        "nynorsk": respond(rt, sender="Sogn <post@sogn.example.no>", body="Vi har ingen merknadar til saka."),
        "english": respond(rt, sender="Partner <mail@partner.example.com>", body="We have no comments. Regards"),
        "long": respond(rt, sender="Fagforbundet <post@fagforbundet.no>", body=LONG_LETTER),
    }
    # An out-of-office reply that quotes the case number is no response.
    respond(rt, sender="Ferie <ferie@abelia.no>", subject="Automatisk svar: Høringssvar sak 22/414",
            body="Jeg er på ferie.")
    return ids


def _summary(rt: Runtime) -> dict[str, object]:
    with session_scope(rt.engine) as session:
        case = session.exec(select(Case).where(Case.number == "22/414")).one()
        return summary_json(case_summary(session, case))


def test_summary_counts_choices_for_invited_and_others(rt: Runtime, responses: dict[str, int]) -> None:
    data = _summary(rt)
    assert data["responses"] == 8
    assert data["no_comments"] == 3
    assert sorted(data["no_comment_submissions"]) == sorted(  # type: ignore[call-overload]
        [responses["helsedir"], responses["nynorsk"], responses["english"]]
    )
    q1 = data["questions"]["q1"]  # type: ignore[index]
    assert q1["choices"] == {"Ja": 2, "Nei": 1, "Vet ikke": 1}
    assert q1["answered"] == 4
    assert q1["invited"] == {"answered": 2, "choices": {"Ja": 1, "Nei": 1, "Vet ikke": 0}}
    assert q1["others"] == {"answered": 2, "choices": {"Ja": 1, "Nei": 0, "Vet ikke": 1}}
    assert q1["by_category"]["Ja"] == {"Statlige etater": 1, "Kommuner": 1}
    categories = data["categories"]
    # The workflow's category, then the fallbacks: a kommune.no domain, a person, everyone else.
    assert categories["Statlige etater"] == {"responses": 3, "invited": 3}  # type: ignore[index]
    assert categories["Kommuner"] == {"responses": 1, "invited": 0}  # type: ignore[index]
    assert categories["Privatpersoner"] == {"responses": 1, "invited": 0}  # type: ignore[index]
    assert categories["Organisasjoner"] == {"responses": 1, "invited": 1}  # type: ignore[index]
    assert categories["Andre"] == {"responses": 2, "invited": 0}  # type: ignore[index]


def test_summary_command_prints_the_contract_shape(rt: Runtime, responses: dict[str, int], tmp_path: Path) -> None:
    config = tmp_path / "config" / "intake.toml"
    config.parent.mkdir()
    config.write_text(
        f'[database]\nurl = "{rt.settings.database.url}"\n[storage]\npath = "{rt.settings.storage.path}"\n'
        f'[workflows]\npath = "{REPO / "workflows"}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    done = subprocess.run([sys.executable, "-m", "intake", "--config", str(config), "cases", "summary", "22/414",
                           "--json"], capture_output=True, text=True, env=env, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert {"case", "responses", "no_comments", "questions", "campaigns"} <= set(data)
    assert data["case"] == "22/414" and data["responses"] == 8 and data["no_comments"] == 3
    assert data["questions"]["q1"]["choices"] == {"Ja": 2, "Nei": 1, "Vet ikke": 1}
    assert data["questions"]["q1"]["answered"] == 4
    assert data["campaigns"] == []
    # The command grouped the campaigns first, since none had been grouped.
    assert data["campaigns_grouped_at"] is not None


@pytest.mark.parametrize(
    "text",
    [
        "Helsedirektoratet har ingen merknader til høringen.",
        "Vi har ingen kommentarer.",
        "Vi har ikke noen merknader til saken.",
        "Kommunen har ingen innspill i denne omgang.",
        "Fylkeskommunen har ingen innspel til høyringa.",
        "Vi har ikkje merknader.",
        "Departementet har ikke noe å bemerke.",
        "We have no comments on the draft strategy.",
        "Nothing to add from our side.",
    ],
)
def test_no_comment_phrases_in_three_languages(text: str) -> None:
    assert is_no_comment(own_words(f"Hei,\n\n{text}\n\nMed vennlig hilsen\nOla Nordmann\nRådgiver"))


@pytest.mark.parametrize(
    "text",
    [LONG_LETTER, "Vi støtter strategien.", "Vi har merknader til kapittel 2 og 3.", ""],
)
def test_a_real_response_is_not_a_no_comment(text: str) -> None:
    assert not is_no_comment(own_words(text))


@pytest.fixture
def client(rt: Runtime, responses: dict[str, int]) -> Iterator[TestClient]:
    add_user(rt)
    with TestClient(create_app(rt)) as c:
        login(c)
        yield c


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_summary_page_charts_and_filters(rt: Runtime, client: TestClient, responses: dict[str, int]) -> None:
    with session_scope(rt.engine) as session:
        case_id = session.exec(select(Case.id).where(Case.number == "22/414")).one()
    page = client.get(f"/cases/{case_id}/summary").text
    # The chart is drawn on the server, with the same numbers in a table beside it.
    chart = re.search(r'<svg class="chart".*?</svg>', page, re.S)
    assert chart and "Ja: 2 (1 inviterte, 1 andre)" in chart.group(0)
    assert "<caption>Svar på q1</caption>" in page
    assert "Målene er gode." in page and "Personvernet er glemt." in page
    # Filtered to the invited bodies, the municipality and the private person drop out of the answers.
    filtered = client.get(f"/cases/{case_id}/summary", params={"sporsmal": "q1", "invitert": "ja"}).text
    answers = filtered.split('id="svar"')[1].split('id="kampanjer"')[0]
    assert "Statens legemiddelverk" in answers and "Datatilsynet" in answers
    assert "Bergen kommune" not in answers and "Kari Nordmann" not in answers
    by_text = client.get(f"/cases/{case_id}/summary", params={"tekst": "personvern"}).text
    assert "2 svar" not in by_text and "1 svar" in by_text
    # The letters outside the form are read the same way, without greeting and signature.
    letters = client.get(f"/cases/{case_id}/summary", params={"sporsmal": "brev"}).text
    listed = letters.split('id="svar"')[1].split('id="kampanjer"')[0]
    assert "Kapittel 4 bør derimot skrives om" in listed and "Fagforbundet" in listed
    assert "Helsedirektoratet har ingen merknader til høringen." in listed and "Med vennlig hilsen" not in listed
    assert "Statens legemiddelverk" not in listed
    # The API gives what the command prints.
    api = client.get("/api/cases/22/414/summary").json()
    assert api["responses"] == 8 and api["questions"]["q1"]["choices"] == {"Ja": 2, "Nei": 1, "Vet ikke": 1}
    assert client.get("/api/cases/99/999/summary").status_code == 404
