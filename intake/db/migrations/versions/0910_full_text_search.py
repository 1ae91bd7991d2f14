"""full-text search of the mail text and the attachment text; review claims

PostgreSQL: GIN indexes over ``to_tsvector('norwegian', …)`` of a submission's subject and
e-mail text and of each attachment's text (``intake.review.search`` queries the very same
expressions, so the indexes are used). SQLite: an FTS5 table kept up to date by triggers.
review_claims holds who has a submission open («tatt av kari»). The search objects are
dialect-specific and live outside the models' metadata (see ``intake.review.search``).

Revision ID: 0910
Revises: 0900
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from intake.db.models import UTCDateTime
from intake.review.search_schema import POSTGRESQL_DOWN, POSTGRESQL_UP, SQLITE_DOWN, SQLITE_UP

revision: str = "0910"
down_revision: str | None = "0900"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "review_claims",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("staff", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"]),
        sa.PrimaryKeyConstraint("submission_id"),
    )
    with op.batch_alter_table("review_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_claims_staff"), ["staff"], unique=False)
    statements = POSTGRESQL_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    statements = POSTGRESQL_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN
    for statement in statements:
        op.execute(statement)
    with op.batch_alter_table("review_claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_claims_staff"))
    op.drop_table("review_claims")
