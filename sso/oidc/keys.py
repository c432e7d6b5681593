"""The token signing key set: generation, rotation, the JWKS, signing and verifying our own JWTs.

Keys live in the database, the one truth every worker and host shares (no per-process keys);
private parts are encrypted with ``SSO_KEY_ENCRYPTION_KEY``, which is never in the database.
For each algorithm (RS256, ES256) there is one ``active`` key, which signs, and one ``next``
key, which is already published in the JWKS so relying parties have it cached before it ever
signs. :func:`rotate` retires the active key (it stays published until every token it signed
has expired), promotes the next key and creates a new next key.

Each process keeps a :class:`KeyCache`: decrypted active keys and the JWKS document, revalidated
against the database at most every ``refresh_interval`` seconds with one small query, so every
worker follows ``sso keys rotate`` within seconds. A stale worker may keep signing with the old
key for that long, which is safe because the old key stays published well beyond it.

Signing and verifying use the ``cryptography`` key objects held in the snapshot directly (one
RSA or ECDSA operation over ``header.payload``, the header segment encoded once per key), not a
JOSE library per token: the token endpoint signs once or twice per request, and introspection
and /userinfo verify once (bench/README.md §1). The checks are the same: header first (alg,
kid, typ and nothing else), the key always ours, then signature, then claims.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey, Key, KeyParameters, KeySet, RSAKey
from sqlalchemy.orm import Session, sessionmaker

from sso.config import Settings
from sso.core import clock, events
from sso.core.crypto import Encryptor, random_id
from sso.core.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from sso.db.models.keys import SigningKey
from sso.oidc import jws
from sso.oidc.jws import ALGORITHMS as ALGORITHMS
from sso.oidc.jws import MAX_JWT_LENGTH as MAX_JWT_LENGTH
from sso.oidc.jws import InvalidJWT as InvalidJWT
from sso.oidc.jws import UnknownKey as UnknownKey
from sso.runtime import Runtime
from sso.storage import audit
from sso.storage import keys as storage
from sso.storage.keys import ACTIVE, NEXT, RETIRED, KeyRow

# Added to the longest token lifetime before a retired key leaves the JWKS: covers clock skew,
# a worker that signs with a stale cache for a few seconds, and a relying party's JWKS cache.
UNPUBLISH_MARGIN = timedelta(seconds=300)
KEY_RETIRED = "key.retired"  # audit event (key.created and key.rotated are in core.events)
_KTY = {"RS256": ("RSA", ("n", "e")), "ES256": ("EC", ("crv", "x", "y"))}


class SigningKeyUnavailable(ServiceUnavailable):
    """No active key for the algorithm: :func:`ensure_keys` has not run on this database."""


@dataclass(frozen=True)
class Rotation:
    """What one rotation changed for one algorithm."""

    alg: str
    retired_kid: str
    activated_kid: str
    next_kid: str
    unpublish_at: datetime


# ---------------------------------------------------------------------------- key set changes


def _params(kid: str, alg: str) -> KeyParameters:
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
    params = _params(kid, alg)
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
            events.KEY_CREATED,
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
            events.KEY_ROTATED,
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


# ---------------------------------------------------------------------------- the cache


def _public_key(row: KeyRow) -> Key:
    """The public key from only the members a public key has; kid/alg/use come from the row."""
    kty, members = _KTY[row.alg]
    jwk = row.public_jwk
    if jwk.get("kty") != kty or (kty == "EC" and jwk.get("crv") != "P-256"):
        raise ValueError(f"signing key {row.kid}: public JWK does not match {row.alg}")
    data: dict[str, Any] = {"kty": kty, **{m: jwk[m] for m in members}}
    params = _params(row.kid, row.alg)
    key: Key = (RSAKey if kty == "RSA" else ECKey).import_key(data, parameters=params)
    return key


def _private_key(row: KeyRow, public: Key, encryptor: Encryptor) -> Key:
    pem = encryptor.decrypt(row.private_key_encrypted)
    params = _params(row.kid, row.alg)
    key: Key = (RSAKey if row.alg == "RS256" else ECKey).import_key(pem, parameters=params)
    if key.as_dict(private=False) != public.as_dict(private=False):
        raise ValueError(f"signing key {row.kid}: private key does not match its public JWK")
    return key


@dataclass(frozen=True)
class _Snapshot:
    states: tuple[storage.KeyState, ...]
    public: Mapping[str, Key]  # kid -> public key, every published key
    private: Mapping[str, Key]  # kid -> private key, active keys only
    signing: Mapping[str, Key]  # alg -> private key of the active key
    key_set: KeySet
    jwks: bytes
    # kid -> (alg, cryptography public key), every published key
    verifiers: Mapping[str, tuple[str, Any]] = field(default_factory=dict)


def _build(rows: list[KeyRow], previous: _Snapshot | None, encryptor: Encryptor) -> _Snapshot:
    rank = {ACTIVE: 0, NEXT: 1, RETIRED: 2}
    rows = sorted(
        rows, key=lambda r: (r.alg, rank[r.state], -(r.activated_at or r.created_at).timestamp())
    )
    public: dict[str, Key] = {}
    private: dict[str, Key] = {}
    signing: dict[str, Key] = {}
    for row in rows:
        pub = previous.public.get(row.kid) if previous else None
        public[row.kid] = pub = pub or _public_key(row)
        if row.state == ACTIVE and row.alg not in signing:
            # Decrypt only keys we did not hold already.
            priv = previous.private.get(row.kid) if previous else None
            private[row.kid] = signing[row.alg] = priv or _private_key(row, pub, encryptor)
    documents = [k.as_dict(private=False) for k in public.values()]
    verifiers = {kid: (str(key.alg), key.public_key) for kid, key in public.items()}
    return _Snapshot(
        states=tuple(sorted(storage.KeyState(r.kid, r.alg, r.state) for r in rows)),
        public=public,
        private=private,
        signing=signing,
        key_set=KeySet(list(public.values())),
        jwks=json.dumps({"keys": documents}, separators=(",", ":")).encode(),
        verifiers=verifiers,
    )


class KeyCache:
    """Per-process copy of the published key set, revalidated every ``refresh_interval`` s.

    Every method takes an optional ``session``: a caller that has a session open MUST pass it.
    Without one the cache reads through a short session of its own, which is only right where
    no other session is open: a second session beside an open one takes a second pool
    connection (a pool deadlock under load on PostgreSQL) and, on SQLite, waits for the write
    lock the first one holds (``BEGIN IMMEDIATE``) until the busy timeout. A snapshot is
    immutable and replaced whole, so readers need no lock.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        encryptor: Encryptor,
        *,
        refresh_interval: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self._encryptor = encryptor
        self.refresh_interval = refresh_interval
        self._snapshot: _Snapshot | None = None
        self._checked_at = float("-inf")
        self._refreshing = threading.Lock()

    def invalidate(self) -> None:
        """Revalidate on next use (e.g. after this process changed the key set)."""
        self._checked_at = float("-inf")

    def _current(self, session: Session | None) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is not None and time.monotonic() - self._checked_at < self.refresh_interval:
            return snapshot
        # One thread revalidates; the others keep using the copy they have (seconds old) rather
        # than queue behind it. Never wait for this lock while holding a database connection.
        if snapshot is not None and not self._refreshing.acquire(blocking=False):
            return snapshot
        try:
            if session is None:
                with self._sessions() as own:
                    return self._revalidate(own)
            return self._revalidate(session)
        finally:
            if snapshot is not None:
                self._refreshing.release()

    def _revalidate(self, session: Session) -> _Snapshot:
        started = time.monotonic()
        now = clock.now()
        previous = self._snapshot
        states = tuple(sorted(storage.published_states(session, now)))
        if previous is None or previous.states != states:
            snapshot = _build(storage.published_key_rows(session, now), previous, self._encryptor)
        else:
            snapshot = previous
        self._snapshot, self._checked_at = snapshot, started
        return snapshot

    # ---------------------------------------------------------------- reading the key set

    def jwks(self, *, session: Session | None = None) -> bytes:
        """The JWKS document (RFC 7517 §5): public members only, next and retired keys included."""
        return self._current(session).jwks

    def fresh_jwks(self) -> bytes | None:
        """The JWKS document when the copy needs no revalidation now (no database, no lock):
        lets the route answer from the event loop; None means call :meth:`jwks` in a thread."""
        snapshot = self._snapshot
        if snapshot is not None and time.monotonic() - self._checked_at < self.refresh_interval:
            return snapshot.jwks
        return None

    def last_jwks(self) -> bytes | None:
        """The JWKS document this process last published, however old (None before the first):
        what to serve while the database cannot be asked."""
        snapshot = self._snapshot
        return snapshot.jwks if snapshot is not None else None

    def verification_keys(self, *, session: Session | None = None) -> KeySet:
        """Every published public key (joserfc KeySet), to verify tokens we signed."""
        return self._current(session).key_set

    # ---------------------------------------------------------------- signing and verifying

    def sign_jwt(
        self,
        claims: Mapping[str, Any],
        alg: str,
        typ: str | None = None,
        *,
        session: Session | None = None,
    ) -> str:
        """A compact JWS of ``claims`` signed by the active ``alg`` key; header alg, kid, typ."""
        if alg not in ALGORITHMS:
            raise ValueError(f"unsupported signing algorithm {alg!r}")
        key = self._current(session).signing.get(alg)
        if key is None or key.kid is None:
            raise SigningKeyUnavailable("no active signing key for {alg}", alg=alg)
        return jws.encode(claims, alg, key.kid, typ, key.private_key)

    def verify_jwt(
        self,
        token: str | bytes,
        *,
        typ: str | Collection[str | None] | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        check_exp: bool = True,
        leeway: int = 0,
        session: Session | None = None,
    ) -> dict[str, Any]:
        """Claims of a JWT we signed; :class:`InvalidJWT` for anything else.

        Only a compact JWS with alg RS256/ES256 and the kid of a published key of that alg is
        considered; the key always comes from our set, never from the token. ``typ`` (e.g.
        ``"at+jwt"`` or ``("jwt", None)``) is compared without case and ``application/``;
        ``exp``/``nbf`` are checked against our clock (``check_exp=False`` for an expired
        ``id_token_hint``); ``iss`` and ``aud`` when given.
        """
        header = jws.parse_header(token)
        alg, kid = header["alg"], header["kid"]
        found = self._current(session).verifiers.get(kid)
        if found is None:
            raise UnknownKey(f"unknown kid {kid[:64]!r}")
        key_alg, public = found
        if key_alg != alg:
            raise InvalidJWT(f"alg {alg} does not match key {kid}")
        claims = jws.verified_claims(token, alg, public)
        jws.check_typ(header.get("typ"), typ)
        jws.check_claims(
            claims, issuer=issuer, audience=audience, check_exp=check_exp, leeway=leeway
        )
        return dict(claims)


