"""Campaigns of a case: the grouping stored, the flag ``campaign`` kept in step, staff decisions.

``regroup`` runs the grouping (``review/grouping.py``) over the case's responses and stores the
groups, keeping campaign ids where the groups stay the same and every decision a person made: a
member confirmed stays in its campaign, one rejected is never grouped again. Copies get the flag
``campaign`` resolved by the system (they need no person); letters in the «maybe» band get it
open, for a person to decide on the campaign's page.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlmodel import Session, col, delete, select

from intake.db.audit import record
from intake.db.models import Campaign, CampaignMember, Case, Flag, Submission, utcnow
from intake.review.actions import ReviewError, audit, get_submission, touch
from intake.review.documents import own_texts
from intake.review.grouping import Letter, Likeness, Thresholds, group_letters
from intake.review.responses import counted

FLAG = "campaign"
# Rows a person decided; the grouping never changes them.
DECIDED = ("confirmed", "rejected")
# Rows that count as copies of the letter.
COUNTED = ("member", "confirmed")


@dataclass(frozen=True)
class GroupingReport:
    campaigns: int
    members: int
    maybe: int


def _choices(form: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(form, dict):
        return ()
    return tuple(sorted((str(q), str(a["choice"])) for q, a in form.items()
                        if isinstance(a, dict) and a.get("choice")))


def regroup(session: Session, case: Case, limits: Thresholds | None = None) -> GroupingReport:
    """Groups the case's responses again and stores the result; safe to run at any time, again and again."""
    assert case.id is not None
    responses = counted(session, case)
    subs = [r.submission for r in responses]
    old = {m.submission_id: m for m in session.exec(
        select(CampaignMember).join(Campaign, col(Campaign.id) == col(CampaignMember.campaign_id))
        .where(Campaign.case_id == case.id)
    )}
    rejected = {sid for sid, m in old.items() if m.status == "rejected"}
    texts = own_texts(session, subs)
    letters = [Letter(s.id, texts[s.id], _choices(s.form)) for s in subs if s.id is not None and s.id not in rejected]
    groups = group_letters(letters, limits)
    campaigns = {c.id: c for c in session.exec(select(Campaign).where(Campaign.case_id == case.id))}
    now = utcnow()
    wanted: dict[int, tuple[int, str, Likeness]] = {}
    taken: set[int] = set()
    for group in groups:
        # The campaign that already holds most of these copies keeps its id.
        votes = Counter(old[s].campaign_id for s in group.members if s in old and old[s].campaign_id not in taken)
        campaign_id = votes.most_common(1)[0][0] if votes else None
        campaign = campaigns.get(campaign_id) if campaign_id is not None else None
        if campaign is None:
            campaign = Campaign(case_id=case.id, template_submission_id=group.template, created_at=now)
        campaign.template_submission_id, campaign.updated_at = group.template, now
        session.add(campaign)
        session.flush()
        assert campaign.id is not None
        taken.add(campaign.id)
        for sid, like in group.members.items():
            wanted[sid] = (campaign.id, "member", like)
        for sid, like in group.maybe.items():
            wanted.setdefault(sid, (campaign.id, "maybe", like))
    for sid, member in old.items():
        if member.status in DECIDED:
            wanted.pop(sid, None)
            continue
        target = wanted.pop(sid, None)
        if target is None:
            session.delete(member)
            continue
        member.campaign_id, member.status = target[0], target[1]
        member.jaccard, member.containment = round(target[2].jaccard, 4), round(target[2].containment, 4)
        session.add(member)
    for sid, (campaign_id, status, like) in wanted.items():
        session.add(CampaignMember(campaign_id=campaign_id, submission_id=sid, status=status,
                                   jaccard=round(like.jaccard, 4), containment=round(like.containment, 4)))
    session.flush()
    _drop_empty(session, case, taken)
    report = _sync_flags(session, case)
    case.campaigns_grouped_at = now
    session.add(case)
    record(session, "case.campaigns_grouped", "case", case.id,
           {"campaigns": report.campaigns, "members": report.members, "maybe": report.maybe})
    return report


