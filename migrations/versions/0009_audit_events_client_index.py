"""audit events: indexes for the audit log's filters by app and by dates alone

``ix_audit_events_client`` (client_id, created_at) serves the app filter.
``ix_audit_events_created`` (created_at, id) is the order of the log's pages (newest first, keyed
by both): walked backwards it serves a date range with no other filter however far back it lies
(paging by id alone made PostgreSQL read every newer row first).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 16:00:00.000000

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_client", ["client_id", "created_at"], unique=False)
        batch_op.create_index("ix_audit_events_created", ["created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_created")
        batch_op.drop_index("ix_audit_events_client")
