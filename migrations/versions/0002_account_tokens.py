"""account tokens: single-use email verification and password reset links

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 19:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sso.db.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("created_at", sso.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sso.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("consumed_at", sso.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("voided_at", sso.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('email_verification', 'password_reset')",
            name=op.f("ck_account_tokens_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_account_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_account_tokens")),
    )
    with op.batch_alter_table("account_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_account_tokens_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index("ix_account_tokens_user_kind", ["user_id", "kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("account_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_account_tokens_user_kind")
        batch_op.drop_index(batch_op.f("ix_account_tokens_expires_at"))

    op.drop_table("account_tokens")
