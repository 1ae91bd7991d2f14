"""What a message's rules need to know of what came before it, read in one query.

The organisation's first response to the case (duplicate_organisation), an earlier
submission with the same Message-ID (duplicate_message) and a later deadline granted
the organisation (late, and the receipt's deadline) were three statements for every
message. Under load a round trip to the database costs about a millisecond of waiting,
most of it for the two cores, so they are asked together: one statement, with only the
parts that apply to the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Date, Integer, String, bindparam, cast, exists, literal, null, union_all
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from intake.db.models import DeadlineExtension, Flag, Submission


@dataclass(frozen=True)
class Earlier:
    # The organisation's first response to the case: its submission id and receipt reference.
    first_response: tuple[int, str | None] | None = None
    # An earlier submission of a message with the same Message-ID.
    same_message_id: int | None = None
    # The later deadline granted the organisation in the case, if any.
    extension_until: date | None = None


def look_up(session: Session, *, case_id: int | None, organisation_id: int | None, message_id: str | None,
            message_pk: int, responses: bool) -> Earlier:
    """What applies of the three; ``responses``: look for the organisation's first response too."""
    with_case = case_id is not None and organisation_id is not None
    parts = (with_case and responses, bool(message_id), with_case)
    if not any(parts):
        return Earlier()
    statement = _STATEMENTS.get(parts)
    if statement is None:
        statement = _STATEMENTS[parts] = _statement(*parts)
    found: dict[str, Any] = {}
    for kind, row_id, ref, until in session.connection().execute(statement, {
            "case_id": case_id, "organisation_id": organisation_id, "message_id": message_id, "pk": message_pk}):
        found[kind] = (row_id, ref, until)
    first, same, extension = found.get("first"), found.get("same"), found.get("until")
    return Earlier(
        first_response=(first[0], first[1]) if first is not None else None,
        same_message_id=same[0] if same is not None else None,
        extension_until=extension[2] if extension is not None else None,
    )


# An auto-reply is never a response, even once a person has looked at it. Its flag row is
# written with its rule log in one transaction and never deleted, so the row tells what the
# log would, without reading every earlier submission's log.
_AUTO_REPLY = exists().where(col(Flag.submission_id) == col(Submission.id), col(Flag.name) == "auto_reply")


def _statement(first: bool, same: bool, until: bool) -> Any:
    """The union of the parts asked for, each one row at most: (kind, id, receipt reference, date)."""
    parts = []
    if first:
        found = (
            sa_select(col(Submission.id), col(Submission.receipt_ref))
            .where(col(Submission.case_id) == bindparam("case_id"),
                   col(Submission.organisation_id) == bindparam("organisation_id"),
                   col(Submission.message_ref) != bindparam("pk"), ~_AUTO_REPLY)
            .order_by(col(Submission.received_at), col(Submission.id))
            .limit(1)
            .subquery()
        )
        parts.append(sa_select(literal("first"), found.c.id, found.c.receipt_ref, cast(null(), Date)))
    if same:
        found = (
            sa_select(col(Submission.id))
            .where(col(Submission.message_id) == bindparam("message_id"),
                   col(Submission.message_ref) != bindparam("pk"))
            .limit(1)
            .subquery()
        )
        parts.append(sa_select(literal("same"), found.c.id, cast(null(), String), cast(null(), Date)))
    if until:
        parts.append(
            sa_select(literal("until"), cast(null(), Integer), cast(null(), String), col(DeadlineExtension.until))
            .where(col(DeadlineExtension.case_id) == bindparam("case_id"),
                   col(DeadlineExtension.organisation_id) == bindparam("organisation_id"))
        )
    return parts[0] if len(parts) == 1 else union_all(*parts)


_STATEMENTS: dict[tuple[bool, bool, bool], Any] = {}
