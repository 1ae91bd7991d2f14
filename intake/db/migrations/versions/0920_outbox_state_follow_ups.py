"""outbox state, and follow-ups: whether the mail server takes our receipts; which response a message adds to

A relay that refuses every receipt (TLS or a login required, relay access
denied) stops a delivery run and leaves the receipts due; this row says so, the
way mailbox_state says a mailbox cannot be read. A submission may follow up an
earlier one (``follow_up_of``), or only seem to (``follow_up_suggested``) until a
clerk confirms it. A clerk's own messages to a sender are ``letters``, sent through
the outbox and threaded to the submission.

Revision ID: 0920
Revises: 0930
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from intake.db.models import UTCDateTime

revision: str = "0920"
down_revision: str | None = "0930"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("last_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_success_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", UTCDateTime(), nullable=True),
        sa.Column("blocked", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("template", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=998), nullable=False),
        sa.Column("references", sa.JSON(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("claim_token", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("letters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_letters_message_id"), ["message_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_letters_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_letters_submission_id"), ["submission_id"], unique=False)
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("superseded", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("follow_up_of", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("follow_up_suggested", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_submissions_follow_up_of"), ["follow_up_of"], unique=False)
        batch_op.create_foreign_key("fk_submissions_follow_up_of", "submissions", ["follow_up_of"], ["id"])
        batch_op.create_foreign_key("fk_submissions_follow_up_suggested", "submissions",
                                    ["follow_up_suggested"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_constraint("fk_submissions_follow_up_suggested", type_="foreignkey")
        batch_op.drop_constraint("fk_submissions_follow_up_of", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_submissions_follow_up_of"))
        batch_op.drop_column("follow_up_suggested")
        batch_op.drop_column("follow_up_of")
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_column("superseded")
    op.drop_table("letters")
    op.drop_table("outbox_state")
