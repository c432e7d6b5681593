"""Changes to the token signing key set: generation, making sure each algorithm has its keys,
rotation and retirement (the cache that signs and verifies with them is :mod:`sso.oidc.keys`).

For each algorithm (RS256, ES256) there is one ``active`` key, which signs, and one ``next``
key, which is already published in the JWKS so relying parties have it cached before it ever
signs. :func:`rotate` retires the active key (it stays published until every token it signed
has expired), promotes the next key and creates a new next key. Every change takes the key-set
lock and is audited; the caller commits (and invalidates its process's cache:
:class:`sso.oidc.keys.KeyService` does both).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from joserfc.jwk import ECKey, Key, KeyParameters, RSAKey
from sqlalchemy.orm import Session

from sso.config import Settings
from sso.core import clock
from sso.core.crypto import Encryptor, random_id
from sso.core.errors import Conflict, InvalidInput, NotFound
from sso.core.events import Event
from sso.db.models.keys import SigningKey
from sso.oidc.jws import ALGORITHMS as ALGORITHMS  # re-exported (sso keys --alg)
from sso.storage import audit
from sso.storage import keys as storage
from sso.storage.keys import ACTIVE, NEXT

# Added to the longest token lifetime before a retired key leaves the JWKS: covers clock skew,
# a worker that signs with a stale cache for a few seconds, and a relying party's JWKS cache.
UNPUBLISH_MARGIN = timedelta(seconds=300)
KEY_RETIRED = Event.KEY_RETIRED


@dataclass(frozen=True)
class Rotation:
    """What one rotation changed for one algorithm."""

    alg: str
    retired_kid: str
    activated_kid: str
    next_kid: str
    unpublish_at: datetime


def key_parameters(kid: str, alg: str) -> KeyParameters:
    """The JWK members we set on every key of ours."""
    return {"kid": kid, "alg": alg, "use": "sig"}


def unpublish_delay(settings: Settings) -> timedelta:
    """How long a retired key stays published: the longest token lifetime plus a margin."""
    longest = max(settings.access_token_lifetime, settings.id_token_lifetime)
    return timedelta(seconds=longest) + UNPUBLISH_MARGIN


def generate_key(alg: str, encryptor: Encryptor, *, state: str = NEXT) -> SigningKey:
    """A new key pair as a row (not yet added): public JWK in clear, private PEM encrypted."""
    kid = random_id()
    while kid.startswith("-"):  # so `sso keys retire KID` never reads it as an option
        kid = random_id()
    params = key_parameters(kid, alg)
    key: Key
    if alg == "RS256":
        key = RSAKey.generate_key(2048, parameters=params, private=True)
    elif alg == "ES256":
        key = ECKey.generate_key("P-256", parameters=params, private=True)
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    now = clock.now()
    return SigningKey(
        kid=kid,
        alg=alg,
        state=state,
        private_key_encrypted=encryptor.encrypt(key.as_pem(private=True).decode("ascii")),
        public_jwk=dict(key.as_dict(private=False)),
        created_at=now,
        activated_at=now if state == ACTIVE else None,
    )


def _algs(alg: str | None) -> tuple[str, ...]:
    if alg is None:
        return ALGORITHMS
    if alg not in ALGORITHMS:
        raise InvalidInput("unknown signing algorithm {alg}", alg=alg)
    return (alg,)


def _repair(
    session: Session, encryptor: Encryptor, settings: Settings, alg: str
) -> list[SigningKey]:
    """Make one active and one next key of ``alg`` (the key-set lock is held)."""
    now = clock.now()
    created: list[SigningKey] = []
    actives = storage.in_state(session, alg, ACTIVE)
    nexts = sorted(storage.in_state(session, alg, NEXT), key=lambda k: k.created_at)
    # Never happens under the lock; if the rows say otherwise, keep the newest active key and
    # the oldest next key (published longest). An extra next key never signed: unpublish now.
    for extra in actives[1:]:
        storage.retire(session, extra.kid, now, now + unpublish_delay(settings))
    for extra in nexts[1:]:
        storage.retire(session, extra.kid, now, now)
    nexts = nexts[:1]
    if not actives:
        if nexts:  # already published: promote rather than sign with a brand-new key
            storage.activate(session, nexts.pop().kid, now)
        else:
            created.append(storage.insert(session, generate_key(alg, encryptor, state=ACTIVE)))
    if not nexts:
        created.append(storage.insert(session, generate_key(alg, encryptor)))
    return created


def ensure_keys(
    session: Session, encryptor: Encryptor, settings: Settings, alg: str | None = None
) -> list[SigningKey]:
    """Make sure each algorithm has exactly one active and one next key; returns keys created.

    Safe when many processes start at once on an empty database: the check is repeated under
    the key-set lock (a PostgreSQL advisory lock, SQLite's write lock), so exactly one process
    creates the keys and the others see them. The caller commits.
    """
    algs = _algs(alg)
    # Lock first, then look: a check before the lock would be stale, and on SQLite a transaction
    # that read before it writes cannot wait for the write lock, only fail.
    storage.lock_key_set(session)
    created: list[SigningKey] = []
    for one in algs:
        created += _created(session, _repair(session, encryptor, settings, one))
    return created


def _created(session: Session, keys: list[SigningKey]) -> list[SigningKey]:
    for key in keys:
        audit.record(
            session,
            Event.KEY_CREATED,
            target_type="signing_key",
            target_id=key.kid,
            alg=key.alg,
            state=key.state,
        )
    return keys


def rotate(
    session: Session,
    encryptor: Encryptor,
    settings: Settings,
    alg: str | None = None,
    *,
    if_due: bool = False,
) -> list[Rotation]:
    """Retire the active key, promote the next key, create a new next key (per algorithm).

    With ``if_due`` only algorithms whose active key is older than ``signing_key_lifetime``
    rotate. The caller commits.
    """
    algs = _algs(alg)
    storage.lock_key_set(session)
    now = clock.now()
    done: list[Rotation] = []
    for one in algs:
        _created(session, _repair(session, encryptor, settings, one))
        active = storage.in_state(session, one, ACTIVE)[0]
        upcoming = storage.in_state(session, one, NEXT)[0]
        activated_at = active.activated_at or active.created_at
        if if_due and now - activated_at < timedelta(seconds=settings.signing_key_lifetime):
            continue
        unpublish_at = now + unpublish_delay(settings)
        if not (
            storage.retire(session, active.kid, now, unpublish_at, from_states=(ACTIVE,))
            and storage.activate(session, upcoming.kid, now)
        ):  # cannot happen while we hold the lock; refuse rather than guess
            raise Conflict("the signing key set changed during rotation; try again")
        fresh = _created(session, [storage.insert(session, generate_key(one, encryptor))])[0]
        done.append(Rotation(one, active.kid, upcoming.kid, fresh.kid, unpublish_at))
        audit.record(
            session,
            Event.KEY_ROTATED,
            target_type="signing_key",
            target_id=upcoming.kid,
            alg=one,
            retired_kid=active.kid,
            next_kid=fresh.kid,
            unpublish_at=unpublish_at.isoformat(),
        )
    return done


def retire(session: Session, encryptor: Encryptor, settings: Settings, kid: str) -> SigningKey:
    """Take a key that does not sign out of service now (e.g. suspected leak).

    A next key never signed anything: it leaves the JWKS at once and a new next key replaces
    it. A retired key is unpublished at once, so tokens it signed stop verifying. The active
    key cannot be retired here: rotate first. The caller commits.
    """
    storage.lock_key_set(session)
    now = clock.now()
    key = storage.get(session, kid)
    if key is None:
        raise NotFound("no signing key {kid}", kid=kid)
    if key.state == ACTIVE:
        raise Conflict("signing key {kid} is active: rotate first", kid=kid)
    if key.state == NEXT:
        storage.retire(session, kid, now, now, from_states=(NEXT,))
        _created(session, _repair(session, encryptor, settings, key.alg))
    elif key.unpublish_at is None or key.unpublish_at > now:
        storage.unpublish(session, kid, now)
    audit.record(session, KEY_RETIRED, target_type="signing_key", target_id=kid, alg=key.alg)
    found = storage.get(session, kid)
    assert found is not None
    return found
