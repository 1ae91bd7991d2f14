"""after the deadline: respondent categories, extended deadlines, campaigns, documents withheld

Invitations get the respondent category of the summary; deadline_extensions holds an
organisation's later deadline (from the workflow file or granted by an admin); campaigns and
campaign_members hold the groups of copies of one letter; attachments.withheld and
submissions.body_withheld leave one document of a published response out (it held personal
data); cases.campaigns_grouped_at tells when the grouping last ran.

Revision ID: 0820
Revises: 0600
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.db.models

revision: str = "0820"
down_revision: str | None = "0600"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deadline_extensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("granted_by", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", intake.db.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "organisation_id"),
    )
    with op.batch_alter_table("deadline_extensions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deadline_extensions_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deadline_extensions_organisation_id"), ["organisation_id"], unique=False)

    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("template_submission_id", sa.Integer(), nullable=False),
        sa.Column("created_at", intake.db.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", intake.db.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["template_submission_id"], ["submissions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaigns_case_id"), ["case_id"], unique=False)

    op.create_table(
        "campaign_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("jaccard", sa.Float(), nullable=False),
        sa.Column("containment", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", intake.db.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"]),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id"),
    )
    with op.batch_alter_table("campaign_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_members_campaign_id"), ["campaign_id"], unique=False)

    # Existing rows get false: nothing was withheld document by document before.
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("withheld", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_withheld", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaigns_grouped_at", intake.db.models.UTCDateTime(), nullable=True))
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("category", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_column("category")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("campaigns_grouped_at")
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_column("body_withheld")
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_column("withheld")
    with op.batch_alter_table("campaign_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_members_campaign_id"))
    op.drop_table("campaign_members")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns_case_id"))
    op.drop_table("campaigns")
    with op.batch_alter_table("deadline_extensions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deadline_extensions_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_deadline_extensions_case_id"))
    op.drop_table("deadline_extensions")
