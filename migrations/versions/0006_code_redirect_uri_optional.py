"""authorization codes: redirect_uri may be absent

A plain OAuth request that omitted ``redirect_uri`` (the client's one registered URI is used)
leaves the code's ``redirect_uri`` NULL, so the token request need not send one (RFC 6749
§4.1.3). Downgrading drops codes without one: they live a minute and cannot be stored.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 15:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.alter_column("redirect_uri", existing_type=sa.String(length=2000), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM authorization_codes WHERE redirect_uri IS NULL")
    with op.batch_alter_table("authorization_codes", schema=None) as batch_op:
        batch_op.alter_column("redirect_uri", existing_type=sa.String(length=2000), nullable=False)
