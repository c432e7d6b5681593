"""Second factors: TOTP credentials, recovery codes, WebAuthn credentials and challenges.

Single-use things are spent by one conditional ``UPDATE``: a TOTP step (``last_used_step`` only
grows), a recovery code (``used_at`` set once) and a WebAuthn challenge (``consumed_at`` set
once, by :mod:`sso.storage.single_use`); the caller checks that exactly one row changed, so two
concurrent requests never both win.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from sso.core.clock import now
from sso.db.models import RecoveryCode, TotpCredential, WebAuthnChallenge, WebAuthnCredential
from sso.storage.single_use import SingleUse


def _changed(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


# ---------------------------------------------------------------------- TOTP
def get_totp(session: Session, user_id: str) -> TotpCredential | None:
    return session.get(TotpCredential, user_id)


def put_pending_totp(session: Session, user_id: str, secret_encrypted: str) -> TotpCredential:
    """A new unconfirmed TOTP secret (replacing an unconfirmed one; never a confirmed one)."""
    session.execute(
        delete(TotpCredential).where(
            TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_(None)
        )
    )
    row = TotpCredential(user_id=user_id, secret_encrypted=secret_encrypted)
    session.add(row)
    session.flush()
    return row


def confirm_totp(session: Session, user_id: str, step: int) -> bool:
    result = session.execute(
        update(TotpCredential)
        .where(TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_(None))
        .values(confirmed_at=now(), last_used_step=step)
        .execution_options(synchronize_session=False)
    )
    return _changed(result) == 1


def use_totp_step(session: Session, user_id: str, step: int) -> bool:
    """Spend time step ``step`` of a confirmed TOTP credential; False when it (or a later one)
    was already used: a replayed code."""
    t = TotpCredential
    result = session.execute(
        update(t)
        .where(
            t.user_id == user_id,
            t.confirmed_at.is_not(None),
            or_(t.last_used_step.is_(None), t.last_used_step < step),
        )
        .values(last_used_step=step)
        .execution_options(synchronize_session=False)
    )
    return _changed(result) == 1


def delete_totp(session: Session, user_id: str) -> bool:
    result = session.execute(delete(TotpCredential).where(TotpCredential.user_id == user_id))
    return _changed(result) > 0


# ---------------------------------------------------------------------- recovery codes
def replace_recovery_codes(session: Session, user_id: str, code_hashes: Sequence[str]) -> None:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    session.add_all(RecoveryCode(user_id=user_id, code_hash=h) for h in code_hashes)
    session.flush()


def use_recovery_code(session: Session, user_id: str, code_hash: str) -> bool:
    result = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == code_hash,
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now())
        .execution_options(synchronize_session=False)
    )
    return _changed(result) == 1


def unused_recovery_codes(session: Session, user_id: str) -> int:
    return int(
        session.scalar(
            select(func.count(RecoveryCode.id)).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )


def delete_recovery_codes(session: Session, user_id: str) -> int:
    return _changed(session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id)))


# ---------------------------------------------------------------------- WebAuthn credentials
def passkeys_of(session: Session, user_id: str) -> Sequence[WebAuthnCredential]:
    return session.scalars(
        select(WebAuthnCredential)
        .where(WebAuthnCredential.user_id == user_id)
        .order_by(WebAuthnCredential.created_at, WebAuthnCredential.id)
    ).all()


def count_passkeys(session: Session, user_id: str) -> int:
    return int(
        session.scalar(
            select(func.count(WebAuthnCredential.id)).where(WebAuthnCredential.user_id == user_id)
        )
        or 0
    )


def get_passkey(session: Session, user_id: str, passkey_id: str) -> WebAuthnCredential | None:
    row = session.get(WebAuthnCredential, passkey_id)
    return row if row is not None and row.user_id == user_id else None


def find_passkey(session: Session, credential_id: str) -> WebAuthnCredential | None:
    return session.scalar(
        select(WebAuthnCredential).where(WebAuthnCredential.credential_id == credential_id)
    )


def add_passkey(session: Session, row: WebAuthnCredential) -> WebAuthnCredential:
    session.add(row)
    session.flush()
    return row


def record_passkey_use(session: Session, passkey_id: str, old_count: int, new_count: int) -> bool:
    """Store the authenticator's new signature counter, unless another request moved it first."""
    result = session.execute(
        update(WebAuthnCredential)
        .where(WebAuthnCredential.id == passkey_id, WebAuthnCredential.sign_count == old_count)
        .values(sign_count=new_count, last_used_at=now())
        .execution_options(synchronize_session=False)
    )
    return _changed(result) == 1


def delete_passkey(session: Session, user_id: str, passkey_id: str) -> bool:
    result = session.execute(
        delete(WebAuthnCredential).where(
            WebAuthnCredential.id == passkey_id, WebAuthnCredential.user_id == user_id
        )
    )
    return _changed(result) == 1


def delete_passkeys(session: Session, user_id: str) -> int:
    return _changed(
        session.execute(delete(WebAuthnCredential).where(WebAuthnCredential.user_id == user_id))
    )


# ---------------------------------------------------------------------- WebAuthn challenges
def add_challenge(session: Session, row: WebAuthnChallenge) -> WebAuthnChallenge:
    session.add(row)
    session.flush()
    return row


def consume_challenge(session: Session, handle_hash: str, purpose: str) -> WebAuthnChallenge | None:
    """Spend a live challenge exactly once; the row, or None when unknown, used or expired."""
    spent = CHALLENGES.consume_row(session, handle_hash, purpose=purpose)
    return spent.row if spent.ok else None


CHALLENGES = SingleUse(WebAuthnChallenge, "handle_hash", match=("purpose",))


def delete_expired_challenges(session: Session, t: datetime) -> int:
    return _changed(
        session.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.expires_at <= t))
    )
