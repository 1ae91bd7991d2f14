"""full-text search of the mail text and the attachment text

PostgreSQL: GIN indexes over ``to_tsvector('norwegian', …)`` of a submission's subject and
e-mail text and of each attachment's text (``intake.review.search`` queries the very same
expressions, so the indexes are used). SQLite: an FTS5 table kept up to date by triggers.
Both are dialect-specific and live outside the models' metadata (see ``intake.review.search``).

Revision ID: 0910
Revises: 0800
"""

from collections.abc import Sequence

from alembic import op

from intake.review.search_schema import POSTGRESQL_DOWN, POSTGRESQL_UP, SQLITE_DOWN, SQLITE_UP

revision: str = "0910"
down_revision: str | None = "0800"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    statements = POSTGRESQL_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    statements = POSTGRESQL_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN
    for statement in statements:
        op.execute(statement)