# ---------------------------------------------------------------------------- the service


class KeyService:
    """Key management and the process's key cache, bound to one :class:`Runtime`.

    Management methods work in the caller's session (the caller commits); signing, JWKS and
    verification read the cache. Get the process-wide instance with :func:`key_service`.
    """

    def __init__(self, runtime: Runtime, *, refresh_interval: float = 5.0) -> None:
        self.settings = runtime.settings
        self.encryptor = runtime.encryptor
        self.cache = KeyCache(
            runtime.sessions, runtime.encryptor, refresh_interval=refresh_interval
        )

    def ensure_keys(self, session: Session) -> list[SigningKey]:
        created = ensure_keys(session, self.encryptor, self.settings)
        self.cache.invalidate()
        return created

    def rotate(
        self, session: Session, alg: str | None = None, *, if_due: bool = False
    ) -> list[Rotation]:
        done = rotate(session, self.encryptor, self.settings, alg, if_due=if_due)
        self.cache.invalidate()
        return done

    def retire(self, session: Session, kid: str) -> SigningKey:
        key = retire(session, self.encryptor, self.settings, kid)
        self.cache.invalidate()
        return key

    def sign_jwt(
        self,
        claims: Mapping[str, Any],
        alg: str | None = None,
        typ: str | None = None,
        *,
        session: Session | None = None,
    ) -> str:
        """Sign with the active key of ``alg`` (default: ``settings.default_signing_alg``)."""
        return self.cache.sign_jwt(
            claims, alg or self.settings.default_signing_alg, typ, session=session
        )

    def jwks(self, *, session: Session | None = None) -> bytes:
        return self.cache.jwks(session=session)

    def verification_keys(self, *, session: Session | None = None) -> KeySet:
        return self.cache.verification_keys(session=session)

    def verify_jwt(
        self,
        token: str | bytes,
        *,
        typ: str | Collection[str | None] | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        check_exp: bool = True,
        leeway: int = 0,
        session: Session | None = None,
    ) -> dict[str, Any]:
        """See :meth:`KeyCache.verify_jwt`."""
        return self.cache.verify_jwt(
            token,
            typ=typ,
            issuer=issuer,
            audience=audience,
            check_exp=check_exp,
            leeway=leeway,
            session=session,
        )


_service_lock = threading.Lock()


def key_service(runtime: Runtime) -> KeyService:
    """The one :class:`KeyService` of ``runtime`` (kept in ``runtime.extras``)."""
    with _service_lock:
        service = runtime.extras.get("key_service")
        if not isinstance(service, KeyService):
            service = runtime.extras["key_service"] = KeyService(runtime)
        return service
