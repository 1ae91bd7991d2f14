"""receipt caps and login throttle: hourly caps counted by recipient and domain; delays instead of lock-outs

Receipts are capped per hour by recipient (with ``+tags`` removed), by recipient
domain and in total, counted over the receipts handed to the mail server in the
last hour; so each receipt row keeps its recipient key and domain, indexed with
``handoff_at``. The old index on (recipient, created_at) served a limit counted
when the receipt was planned, which is gone.

Failed logins are counted per client address and per account name in
``login_throttle``, and the users' own failure count and lock-out go, since a
lock anyone could trigger kept staff out.

Revision ID: 0710
Revises: 0820
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import intake.db.models

revision: str = "0710"
down_revision: str | None = "0820"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("acknowledgements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient_key", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True))
        batch_op.add_column(sa.Column("recipient_domain", sqlmodel.sql.sqltypes.AutoString(length=255),
                                      nullable=True))
        batch_op.drop_index("ix_acknowledgements_recipient_created_at")
        batch_op.create_index("ix_acknowledgements_recipient_key_handoff_at", ["recipient_key", "handoff_at"])
        batch_op.create_index("ix_acknowledgements_recipient_domain_handoff_at", ["recipient_domain", "handoff_at"])
        batch_op.create_index("ix_acknowledgements_handoff_at", ["handoff_at"])
    # Receipts planned before this revision: their key and domain, from the address they went to.
    # (A +tag stays on these few old rows; they leave the caps' hour soon enough.)
    op.execute(
        "UPDATE acknowledgements SET recipient_key = lower(recipient), "
        "recipient_domain = lower(substr(recipient, instr(recipient, '@') + 1)) WHERE recipient IS NOT NULL"
        if op.get_bind().dialect.name == "sqlite" else
        "UPDATE acknowledgements SET recipient_key = lower(recipient), "
        "recipient_domain = lower(split_part(recipient, '@', 2)) WHERE recipient IS NOT NULL"
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("failed_logins")
        batch_op.drop_column("locked_until")
    op.create_table(
        "login_throttle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", intake.db.models.UTCDateTime(), nullable=False),
        sa.Column("wait_until", intake.db.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_throttle_key"), ["key"], unique=True)
        batch_op.create_index(batch_op.f("ix_login_throttle_last_failure_at"), ["last_failure_at"], unique=False)


def downgrade() -> None:
    op.drop_table("login_throttle")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("locked_until", intake.db.models.UTCDateTime(), nullable=True))
    with op.batch_alter_table("acknowledgements", schema=None) as batch_op:
        batch_op.drop_index("ix_acknowledgements_handoff_at")
        batch_op.drop_index("ix_acknowledgements_recipient_domain_handoff_at")
        batch_op.drop_index("ix_acknowledgements_recipient_key_handoff_at")
        batch_op.create_index("ix_acknowledgements_recipient_created_at", ["recipient", "created_at"])
        batch_op.drop_column("recipient_domain")
        batch_op.drop_column("recipient_key")
