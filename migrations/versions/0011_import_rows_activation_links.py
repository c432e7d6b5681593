"""import rows, activation links

The rows of a staff import in a table of their own (paged and filtered by the database instead
of one JSON report), batches of activation links with one row per recipient (sent at most once
per batch, resumable), and the ``account_activation`` kind of account token.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 15:21:26.771631
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import sso.db.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "activation_batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("import_job_id", sa.String(length=36), nullable=True),
        sa.Column("created_by_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("lease_until", sso.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", sso.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sso.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sso.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('preparing', 'sending', 'sent')", name=op.f("ck_activation_batches_status")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_activation_batches_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["import_job_id"],
            ["import_jobs.id"],
            name=op.f("fk_activation_batches_import_job_id_import_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activation_batches")),
        sa.UniqueConstraint("import_job_id", name=op.f("uq_activation_batches_import_job_id")),
    )
    with op.batch_alter_table("activation_batches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_activation_batches_created_by_id"), ["created_by_id"], unique=False
        )

    op.create_table(
        "import_rows",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("line", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("nip", sa.String(length=300), nullable=False),
        sa.Column("nip_key", sa.String(length=18), nullable=True),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("email", sa.String(length=300), nullable=False),
        sa.Column("agency", sa.String(length=300), nullable=False),
        sa.Column("position", sa.String(length=300), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column(
            "changes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "reasons",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "action IN ('create', 'change', 'unchanged', 'refuse')",
            name=op.f("ck_import_rows_action"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["import_jobs.id"],
            name=op.f("fk_import_rows_job_id_import_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "line", name=op.f("pk_import_rows")),
    )
    with op.batch_alter_table("import_rows", schema=None) as batch_op:
        batch_op.create_index(
            "ix_import_rows_job_action_line", ["job_id", "action", "line"], unique=False
        )

    op.create_table(
        "activation_sends",
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sso.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'skipped')",
            name=op.f("ck_activation_sends_status"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["activation_batches.id"],
            name=op.f("fk_activation_sends_batch_id_activation_batches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_activation_sends_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("batch_id", "user_id", name=op.f("pk_activation_sends")),
    )
    with op.batch_alter_table("activation_sends", schema=None) as batch_op:
        batch_op.create_index(
            "ix_activation_sends_batch_status", ["batch_id", "status"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_activation_sends_user_id"), ["user_id"], unique=False)

    _token_kinds(("email_verification", "password_reset", "account_activation"))
    _move_report_rows()


def _move_report_rows() -> None:
    """Jobs made before this revision kept their rows in the job's JSON report: move them to
    ``import_rows`` (a reason becomes ``{"key": …, "value": ""}``; a row that was not refused
    had a valid NIP) so their reports page and filter like new ones."""
    json = sso.db.types.JSONType
    jobs = sa.table("import_jobs", sa.column("id", sa.String), sa.column("report", json))
    rows = sa.table(
        "import_rows",
        *(
            sa.column(name, sa.String)
            for name in (
                "job_id",
                "action",
                "nip",
                "nip_key",
                "name",
                "email",
                "agency",
                "position",
                "search_text",
                "user_id",
            )
        ),
        sa.column("line", sa.Integer),
        sa.column("version", sa.Integer),
        sa.column("changes", json),
        sa.column("reasons", json),
    )
    bind = op.get_bind()
    for job_id, report in bind.execute(sa.select(jobs.c.id, jobs.c.report)).all():
        entries = (report or {}).get("rows") or []
        values = []
        for e in entries:
            nip = "".join(str(e.get("nip", "")).split())
            values.append(
                {
                    "job_id": job_id,
                    "line": e["line"],
                    "action": e["action"],
                    "nip": str(e.get("nip", ""))[:300],
                    "nip_key": nip if e["action"] != "refuse" and len(nip) == 18 else None,
                    "name": str(e.get("name", ""))[:300],
                    "email": str(e.get("email", ""))[:300],
                    "agency": str(e.get("agency", ""))[:300],
                    "position": str(e.get("position", ""))[:300],
                    "search_text": " ".join(
                        str(e.get(k, "")) for k in ("nip", "name", "email")
                    ).casefold(),
                    "changes": e.get("changes"),
                    "user_id": e.get("user_id"),
                    "version": e.get("version"),
                    "reasons": [{"key": str(r), "value": ""} for r in e.get("reasons") or []]
                    or None,
                }
            )
        for i in range(0, len(values), 1000):
            bind.execute(sa.insert(rows), values[i : i + 1000])
        if report and "rows" in report:
            kept = {k: v for k, v in report.items() if k != "rows"}
            bind.execute(sa.update(jobs).where(jobs.c.id == job_id).values(report=kept))


def _token_kinds(kinds: tuple[str, ...]) -> None:
    allowed = ", ".join(f"'{k}'" for k in kinds)
    with op.batch_alter_table("account_tokens", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_account_tokens_kind"), type_="check")
        batch_op.create_check_constraint("kind", f"kind IN ({allowed})")


def downgrade() -> None:
    op.execute("DELETE FROM account_tokens WHERE kind = 'account_activation'")
    _token_kinds(("email_verification", "password_reset"))
    with op.batch_alter_table("activation_sends", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activation_sends_user_id"))
        batch_op.drop_index("ix_activation_sends_batch_status")

    op.drop_table("activation_sends")
    with op.batch_alter_table("import_rows", schema=None) as batch_op:
        batch_op.drop_index("ix_import_rows_job_action_line")

    op.drop_table("import_rows")
    with op.batch_alter_table("activation_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activation_batches_created_by_id"))

    op.drop_table("activation_batches")
