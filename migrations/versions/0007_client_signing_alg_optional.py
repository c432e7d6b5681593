"""clients: id_token_signed_response_alg may be unset

NULL means the client chose no algorithm: its ID tokens are signed with
``SSO_DEFAULT_SIGNING_ALG`` as it is at signing time. Rows registered before keep the value
stored then (``RS256`` was written whether or not it was chosen, so it cannot be told apart
from a choice, and relying parties may have pinned it). Downgrading writes RS256 (the value once hard-coded) where none was chosen.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 15:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.alter_column(
            "id_token_signed_response_alg", existing_type=sa.String(length=16), nullable=True
        )


def downgrade() -> None:
    op.execute(
        "UPDATE clients SET id_token_signed_response_alg = 'RS256' "
        "WHERE id_token_signed_response_alg IS NULL"
    )
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.alter_column(
            "id_token_signed_response_alg", existing_type=sa.String(length=16), nullable=False
        )
