"""message envelope: the peer address, HELO name and MAIL FROM of mail handed to our receiver

SPF needs what the sending server said and where it connected from, which only the
SMTP session knows; the stored bytes stay exactly what was received. Null for mail
fetched over IMAP or read from a file, and for mail stored before this revision.

Revision ID: 0930
Revises: 0800
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0930"
down_revision: str | None = "0800"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("peer_ip", sqlmodel.sql.sqltypes.AutoString(length=45), nullable=True))
        batch_op.add_column(sa.Column("helo", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
        batch_op.add_column(sa.Column("mail_from", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("mail_from")
        batch_op.drop_column("helo")
        batch_op.drop_column("peer_ip")
