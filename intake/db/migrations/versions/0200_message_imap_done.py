"""messages.imap_done_at: when the mailbox's after_processing action was done on the server

Revision ID: 0200
Revises: 0300
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.db.models

revision: str = "0200"
down_revision: str | None = "0300"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("imap_done_at", intake.db.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("imap_done_at")
