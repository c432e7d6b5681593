"""one-time codes: 6-digit codes sent by WhatsApp, SMS or mail (verify a phone or an email, log
in, register), stored as keyed hashes with their attempts and expiry, and users by phone
number (issue 15)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 18:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import sso.db.types

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "one_time_codes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("destination", sa.String(length=254), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sends", sa.Integer(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sso.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sso.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sso.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("consumed_at", sso.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('verify_phone', 'verify_email', 'login', 'register')",
            name=op.f("ck_one_time_codes_purpose"),
        ),
        sa.CheckConstraint(
            "channel IN ('whatsapp', 'sms', 'email')", name=op.f("ck_one_time_codes_channel")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_one_time_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_time_codes")),
    )
    with op.batch_alter_table("one_time_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_one_time_codes_expires_at"), ["expires_at"])
        batch_op.create_index(batch_op.f("ix_one_time_codes_user_id"), ["user_id"])
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_phone", ["phone"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_phone")
    with op.batch_alter_table("one_time_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_one_time_codes_user_id"))
        batch_op.drop_index(batch_op.f("ix_one_time_codes_expires_at"))
    op.drop_table("one_time_codes")
