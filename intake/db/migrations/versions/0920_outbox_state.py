"""outbox state: whether the mail server takes our receipts, for /healthz and the staff pages

A relay that refuses every receipt (TLS or a login required, relay access
denied) stops a delivery run and leaves the receipts due; this row says so, the
way mailbox_state says a mailbox cannot be read.

Revision ID: 0920
Revises: 0800
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from intake.db.models import UTCDateTime

revision: str = "0920"
down_revision: str | None = "0800"
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


def downgrade() -> None:
    op.drop_table("outbox_state")
