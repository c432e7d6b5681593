"""Token-endpoint state that is not a grant: used client-assertion ids (RFC 7523 §3).

A ``jti`` is remembered until the assertion's ``exp`` (``sso gc`` deletes it afterwards), so a
replay inside the assertion's lifetime finds the row. The insert runs in a SAVEPOINT: a
duplicate (even one committed by a concurrent request a moment ago) is reported as ``False``
without spoiling the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sso.db.models import ClientAssertionJti


def record_assertion_jti(session: Session, client_id: str, jti: str, expires_at: datetime) -> bool:
    """Remember a client assertion's ``jti``; False when it was already used (a replay)."""
    if session.get(ClientAssertionJti, (client_id, jti)) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(ClientAssertionJti(client_id=client_id, jti=jti, expires_at=expires_at))
    except IntegrityError:
        return False
    return True
