"""The summary of a case after the deadline: counts per choice, every answer, categories, campaigns.

One function, ``case_summary``, feeds the page, ``intake cases summary C --json``, the API and
both exports, so they never disagree. Campaign copies count in every number, and are listed once
(the template's answer, with the count) where the answers are read.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from intake.db.models import Campaign, CampaignMember, Case
from intake.localtime import iso_oslo
from intake.review.campaigns import COUNTED
from intake.review.categories import Categories, Respondent
from intake.review.documents import form_answers, own_beginnings
from intake.review.no_comments import is_no_comment
from intake.review.responses import Response, counted

# Enough of each text to tell a no-comment letter (a few lines) from a real one, and to read the
# beginning of a letter in the lists; the whole letter is a click away.
NO_COMMENT_CHARS = 3000
# The id under which the letters outside the form are listed with the questions' answers.
LETTERS = "brev"


@dataclass(frozen=True)
class Answer:
    """One response's answer to one question, with who gave it."""

    submission_id: int
    organisation: str
    category: str
    invited: bool
    choice: str | None
    text: str
    campaign: int | None = None
    # For a campaign's template: how many responses the campaign has; 0 otherwise.
    copies: int = 0


@dataclass
class ChoiceCount:
    choice: str
    total: int = 0
    invited: int = 0
    others: int = 0
    by_category: Counter[str] = field(default_factory=Counter)

    def share(self, answered: int) -> float:
        return self.total / answered if answered else 0.0


@dataclass
class QuestionSummary:
    id: str
    text: str
    choices: list[ChoiceCount]
    answered: int = 0
    answered_invited: int = 0
    answered_others: int = 0
    answers: list[Answer] = field(default_factory=list)


@dataclass(frozen=True)
class CampaignLine:
    id: int
    count: int
    maybe: int
    template_submission: int
    organisation: str


@dataclass(frozen=True)
class Row:
    """A counted response as the lists and exports show it."""

    response: Response
    organisation: str
    respondent: Respondent
    no_comment: bool
    campaign: int | None
    # The response's own words (its beginning: ``NO_COMMENT_CHARS`` of each text).
    text: str = ""


@dataclass
class CaseSummary:
    case: Case
    rows: list[Row]
    questions: list[QuestionSummary]
    # The responses that did not answer on the form (every response, for a case without one):
    # their letters, read like the answers to a question.
    letters: QuestionSummary
    campaigns: list[CampaignLine]
    categories: list[tuple[str, int, int]]  # (category, responses, of them invited)
    grouped_at: datetime | None

    @property
    def responses(self) -> int:
        return len(self.rows)

    @property
    def no_comments(self) -> int:
        return sum(1 for r in self.rows if r.no_comment)

    @property
    def invited(self) -> int:
        return sum(1 for r in self.rows if r.respondent.invited)


def _questions(case: Case) -> list[dict[str, Any]]:
    questions = (case.form or {}).get("questions") or []
    return [q for q in questions if isinstance(q, dict) and q.get("id")]


def _campaigns(session: Session, case: Case, rows: dict[int, Row]) -> tuple[dict[int, int], list[CampaignLine]]:
    """Each copy's campaign, and the campaigns with their counts, largest first."""
    members = session.exec(
        select(CampaignMember.submission_id, CampaignMember.campaign_id, CampaignMember.status)
        .join(Campaign, col(Campaign.id) == col(CampaignMember.campaign_id))
        .where(Campaign.case_id == case.id)
    ).all()
    of: dict[int, int] = {}
    counts: Counter[int] = Counter()
    maybes: Counter[int] = Counter()
    for submission_id, campaign_id, status in members:
        if status in COUNTED and submission_id in rows:
            of[submission_id] = campaign_id
            counts[campaign_id] += 1
        elif status == "maybe":
            maybes[campaign_id] += 1
    lines = []
    for campaign in session.exec(select(Campaign).where(Campaign.case_id == case.id)):
        assert campaign.id is not None
        if counts[campaign.id] < 2:
            continue
        template = rows.get(campaign.template_submission_id)
        lines.append(CampaignLine(campaign.id, counts[campaign.id], maybes[campaign.id],
                                  campaign.template_submission_id,
                                  template.organisation if template else "(ikke med i oppsummeringen)"))
    lines.sort(key=lambda line: (-line.count, line.id))
    return of, lines


