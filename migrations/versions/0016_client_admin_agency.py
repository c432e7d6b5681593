"""client admin agency: a machine client of the Admin API limited to an agency subtree

A ``client_credentials`` client with the scopes ``admin:read`` / ``admin:write`` may be limited
to one agency and the agencies below it (issue 16): it then sees and changes exactly what an
opd-admin of that agency could. No cascade on purpose: deleting the agency must not silently
widen the client to every agency, so the agency cannot be deleted while a client is limited
to it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("admin_agency_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_clients_admin_agency_id"), ["admin_agency_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_clients_admin_agency_id_agencies"),
            "agencies",
            ["admin_agency_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_clients_admin_agency_id_agencies"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_clients_admin_agency_id"))
        batch_op.drop_column("admin_agency_id")
