"""outbox lease: recipient, claim token, lease and hand-off time on acknowledgements

Revision ID: 0300
Revises: 0400 (chained after the web sessions migration, which reached main first)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.db.models

revision: str = "0300"
down_revision: str | None = "0400"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("acknowledgements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", intake.db.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("handoff_at", intake.db.models.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_acknowledgements_recipient"), ["recipient"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("acknowledgements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acknowledgements_recipient"))
        batch_op.drop_column("handoff_at")
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claim_token")
        batch_op.drop_column("recipient")
