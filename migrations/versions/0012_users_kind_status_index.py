"""users by kind and status: the admin dashboard's count of active staff and of those with a
second factor read this index alone (issue 13 bench: 160 ms at 1,000,000 citizens with 20,000
staff spread over the table, a heap fetch per staff row; a few ms with it).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 16:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_kind_status", ["kind", "status", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_kind_status")