def _answered(question: QuestionSummary, row: Row, choice: str | None, text: str, templates: dict[int, int],
              sizes: dict[int, int]) -> None:
    """Counts one response's answer to the question, and lists it unless it is a copy of a campaign's
    letter: a campaign is read once, its template's answer standing for every copy."""
    question.answered += 1
    if row.respondent.invited:
        question.answered_invited += 1
    else:
        question.answered_others += 1
    if row.campaign is not None and templates.get(row.response.id) != row.campaign:
        return
    question.answers.append(Answer(row.response.id, row.organisation, row.respondent.category,
                                   row.respondent.invited, choice, text, row.campaign,
                                   sizes.get(row.campaign or -1, 0)))


def case_summary(session: Session, case: Case) -> CaseSummary:
    responses = counted(session, case)
    subs = [r.submission for r in responses]
    categories = Categories(session, case, [s.organisation_id for s in subs])
    texts = own_beginnings(session, subs, chars=NO_COMMENT_CHARS)
    respondents = {r.id: categories.of(r.submission.organisation_id, r.submission.sender) for r in responses}
    rows = {
        r.id: Row(r, categories.name(r.submission, respondents[r.id]), respondents[r.id],
                  is_no_comment(texts[r.id]), None, texts[r.id])
        for r in responses
    }
    campaign_of, campaigns = _campaigns(session, case, rows)
    sizes = {line.id: line.count for line in campaigns}
    templates = {line.template_submission: line.id for line in campaigns}
    rows = {i: Row(r.response, r.organisation, r.respondent, r.no_comment, campaign_of.get(i), r.text)
            for i, r in rows.items()}
    questions = []
    for question in _questions(case):
        qid = str(question["id"])
        summary = QuestionSummary(qid, str(question.get("text", "")),
                                  [ChoiceCount(str(c)) for c in question.get("choices") or []])
        by_choice = {c.choice: c for c in summary.choices}
        for row in rows.values():
            answer = (row.response.submission.form or {}).get(qid)
            if not isinstance(answer, dict):
                continue
            choice = answer.get("choice") if isinstance(answer.get("choice"), str) else None
            text = str(answer.get("text") or "").strip()
            if not choice and not text:
                continue
            if choice:
                count = by_choice.get(choice)
                if count is None:
                    count = by_choice[choice] = ChoiceCount(choice)
                    summary.choices.append(count)
                count.total += 1
                count.invited += row.respondent.invited
                count.others += not row.respondent.invited
                count.by_category[row.respondent.category] += 1
            _answered(summary, row, choice, text, templates, sizes)
        questions.append(summary)
    letters = QuestionSummary(LETTERS, "Svar som ikke er gitt i høringsskjemaet", [])
    for row in rows.values():
        if not form_answers(row.response.submission.form) and row.text:
            _answered(letters, row, None, row.text, templates, sizes)
    for question_summary in (*questions, letters):
        question_summary.answers.sort(
            key=lambda a: (categories.rank(a.category), a.organisation.casefold(), a.submission_id))
    per_category: Counter[str] = Counter(r.respondent.category for r in rows.values())
    invited_per_category: Counter[str] = Counter(r.respondent.category for r in rows.values() if r.respondent.invited)
    category_lines = [(c, per_category[c], invited_per_category[c])
                      for c in sorted(per_category, key=categories.rank)]
    return CaseSummary(case, list(rows.values()), questions, letters, campaigns, category_lines,
                       case.campaigns_grouped_at)


def summary_json(summary: CaseSummary) -> dict[str, Any]:
    """The summary as CONTRACT.md fixes it (case, responses, no_comments, questions, campaigns), and more."""
    return {
        "case": summary.case.number,
        "title": summary.case.title,
        "responses": summary.responses,
        "invited_responses": summary.invited,
        "no_comments": summary.no_comments,
        "no_comment_submissions": [r.response.id for r in summary.rows if r.no_comment],
        "categories": {c: {"responses": n, "invited": i} for c, n, i in summary.categories},
        "questions": {
            q.id: {
                "text": q.text,
                "choices": {c.choice: c.total for c in q.choices},
                "answered": q.answered,
                "invited": {"answered": q.answered_invited, "choices": {c.choice: c.invited for c in q.choices}},
                "others": {"answered": q.answered_others, "choices": {c.choice: c.others for c in q.choices}},
                "by_category": {c.choice: dict(c.by_category) for c in q.choices},
            }
            for q in summary.questions
        },
        "campaigns": [
            {"id": c.id, "count": c.count, "template_submission": c.template_submission, "maybe": c.maybe}
            for c in summary.campaigns
        ],
        "campaigns_grouped_at": iso_oslo(summary.grouped_at),
    }
