"""Full-text search in the mail text and the attachment text: whole words, ranked, with snippets.

PostgreSQL matches with the ``norwegian`` text search configuration over the GIN-indexed
expressions of ``search_schema``; SQLite with its FTS5 table. What a person types is never
query syntax: it is cut to ``MAX_QUERY`` characters and ``MAX_WORDS`` words, and only the
words are searched for, all of them, so quotes and operators can neither break nor slow a
search. «legeforeningen» finds the word, never «Tannlegeforeningen».
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import bindparam, text
from sqlmodel import Session, col, select

from intake.db.models import Attachment, Submission, UTCDateTime
from intake.localtime import OSLO
from intake.review.queue import Row, _rows
from intake.review.search_schema import ATTACHMENT_DOCUMENT, CONFIG, INDEXED_CHARS, SUBMISSION_DOCUMENT

MAX_QUERY = 300
MAX_WORDS = 12
PER_PAGE = 25
RANK_LIMIT = 2000
# Where a snippet marks a hit; private-use characters, so no text of a sender becomes markup.
START, STOP = "\ue000", "\ue001"
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Piece:
    text: str
    hit: bool = False


@dataclass
class Hit:
    row: Row
    # Where the words were found: "E-postteksten" or an attachment's file name, with the snippet.
    snippets: list[tuple[str, list[Piece]]] = field(default_factory=list)


@dataclass
class TextSearch:
    hits: list[Hit]
    total: int
    page: int
    pages: int
    words: list[str]


def words_of(query: str) -> list[str]:
    """The words searched for: letters and digits only, lower case, at most MAX_WORDS of them."""
    return [w.lower() for w in _WORD.findall(query[:MAX_QUERY])][:MAX_WORDS]


def _filters(case: str, flag: str, since: date | None, until: date | None) -> tuple[str, dict[str, Any], list[Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    binds: list[Any] = []
    if case == "-":
        clauses.append("s.case_id IS NULL")
    elif case:
        clauses.append("s.case_number = :case")
        params["case"] = case
    if flag:
        clauses.append("EXISTS (SELECT 1 FROM flags f WHERE f.submission_id = s.id AND f.name = :flag)")
        params["flag"] = flag
    if since is not None:
        clauses.append("s.received_at >= :since")
        params["since"] = datetime.combine(since, time.min, tzinfo=OSLO)
        binds.append(bindparam("since", type_=UTCDateTime()))
    if until is not None:
        clauses.append("s.received_at < :until")
        params["until"] = datetime.combine(until + timedelta(days=1), time.min, tzinfo=OSLO)
        binds.append(bindparam("until", type_=UTCDateTime()))
    return (" AND ".join(clauses) or "1 = 1"), params, binds


def _matches_sql(dialect: str, *, ranked: bool = True) -> str:
    """(sid, rank) of every matching submission; a lower rank is a better hit.

    Unranked (more than RANK_LIMIT texts match), the newest come first instead: words
    that common rank every text alike, and ranking them all would cost more than the page may."""
    if dialect == "postgresql":
        query = f"plainto_tsquery('{CONFIG}', :q)"
        rank_s = f"-ts_rank({SUBMISSION_DOCUMENT}, {query})" if ranked else "0"
        rank_a = f"-ts_rank({ATTACHMENT_DOCUMENT}, {query})" if ranked else "0"
        return (
            "SELECT sid, min(rank) AS rank FROM ("
            f"SELECT submissions.id AS sid, {rank_s} AS rank FROM submissions "
            f"WHERE {SUBMISSION_DOCUMENT} @@ {query} "
            "UNION ALL "
            f"SELECT attachments.submission_id, {rank_a} FROM attachments "
            f"WHERE {ATTACHMENT_DOCUMENT} @@ {query}"
            ") u GROUP BY sid"
        )
    if not ranked:
        return "SELECT submission_id AS sid, 0 AS rank FROM search_fts WHERE search_fts MATCH :q GROUP BY submission_id"
    # bm25 cannot be used inside an aggregate; the inner select ranks, the outer one groups.
    return ("SELECT sid, min(r) AS rank FROM (SELECT submission_id AS sid, bm25(search_fts) AS r "
            "FROM search_fts WHERE search_fts MATCH :q LIMIT -1) GROUP BY sid")


def _match_param(dialect: str, words: list[str]) -> str:
    if dialect == "postgresql":
        return " ".join(words)
    # Each word as an FTS5 string: nothing typed is read as an operator, column or prefix.
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def full_text(
    session: Session,
    *,
    q: str,
    case: str = "",
    flag: str = "",
    since: date | None = None,
    until: date | None = None,
    page: int = 1,
) -> TextSearch:
    """Submissions whose mail text or an attachment holds every word of ``q``, best hits first."""
    words = words_of(q)
    if not words:
        return TextSearch([], 0, 1, 1, [])
    dialect = session.get_bind().dialect.name
    where, params, binds = _filters(case[:64], flag[:64], since, until)
    params["q"] = _match_param(dialect, words)
    if dialect == "postgresql":
        query = f"plainto_tsquery('{CONFIG}', :q)"
        texts = text(f"SELECT (SELECT count(*) FROM submissions WHERE {SUBMISSION_DOCUMENT} @@ {query}) + "
                     f"(SELECT count(*) FROM attachments WHERE {ATTACHMENT_DOCUMENT} @@ {query})")
    else:
        texts = text("SELECT count(*) FROM search_fts WHERE search_fts MATCH :q")
    ranked = int(session.connection().execute(texts, {"q": params["q"]}).scalar_one()) <= RANK_LIMIT
    matched = f"FROM ({_matches_sql(dialect, ranked=ranked)}) m JOIN submissions s ON s.id = m.sid WHERE {where}"
    # One pass over the matches gives the page and the total (count over the whole window).
    listing = text(f"SELECT m.sid, count(*) OVER () {matched} ORDER BY m.rank, m.sid DESC "
                   "LIMIT :limit OFFSET :offset").bindparams(*binds)
    page = max(page, 1)
    offset = (page - 1) * PER_PAGE
    found = list(session.connection().execute(listing, {**params, "limit": PER_PAGE, "offset": offset}))
    if not found and page > 1:
        # Past the last page: the total decides which page is the last.
        count = text(f"SELECT count(*) {matched}").bindparams(*binds)
        total = int(session.connection().execute(count, params).scalar_one())
        return full_text(session, q=q, case=case, flag=flag, since=since, until=until,
                         page=max(1, -(-total // PER_PAGE))) if total else TextSearch([], 0, 1, 1, words)
    ids = [int(r[0]) for r in found]
    total = int(found[0][1]) if found else 0
    pages = max(1, -(-total // PER_PAGE))
    subs = {s.id: s for s in session.exec(select(Submission).where(col(Submission.id).in_(ids)))} if ids else {}
    rows = _rows(session, [subs[i] for i in ids if i in subs])
    snippets = _snippets(session, dialect, ids, params["q"])
    return TextSearch([Hit(r, snippets.get(r.submission.id or 0, [])) for r in rows], total, page, pages, words)


def _snippets(session: Session, dialect: str, ids: list[int], match: str) -> dict[int, list[tuple[str, list[Piece]]]]:
    out: dict[int, list[tuple[str, list[Piece]]]] = {}
    if not ids:
        return out
    names = {a.id: a.filename for a in session.exec(
        select(Attachment).where(col(Attachment.submission_id).in_(ids)))}
    if dialect == "postgresql":
        options = f"'StartSel={START}, StopSel={STOP}, MaxFragments=2, MaxWords=18, MinWords=6'"
        query = f"plainto_tsquery('{CONFIG}', :q)"
        sql = text(
            f"SELECT submissions.id, 0, ts_headline('{CONFIG}', left(coalesce(submissions.subject, '') || ' ' || "
            f"coalesce(submissions.body_text, ''), {INDEXED_CHARS}), {query}, {options}) FROM submissions "
            f"WHERE submissions.id IN :ids AND {SUBMISSION_DOCUMENT} @@ {query} "
            "UNION ALL "
            f"SELECT attachments.submission_id, attachments.id, ts_headline('{CONFIG}', "
            f"left(coalesce(attachments.text, ''), {INDEXED_CHARS}), {query}, {options}) FROM attachments "
            f"WHERE attachments.submission_id IN :ids AND {ATTACHMENT_DOCUMENT} @@ {query}"
        ).bindparams(bindparam("ids", expanding=True))
    else:
        sql = text(
            f"SELECT submission_id, attachment_id, snippet(search_fts, 0, '{START}', '{STOP}', ' … ', 24) "
            "FROM search_fts WHERE search_fts MATCH :q AND submission_id IN :ids ORDER BY rank"
        ).bindparams(bindparam("ids", expanding=True))
    for submission_id, attachment_id, snippet in session.connection().execute(sql, {"q": match, "ids": ids}):
        where = "E-postteksten" if not attachment_id else names.get(attachment_id, "Vedlegg")
        found = out.setdefault(int(submission_id), [])
        if len(found) < 3:
            found.append((where, pieces(str(snippet))))
    return out


def pieces(snippet: str) -> list[Piece]:
    """A marked snippet as plain runs of text and hits, for the template to escape and highlight."""
    out: list[Piece] = []
    for i, part in enumerate(re.split(f"[{START}{STOP}]", snippet)):
        if part:
            out.append(Piece(part, hit=i % 2 == 1))
    return out
