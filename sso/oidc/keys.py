"""The token signing keys in use: the JWKS, signing and verifying our own JWTs, and the
:class:`KeyService` that also runs the key set's changes (:mod:`sso.oidc.key_set`: generation,
rotation, retirement).

Keys live in the database, the one truth every worker and host shares (no per-process keys);
private parts are encrypted with ``SSO_KEY_ENCRYPTION_KEY``, which is never in the database.

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
from typing import Any

from joserfc.jwk import ECKey, Key, KeySet, RSAKey
from sqlalchemy.orm import Session, sessionmaker

from sso.core import clock
from sso.core.crypto import Encryptor
from sso.core.errors import ServiceUnavailable
from sso.db.models.keys import SigningKey
from sso.oidc import jws, key_set
from sso.oidc.jws import ALGORITHMS as ALGORITHMS
from sso.oidc.jws import MAX_JWT_LENGTH as MAX_JWT_LENGTH
from sso.oidc.jws import InvalidJWT as InvalidJWT
from sso.oidc.jws import UnknownKey as UnknownKey
from sso.runtime import Runtime
from sso.storage import keys as storage
from sso.storage.keys import ACTIVE, NEXT, RETIRED, KeyRow

_KTY = {"RS256": ("RSA", ("n", "e")), "ES256": ("EC", ("crv", "x", "y"))}


class SigningKeyUnavailable(ServiceUnavailable):
    """No active key for the algorithm (:func:`sso.oidc.key_set.ensure_keys` has not run)."""


# ---------------------------------------------------------------------------- the cache


def _public_key(row: KeyRow) -> Key:
    """The public key from only the members a public key has; kid/alg/use come from the row."""
    kty, members = _KTY[row.alg]
    jwk = row.public_jwk
    if jwk.get("kty") != kty or (kty == "EC" and jwk.get("crv") != "P-256"):
        raise ValueError(f"signing key {row.kid}: public JWK does not match {row.alg}")
    data: dict[str, Any] = {"kty": kty, **{m: jwk[m] for m in members}}
    params = key_set.key_parameters(row.kid, row.alg)
    key: Key = (RSAKey if kty == "RSA" else ECKey).import_key(data, parameters=params)
    return key


def _private_key(row: KeyRow, public: Key, encryptor: Encryptor) -> Key:
    pem = encryptor.decrypt(row.private_key_encrypted)
    params = key_set.key_parameters(row.kid, row.alg)
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
    verification read the cache. The application's one instance is ``AppRuntime.keys``
    (:mod:`sso.web.app_runtime`); the CLI makes its own.
    """

    def __init__(self, runtime: Runtime, *, refresh_interval: float = 5.0) -> None:
        self.settings = runtime.settings
        self.encryptor = runtime.encryptor
        self.cache = KeyCache(
            runtime.sessions, runtime.encryptor, refresh_interval=refresh_interval
        )

    def ensure_keys(self, session: Session) -> list[SigningKey]:
        created = key_set.ensure_keys(session, self.encryptor, self.settings)
        self.cache.invalidate()
        return created

    def rotate(
        self, session: Session, alg: str | None = None, *, if_due: bool = False
    ) -> list[key_set.Rotation]:
        done = key_set.rotate(session, self.encryptor, self.settings, alg, if_due=if_due)
        self.cache.invalidate()
        return done

    def retire(self, session: Session, kid: str) -> SigningKey:
        key = key_set.retire(session, self.encryptor, self.settings, kid)
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
