"""per-message indexes: what processing one message looks up, so its cost does not grow with the database

organisations.kind (the invited bodies), acknowledgements.message_id (a reply
to one of our receipts), acknowledgements (recipient, created_at) for the hourly
rate limit, and submissions (organisation_id, case_id, received_at, id) for
the duplicate rule. The two composites replace the single-column indexes on their
first column.

Revision ID: 0500
Revises: 0200
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0500"
down_revision: str | None = "0200"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organisations_kind"), ["kind"], unique=False)
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_submissions_organisation_case_received"),
                              ["organisation_id", "case_id", "received_at", "id"], unique=False)
        batch_op.drop_index(batch_op.f("ix_submissions_organisation_id"))
    with op.batch_alter_table("acknowledgements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_acknowledgements_message_id"), ["message_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_acknowledgements_recipient_created_at"), ["recipient", "created_at"],
                              unique=False)
        batch_op.drop_index(batch_op.f("ix_acknowledgements_recipient"))


def downgrade() -> None:
    with op.batch_alter_table("acknowledgements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_acknowledgements_recipient"), ["recipient"], unique=False)
        batch_op.drop_index(batch_op.f("ix_acknowledgements_recipient_created_at"))
        batch_op.drop_index(batch_op.f("ix_acknowledgements_message_id"))
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_submissions_organisation_id"), ["organisation_id"], unique=False)
        batch_op.drop_index(batch_op.f("ix_submissions_organisation_case_received"))
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisations_kind"))