def _drop_empty(session: Session, case: Case, kept: set[int]) -> None:
    """Removes the case's campaigns the grouping no longer found, unless a person decided on a member."""
    for campaign in session.exec(select(Campaign).where(Campaign.case_id == case.id)):
        if campaign.id in kept:
            continue
        decided = session.exec(select(CampaignMember.id).where(
            CampaignMember.campaign_id == campaign.id, col(CampaignMember.status).in_(DECIDED))).first()
        if decided is None:
            session.exec(delete(CampaignMember).where(col(CampaignMember.campaign_id) == campaign.id))
            session.delete(campaign)
    session.flush()


def _sync_flags(session: Session, case: Case) -> GroupingReport:
    """Gives each member the flag ``campaign`` (open while it is a maybe) and takes it from the others."""
    members = {m.submission_id: m for m in session.exec(
        select(CampaignMember).join(Campaign, col(Campaign.id) == col(CampaignMember.campaign_id))
        .where(Campaign.case_id == case.id)
    )}
    sizes = Counter(m.campaign_id for m in members.values() if m.status in COUNTED)
    in_case = select(col(Submission.id)).where(Submission.case_id == case.id)
    flags = {f.submission_id: f for f in session.exec(
        select(Flag).where(Flag.name == FLAG, col(Flag.submission_id).in_(in_case)))}
    now = utcnow()
    for sid, flag in flags.items():
        if sid not in members:
            # No longer a copy of anything: the flag would say what is not so.
            session.delete(flag)
    for sid, member in members.items():
        if member.status == "rejected":
            continue
        flag = flags.get(sid) or Flag(submission_id=sid, name=FLAG, created_at=now)
        if member.status == "maybe":
            detail = (f"kanskje med i kampanje {member.campaign_id} (likhet {member.jaccard:.2f})".replace(".", ",")
                      if member.jaccard else f"kanskje med i kampanje {member.campaign_id}")
            if flag.detail != detail or flag.resolved_at is not None:
                flag.detail, flag.resolved_at, flag.resolved_by, flag.resolution = detail, None, None, None
                session.add(flag)
            continue
        detail = f"kampanje {member.campaign_id}: {sizes[member.campaign_id]} like brev"
        if flag.detail != detail or flag.resolved_at is None:
            flag.detail = detail
            if flag.resolved_at is None:
                flag.resolved_at, flag.resolved_by, flag.resolution = now, "system", "gruppert som kopi av samme brev"
            session.add(flag)
    session.flush()
    counts = Counter(m.status for m in members.values())
    return GroupingReport(len(sizes), counts["member"] + counts["confirmed"], counts["maybe"])


def decide_member(session: Session, submission_id: int, *, same: bool, actor: str) -> CampaignMember:
    """A person decides whether a response is a copy of its campaign's letter; the flag closes either way."""
    sub = get_submission(session, submission_id)
    member = session.exec(select(CampaignMember).where(CampaignMember.submission_id == sub.id)).first()
    if member is None:
        raise ReviewError("innsendingen hører ikke til noen kampanje")
    campaign = session.get(Campaign, member.campaign_id)
    if campaign is not None and campaign.template_submission_id == sub.id and not same:
        raise ReviewError("brevet er malen for kampanjen og kan ikke tas ut av den")
    member.status, member.decided_by, member.decided_at = ("confirmed" if same else "rejected"), actor, utcnow()
    session.add(member)
    flag = session.exec(select(Flag).where(Flag.submission_id == sub.id, Flag.name == FLAG)).first()
    if flag is not None:
        flag.resolved_at, flag.resolved_by = utcnow(), actor
        flag.resolution = f"samme brev som kampanje {member.campaign_id}" if same else "ikke del av kampanjen"
        session.add(flag)
    touch(session, sub)
    audit(session, actor, "submission.campaign", "submission", sub.id, campaign=member.campaign_id,
          decision="same" if same else "different")
    return member


def needs_grouping(session: Session, case: Case) -> bool:
    """Whether responses came in, or were moved to the case, since the grouping last ran."""
    query = select(Submission.id).where(Submission.case_id == case.id)
    if case.campaigns_grouped_at is not None:
        since = case.campaigns_grouped_at
        query = query.where(
            (col(Submission.created_at) > since)
            | ((col(Submission.match_source) == "manual") & (col(Submission.updated_at) > since))
        )
    return session.exec(query.limit(1)).first() is not None


def ensure_grouped(session: Session, case: Case) -> None:
    """Groups the case's campaigns when responses came in since the last grouping (for the exports)."""
    if needs_grouping(session, case):
        regroup(session, case)
