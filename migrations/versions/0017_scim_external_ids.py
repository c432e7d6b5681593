"""SCIM externalId (RFC 7643 §3.1) of users and agencies: the identifier the provisioning
client (the staff register, SIMPEG) gives the resource, kept as it sent it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 18:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=255), nullable=True))
        batch_op.create_index("ix_users_external_id", ["external_id"], unique=False)
    with op.batch_alter_table("agencies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agencies", schema=None) as batch_op:
        batch_op.drop_column("external_id")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_external_id")
        batch_op.drop_column("external_id")
