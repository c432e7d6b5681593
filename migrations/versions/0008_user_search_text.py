"""user search text, last login

``users.search_text``: the folded name, username, email and NIP (accents stripped,
case-folded, by ``sso.db.models.accounts.search_text_of``) that the admin search matches any
part of, with a trigram GIN index on PostgreSQL (``pg_trgm``) so ``LIKE '%part%'`` stays fast
at a million people. It is computed in Python, at write time, rather than with ``unaccent()``
in an expression index: ``unaccent`` is not IMMUTABLE (it depends on a dictionary), and one
folding function for rows and queries means both sides always agree, on SQLite too.

``users.last_login_at``: when the person last opened a login session (the admin list sorts by
it), filled from the sessions still kept. Indexes on ``(created_at, id)`` and
``(last_login_at, id)`` serve the other two sort orders.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 15:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sso.db.types
from sso.db.models.accounts import search_text_of

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        # A trusted extension since PostgreSQL 13: the database owner may create it. Left in
        # place by the downgrade (other schemas may use it too).
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_text", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("last_login_at", sso.db.types.UTCDateTime(timezone=True), nullable=True)
        )
    _backfill_search_text(bind)
    if postgres:  # finer statistics: the list's totals past 10,000 are the planner's estimate
        op.execute("ALTER TABLE users ALTER COLUMN search_text SET STATISTICS 1000")
    op.execute(
        "UPDATE users SET last_login_at = (SELECT max(s.auth_time) FROM login_sessions s "
        "WHERE s.user_id = users.id)"
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("search_text", existing_type=sa.Text(), nullable=False)
        batch_op.create_index("ix_users_created", ["created_at", "id"], unique=False)
        batch_op.create_index("ix_users_last_login", ["last_login_at", "id"], unique=False)
        batch_op.create_index(
            "ix_users_search_text",
            ["search_text"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        )


def _backfill_search_text(bind: sa.Connection) -> None:
    """Every existing row, in keyset batches of ``BATCH`` (the same Python folding as the
    application's writes)."""
    users = sa.table(
        "users",
        sa.column("id", sa.String),
        sa.column("display_name", sa.String),
        sa.column("username", sa.String),
        sa.column("email", sa.String),
        sa.column("nip", sa.String),
        sa.column("search_text", sa.Text),
    )
    after = ""
    while True:
        rows = bind.execute(
            sa.select(
                users.c.id, users.c.display_name, users.c.username, users.c.email, users.c.nip
            )
            .where(users.c.id > after)
            .order_by(users.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        bind.execute(
            sa.update(users)
            .where(users.c.id == sa.bindparam("uid"))
            .values(search_text=sa.bindparam("text")),
            [{"uid": r[0], "text": search_text_of(r[1], r[2], r[3], r[4])} for r in rows],
        )
        after = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_search_text", postgresql_using="gin")
        batch_op.drop_index("ix_users_last_login")
        batch_op.drop_index("ix_users_created")
        batch_op.drop_column("last_login_at")
        batch_op.drop_column("search_text")
