"""The state of an access token and its person's row in one read (``/userinfo``, issue 17).

:func:`sso.storage.grants.access_token_state` reads the grant, the revoked-``jti`` check and
the person's status; ``/userinfo`` then needs the person's whole row (with the agency, joined
as the model always loads it). Here both come back from one SELECT: the person as the ORM
entity (the same object ``session.get(User, id)`` gives), the rest as columns of the statement,
which is built once and so compiled once.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, exists, select
from sqlalchemy.orm import Session

from sso.db.models import Grant, RevokedAccessToken, User
from sso.storage.grants import AccessTokenState

_grants = cast(Table, Grant.__table__)
_revoked = cast(Table, RevokedAccessToken.__table__)
_grant_columns = tuple(_grants.columns)
_state_with_user = (
    select(
        User,
        *_grant_columns,
        exists().where(_revoked.c.jti == bindparam("jti")).label("jti_revoked"),
    )
    .select_from(_grants)
    .outerjoin(User, User.id == _grants.c.user_id)
    .where(_grants.c.id == bindparam("gid"))
)


def access_token_state_with_user(
    session: Session, grant_id: str, jti: str
) -> tuple[AccessTokenState, User | None] | None:
    """:func:`~sso.storage.grants.access_token_state` and the person's row, in one SELECT."""
    row = session.execute(_state_with_user, {"gid": grant_id, "jti": jti}).first()
    if row is None:
        return None
    user: User | None = row[0]
    n = len(_grant_columns)
    grant = Grant(**{c.name: row[1 + i] for i, c in enumerate(_grant_columns)})
    status = user.status if user is not None else None
    username = user.username if user is not None else None
    return AccessTokenState(grant, bool(row[1 + n]), status, username), user
