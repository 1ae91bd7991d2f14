"""archive exports: one row per archive package written (or being written) to a drop folder

A submission's archive package (arkivmelding) is claimed as a row before it is
written and marked written once it is in place, so replicas never write one
twice and staff can see which version the archive has. A case may carry the
archive metadata of its workflow file (administrative unit, case officer).

Revision ID: 0800
Revises: 0710
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from intake.db.models import UTCDateTime

revision: str = "0800"
down_revision: str | None = "0710"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "archive_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("melding_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("destination", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column("path", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("claim_token", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("written_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id", "destination", "version"),
    )
    with op.batch_alter_table("archive_exports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_archive_exports_melding_id"), ["melding_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_archive_exports_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_archive_exports_submission_id"), ["submission_id"], unique=False)
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("archive", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("archive")
    with op.batch_alter_table("archive_exports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_archive_exports_submission_id"))
        batch_op.drop_index(batch_op.f("ix_archive_exports_status"))
        batch_op.drop_index(batch_op.f("ix_archive_exports_melding_id"))
    op.drop_table("archive_exports")
