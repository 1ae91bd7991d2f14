"""Campaigns: copies of one letter grouped, the maybe band put to a person, opposite letters kept apart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from intake.db.engine import session_scope
from intake.db.models import AuditLog, CampaignMember, Case, Flag
from intake.review.campaigns import decide_member, needs_grouping, regroup
from intake.review.grouping import Letter, group_letters
from intake.review.letter import own_words
from intake.review.summary import case_summary, summary_json
from intake.runtime import Runtime
from intake.web.app import create_app
from tests.campaign_corpus import planted_letters, precision_recall
from tests.consultation import respond
from tests.web_support import add_user, login

CAMPAIGN = (
    "Vi er sterkt uenige i at fastlegene skal pålegges nye rapporteringskrav gjennom strategien. "
    "Allerede i dag går en tredel av arbeidsdagen til dokumentasjon, og nye krav vil gå ut over tiden "
    "til pasientene. Vi ber derfor direktoratet om å fjerne tiltak fire og fem, og om å utrede konsekvensene "
    "for allmennlegetjenesten før strategien vedtas. Digitalisering må gjøre hverdagen enklere for dem som "
    "yter helsetjenester, ikke vanskeligere."
)
OWN = "Jeg har selv vært fastlege i tjue år og ser hvordan kravene har vokst."
INTRO = (
    "Vi viser til høringsbrev av 31. mai 2022 om Nasjonal e-helsestrategi for helse- og omsorgssektoren, "
    "og takker for muligheten til å gi innspill. Foreningen har behandlet saken i styret og har følgende merknader. "
)
OUTRO = " Vi ser fram til det videre arbeidet med strategien og bidrar gjerne i oppfølgingen."
FOR = (
    "Vi støtter at felles journalløsninger prioriteres, fordi pasientene i dag må gjenta sin historie for hver "
    "behandler, og fordi kommunene trenger tilgang til opplysninger fra sykehusene for å kunne gi trygge tjenester."
)
AGAINST = (
    "Vi går imot at felles journalløsninger prioriteres, fordi erfaringene fra Helseplattformen viser at store "
    "fellesløsninger gir høye kostnader, og fordi lokale løsninger gir bedre kontroll og raskere forbedringer."
)


def _letter(number: int, text: str, name: str = "Ola Nordmann") -> Letter:
    return Letter(number, own_words(f"Hei,\n\n{text}\n\nMed vennlig hilsen\n{name}"))


def test_planted_campaigns_are_found_with_high_precision_and_recall() -> None:
    letters = planted_letters(800, (150, 80, 30), seed=3)
    groups = group_letters([Letter(p.number, own_words(p.body)) for p in letters])
    found = {member: index for index, group in enumerate(groups) for member in group.members}
    precision, recall = precision_recall(found, {p.number: p.campaign for p in letters})
    assert len(groups) == 3
    assert precision >= 0.98 and recall >= 0.98, (precision, recall)


def test_letters_sharing_boilerplate_but_arguing_opposite_ways_stay_apart() -> None:
    pro = [_letter(i, INTRO + FOR + OUTRO, f"Person {i}") for i in range(3)]
    contra = [_letter(10 + i, INTRO + AGAINST + OUTRO, f"Person {10 + i}") for i in range(3)]
    groups = group_letters([*pro, *contra])
    assert sorted(sorted(g.members) for g in groups) == [[0, 1, 2], [10, 11, 12]]
    assert all(not g.maybe for g in groups)


def test_the_same_text_with_opposite_choices_on_the_form_is_no_campaign() -> None:
    yes = [Letter(i, CAMPAIGN, (("q1", "Ja"),)) for i in range(2)]
    no = [Letter(10 + i, CAMPAIGN, (("q1", "Nei"),)) for i in range(2)]
    assert sorted(sorted(g.members) for g in group_letters([*yes, *no])) == [[0, 1], [10, 11]]


def test_a_copy_with_long_additions_joins_by_containment() -> None:
    letters = [_letter(1, CAMPAIGN), _letter(2, CAMPAIGN), _letter(3, CAMPAIGN + " " + OWN * 4 + " " + FOR)]
    group = group_letters(letters)[0]
    assert set(group.members) == {1, 2, 3}
    assert group.members[3].jaccard < 0.8 <= group.members[3].containment


def _case(rt: Runtime) -> Case:
    with session_scope(rt.engine) as session:
        return session.exec(select(Case).where(Case.number == "22/414")).one()


@pytest.fixture
def campaign(rt: Runtime) -> dict[str, int]:
    words = CAMPAIGN.split()
    ids = {
        "plain": respond(rt, sender="Ola <ola@gmail.com>", body=f"Hei,\n\n{CAMPAIGN}\n\nHilsen\nOla"),
        "greeting": respond(rt, sender="Kari <kari@gmail.com>", body=f"God dag,\n\n{CAMPAIGN}\n\nMvh\nKari Lege"),
        "own": respond(rt, sender="Per <per@gmail.com>", body=f"{OWN}\n\n{CAMPAIGN}\n\nVennlig hilsen\nPer"),
        "quoted": respond(rt, sender="Anne <anne@gmail.com>",
                          body=f"{CAMPAIGN}\n\n-----Original Message-----\nFrom: Legeforeningen\nSend inn!"),
        # Three quarters of the letter, then words of its own: in the band a person decides.
        "maybe": respond(rt, sender="Liv <liv@gmail.com>",
                         body=" ".join(words[: len(words) * 3 // 4]) + " " + AGAINST),
        "other": respond(rt, sender="Statens legemiddelverk <post@legemiddelverket.no>", body=INTRO + FOR),
    }
    return ids


def _member(rt: Runtime, submission_id: int) -> CampaignMember | None:
    with session_scope(rt.engine) as session:
        return session.exec(select(CampaignMember).where(CampaignMember.submission_id == submission_id)).first()


def _flag(rt: Runtime, submission_id: int) -> Flag | None:
    with session_scope(rt.engine) as session:
        return session.exec(select(Flag).where(Flag.submission_id == submission_id, Flag.name == "campaign")).first()


def test_regroup_stores_campaigns_flags_and_keeps_decisions(rt: Runtime, campaign: dict[str, int]) -> None:
    with session_scope(rt.engine) as session:
        case = session.exec(select(Case).where(Case.number == "22/414")).one()
        assert needs_grouping(session, case)
        report = regroup(session, case)
        assert not needs_grouping(session, case)
    assert (report.campaigns, report.members, report.maybe) == (1, 4, 1)
    copies = [campaign[k] for k in ("plain", "greeting", "own", "quoted")]
    members = [_member(rt, i) for i in copies]
    campaign_id = members[0].campaign_id if members[0] else None
    assert all(m is not None and m.campaign_id == campaign_id and m.status == "member" for m in members)
    # Copies need nobody: their flag is resolved by the system. The maybe waits for a person.
    assert all((f := _flag(rt, i)) is not None and f.resolved_by == "system" for i in copies)
    maybe_flag = _flag(rt, campaign["maybe"])
    assert maybe_flag is not None and maybe_flag.resolved_at is None and "kanskje" in (maybe_flag.detail or "")
    assert _member(rt, campaign["other"]) is None and _flag(rt, campaign["other"]) is None

    with session_scope(rt.engine) as session:
        decide_member(session, campaign["maybe"], same=True, actor="kari")
    with session_scope(rt.engine) as session:
        case = session.exec(select(Case).where(Case.number == "22/414")).one()
        regroup(session, case)
        data = summary_json(case_summary(session, case))
    # The same campaign id after regrouping, the person's decision kept, the campaign listed once.
    assert data["campaigns"] == [{"id": campaign_id, "count": 5, "template_submission": campaign["plain"],
                                  "maybe": 0}]
    confirmed = _member(rt, campaign["maybe"])
    assert confirmed is not None and confirmed.status == "confirmed" and confirmed.decided_by == "kari"
    with session_scope(rt.engine) as session:
        decide_member(session, campaign["own"], same=False, actor="kari")
        regroup(session, session.exec(select(Case).where(Case.number == "22/414")).one())
        audit = session.exec(select(AuditLog.actor).where(AuditLog.action == "submission.campaign",
                                                          col(AuditLog.entity_id) == campaign["own"])).all()
    rejected = _member(rt, campaign["own"])
    assert rejected is not None and rejected.status == "rejected"
    assert audit == ["kari"]


@pytest.fixture
def client(rt: Runtime, campaign: dict[str, int]) -> Iterator[TestClient]:
    add_user(rt)
    with session_scope(rt.engine) as session:
        regroup(session, session.exec(select(Case).where(Case.number == "22/414")).one())
    with TestClient(create_app(rt)) as c:
        login(c)
        yield c


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_campaign_page_shows_the_template_and_each_copys_own_additions(
    rt: Runtime, client: TestClient, campaign: dict[str, int]
) -> None:
    member = _member(rt, campaign["plain"])
    assert member is not None
    case = _case(rt)
    page = client.get(f"/cases/{case.id}/campaigns/{member.campaign_id}").text
    assert "Kampanje" in page and "4 like brev" in page
    assert "<ins>Jeg har selv vært fastlege i tjue år og ser hvordan kravene har vokst.</ins>" in page
    assert "Ordrett likt malen." in page
    # The maybe gets the two buttons; a decision closes its flag.
    assert f'action="/submissions/{campaign["maybe"]}/campaign"' in page
    csrf = login(client)
    done = client.post(f"/submissions/{campaign['maybe']}/campaign", data={"csrf_token": csrf, "decision": "different"})
    assert done.status_code == 200 and "Svaret er tatt ut av kampanjen." in done.text
    flag = _flag(rt, campaign["maybe"])
    assert flag is not None and flag.resolved_by == "kari" and flag.resolution == "ikke del av kampanjen"
    summary = client.get(f"/cases/{case.id}/summary").text
    assert f'/cases/{case.id}/campaigns/{member.campaign_id}">Kampanje {member.campaign_id}</a>' in summary
