"""mailbox state: the UIDs a renumbered folder held when intake noticed, for recognising old copies

After a UIDVALIDITY change only the messages that were in the folder then may be taken for
copies of what was stored before by their Message-ID; a corrected resend that arrives later
(same Message-ID, new bytes) is new mail.

Revision ID: 0900
Revises: 0920
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0900"
down_revision: str | None = "0920"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mailbox_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resync_below", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailbox_state", schema=None) as batch_op:
        batch_op.drop_column("resync_below")
