"""Signing keys: creation, rotation, JWKS, the per-process cache, and refusing foreign JWTs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from joserfc import jwt as rp_jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from joserfc.jws import JWSRegistry
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from sso.config import Settings
from sso.core.clock import FrozenClock, set_clock
from sso.core.errors import Conflict
from sso.db.models import AuditEvent
from sso.db.models.keys import SigningKey
from sso.oidc import key_set, keys
from sso.oidc.keys import InvalidJWT, KeyService
from sso.runtime import Runtime, build_runtime
from sso.web.app_runtime import AppRuntime

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def b64(data: bytes | dict[str, Any]) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def rows(session: Session) -> list[SigningKey]:
    return list(session.scalars(select(SigningKey).execution_options(populate_existing=True)))


def by_state(session: Session, alg: str, state: str) -> list[SigningKey]:
    return [k for k in rows(session) if k.alg == alg and k.state == state]


def claims(lifetime: int = 600, **extra: Any) -> dict[str, Any]:
    from sso.core.clock import clock

    now = clock.timestamp()
    return {
        "iss": "http://testserver",
        "sub": "u1",
        "aud": "c1",
        "iat": now,
        "exp": now + lifetime,
        **extra,
    }


@pytest.fixture
def frozen() -> Iterator[FrozenClock]:
    at = FrozenClock(datetime(2030, 1, 1, tzinfo=UTC))
    previous = set_clock(at)
    yield at
    set_clock(previous)


@pytest.fixture
def service(runtime: Runtime, db: Session) -> KeyService:
    svc = KeyService(runtime, refresh_interval=0)
    svc.ensure_keys(db)
    db.commit()
    return svc


# ---------------------------------------------------------------------------- ensure_keys


def test_ensure_keys_creates_one_active_and_one_next_per_alg_and_is_idempotent(
    runtime: Runtime, db: Session
) -> None:
    created = key_set.ensure_keys(db, runtime.encryptor, runtime.settings)
    db.commit()
    assert sorted((k.alg, k.state) for k in created) == [
        ("ES256", "active"),
        ("ES256", "next"),
        ("RS256", "active"),
        ("RS256", "next"),
    ]
    before = {k.kid for k in rows(db)}
    assert key_set.ensure_keys(db, runtime.encryptor, runtime.settings) == []
    db.commit()
    assert {k.kid for k in rows(db)} == before
    for alg in keys.ALGORITHMS:
        assert len(by_state(db, alg, "active")) == 1
        assert len(by_state(db, alg, "next")) == 1
    events = db.scalars(select(AuditEvent).where(AuditEvent.event == "key.created")).all()
    assert sorted(e.target_id or "" for e in events) == sorted(before)


def test_ensure_keys_promotes_a_published_next_key_when_no_key_is_active(
    runtime: Runtime, db: Session
) -> None:
    key_set.ensure_keys(db, runtime.encryptor, runtime.settings)
    db.commit()
    active = by_state(db, "RS256", "active")[0]
    upcoming = by_state(db, "RS256", "next")[0]
    db.delete(active)
    db.commit()
    key_set.ensure_keys(db, runtime.encryptor, runtime.settings)
    db.commit()
    assert by_state(db, "RS256", "active")[0].kid == upcoming.kid
    assert len(by_state(db, "RS256", "next")) == 1


def test_key_types_and_encryption_at_rest(runtime: Runtime, db: Session) -> None:
    key_set.ensure_keys(db, runtime.encryptor, runtime.settings)
    db.commit()
    for row in rows(db):
        jwk = row.public_jwk
        assert jwk["kid"] == row.kid and jwk["alg"] == row.alg and jwk["use"] == "sig"
        assert not PRIVATE_MEMBERS & set(jwk)
        assert "PRIVATE KEY" not in row.private_key_encrypted
        pem = runtime.encryptor.decrypt(row.private_key_encrypted)
        assert "PRIVATE KEY" in pem
        private = (RSAKey if row.alg == "RS256" else ECKey).import_key(pem)
        d = private.as_dict(private=True)["d"]
        assert isinstance(d, str) and d not in row.private_key_encrypted
        if row.alg == "RS256":
            assert jwk["kty"] == "RSA"
            assert len(base64.urlsafe_b64decode(jwk["n"] + "==")) * 8 == 2048
        else:
            assert jwk["kty"] == "EC" and jwk["crv"] == "P-256"


# ---------------------------------------------------------------------------- JWKS and signing


def test_jwks_has_public_parts_only_and_includes_next_keys(
    service: KeyService, db: Session
) -> None:
    document = json.loads(service.jwks(session=db))
    published = {k["kid"]: k for k in document["keys"]}
    assert set(published) == {k.kid for k in rows(db)}
    for key in published.values():
        assert not PRIVATE_MEMBERS & set(key), key
        assert key["use"] == "sig" and key["alg"] in ("RS256", "ES256")
    assert service.jwks() is service.jwks()  # built once per key set


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_signed_token_verifies_for_a_relying_party_using_the_jwks(
    service: KeyService, db: Session, alg: str
) -> None:
    token = service.sign_jwt(claims(), alg, "at+jwt", session=db)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    active = by_state(db, alg, "active")[0]
    assert header == {"alg": alg, "kid": active.kid, "typ": "at+jwt"}
    rp_keys = KeySet.import_key_set(json.loads(service.jwks()))
    assert rp_jwt.decode(token, rp_keys, algorithms=[alg]).claims["sub"] == "u1"
    assert (
        service.verify_jwt(token, typ="at+jwt", issuer="http://testserver", audience="c1")["sub"]
        == "u1"
    )


def test_default_alg_and_no_typ(service: KeyService, runtime: Runtime) -> None:
    token = service.sign_jwt(claims())
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == runtime.settings.default_signing_alg and "typ" not in header
    assert service.verify_jwt(token, typ=("jwt", None))["sub"] == "u1"
    with pytest.raises(InvalidJWT):
        service.verify_jwt(token, typ="at+jwt")


def test_claim_checks(frozen: FrozenClock, service: KeyService) -> None:
    token = service.sign_jwt(claims(lifetime=60), "RS256", "JWT")
    assert service.verify_jwt(token, typ="application/jwt")["aud"] == "c1"
    with pytest.raises(InvalidJWT, match="iss"):
        service.verify_jwt(token, issuer="https://elsewhere")
    with pytest.raises(InvalidJWT, match="aud"):
        service.verify_jwt(token, audience="c2")
    frozen.advance(61)
    with pytest.raises(InvalidJWT, match="expired"):
        service.verify_jwt(token)
    assert service.verify_jwt(token, check_exp=False)["sub"] == "u1"  # an old id_token_hint
    assert service.verify_jwt(token, leeway=30)["sub"] == "u1"
    no_exp = service.sign_jwt({"sub": "u1"}, "ES256")
    with pytest.raises(InvalidJWT, match="no exp"):
        service.verify_jwt(no_exp)
    early = service.sign_jwt(claims(nbf=frozen.timestamp() + 100), "ES256")
    with pytest.raises(InvalidJWT, match="nbf"):
        service.verify_jwt(early)


# ---------------------------------------------------------------------------- rotation


def test_rotation_keeps_old_tokens_valid_until_unpublish_at(
    frozen: FrozenClock, service: KeyService, runtime: Runtime, db: Session
) -> None:
    s = runtime.settings
    old_active = {alg: by_state(db, alg, "active")[0].kid for alg in keys.ALGORITHMS}
    old_next = {alg: by_state(db, alg, "next")[0].kid for alg in keys.ALGORITHMS}
    # a long-lived token so that only unpublishing, not exp, can make it fail
    before = service.sign_jwt(claims(lifetime=30 * 86400), "RS256")

    done = service.rotate(db)
    db.commit()
    assert {r.alg for r in done} == set(keys.ALGORITHMS)
    delay = timedelta(seconds=max(s.access_token_lifetime, s.id_token_lifetime) + 300)
    for r in done:
        assert r.retired_kid == old_active[r.alg] and r.activated_kid == old_next[r.alg]
        assert r.unpublish_at == frozen.now() + delay
        assert [k.kid for k in by_state(db, r.alg, "active")] == [old_next[r.alg]]
        assert [k.kid for k in by_state(db, r.alg, "next")] == [r.next_kid]
        retired = db.get(SigningKey, r.retired_kid, populate_existing=True)
        assert retired is not None and retired.state == "retired"
        assert retired.retired_at == frozen.now() and retired.unpublish_at == r.unpublish_at

    after = service.sign_jwt(claims(), "RS256")
    assert (
        json.loads(base64.urlsafe_b64decode(after.split(".")[0] + "=="))["kid"] == old_next["RS256"]
    )
    published = {k["kid"] for k in json.loads(service.jwks())["keys"]}
    assert published >= set(old_active.values()) | {r.next_kid for r in done}
    assert service.verify_jwt(before)["sub"] == "u1"
    assert len(db.scalars(select(AuditEvent).where(AuditEvent.event == "key.rotated")).all()) == 2

    frozen.advance(delay.total_seconds() - 1)
    assert service.verify_jwt(before)["sub"] == "u1"
    frozen.advance(1)
    with pytest.raises(InvalidJWT) as refused:
        service.verify_jwt(before)
    assert refused.value.reason.startswith("unknown kid")
    published = {k["kid"] for k in json.loads(service.jwks())["keys"]}
    assert not published & set(old_active.values())


def test_rotate_one_alg_and_if_due(
    frozen: FrozenClock, service: KeyService, runtime: Runtime, db: Session
) -> None:
    es_active = by_state(db, "ES256", "active")[0].kid
    done = service.rotate(db, "RS256")
    db.commit()
    assert [r.alg for r in done] == ["RS256"]
    assert by_state(db, "ES256", "active")[0].kid == es_active
    assert service.rotate(db, if_due=True) == []
    frozen.advance(runtime.settings.signing_key_lifetime - 1)
    assert service.rotate(db, if_due=True) == []  # both keys were activated at setup or later
    frozen.advance(1)
    assert {r.alg for r in service.rotate(db, if_due=True)} == {"RS256", "ES256"}
    db.commit()


def test_retire(frozen: FrozenClock, service: KeyService, db: Session) -> None:
    active = by_state(db, "ES256", "active")[0].kid
    with pytest.raises(Conflict):
        service.retire(db, active)
    db.rollback()
    upcoming = by_state(db, "ES256", "next")[0].kid
    service.retire(db, upcoming)
    db.commit()
    replacement = by_state(db, "ES256", "next")
    assert len(replacement) == 1 and replacement[0].kid != upcoming
    assert upcoming not in {k["kid"] for k in json.loads(service.jwks())["keys"]}

    token = service.sign_jwt(claims(lifetime=86400), "RS256")
    (rotation,) = service.rotate(db, "RS256")
    db.commit()
    assert service.verify_jwt(token)["sub"] == "u1"
    service.retire(db, rotation.retired_kid)
    db.commit()
    with pytest.raises(InvalidJWT):
        service.verify_jwt(token)


# ---------------------------------------------------------------------------- refusals


def forge(header: dict[str, Any], payload: dict[str, Any], sign: Any) -> str:
    signing_input = f"{b64(header)}.{b64(payload)}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def test_foreign_tokens_are_refused(service: KeyService, db: Session) -> None:
    ours = by_state(db, "RS256", "active")[0]
    attacker = RSAKey.generate_key(2048, parameters={"kid": "attacker", "alg": "RS256"})
    payload = claims()

    def by_attacker(header: dict[str, Any]) -> str:
        return forge(
            header, payload, lambda data: JWSRegistry.algorithms["RS256"].sign(data, attacker)
        )

    public_pem = RSAKey.import_key(ours.public_jwk).as_pem(private=False)
    cases = {
        "unknown kid": by_attacker({"alg": "RS256", "kid": "attacker"}),
        "our kid, other key": by_attacker({"alg": "RS256", "kid": ours.kid}),
        "jwk header": by_attacker(
            {"alg": "RS256", "kid": ours.kid, "jwk": dict(attacker.as_dict(private=False))}
        ),
        "jku header": by_attacker({"alg": "RS256", "kid": ours.kid, "jku": "https://evil/jwks"}),
        "x5u header": by_attacker({"alg": "RS256", "kid": ours.kid, "x5u": "https://evil/cert"}),
        "crit header": by_attacker({"alg": "RS256", "kid": ours.kid, "crit": ["exp"]}),
        "no kid": by_attacker({"alg": "RS256"}),
        "alg none": f"{b64({'alg': 'none', 'kid': ours.kid})}.{b64(payload)}.",
        "alg none signed": f"{b64({'alg': 'none', 'kid': ours.kid})}.{b64(payload)}.c2ln",
        "HS256 with our public key": forge(
            {"alg": "HS256", "kid": ours.kid, "typ": "JWT"},
            payload,
            lambda data: hmac.new(public_pem, data, hashlib.sha256).digest(),
        ),
        "ES256 header on RSA kid": forge(
            {"alg": "ES256", "kid": ours.kid}, payload, lambda data: b"\x00" * 64
        ),
    }
    for name, token in cases.items():
        with pytest.raises(InvalidJWT):
            service.verify_jwt(token)
            pytest.fail(f"accepted: {name}")


GARBAGE: list[Any] = [
    "",
    "a",
    "a.b",
    "a.b.c.d",
    "a.b.c.d.e",
    "!!!.!!!.!!!",
    "é.é.é",
    "....",
    ".payload.sig",
    f"{b64(b'not json')}.e30.sig",
    f"{b64(b'[1,2]')}.e30.sig",
    b64(b"\xff\xfe") + ".e30.sig",
    f"{b64(b'[' * 100000)}.e30.sig",
    f"{b64({'alg': 1, 'kid': 'x'})}.e30.sig",
    f"{b64({'alg': 'RS256', 'kid': ['x']})}.e30.sig",
    f"{b64({'alg': 'RS256', 'kid': 'x', 'typ': 7})}.e30.sig",
    "eyJhbGciOiJSUzI1NiJ9x.e30.sig",  # header length 1 mod 4: not base64
    "x" * 100_000,
    b"\xff\xfe.\x00.\x01",
    None,
    12,
]


def test_garbage_is_refused_cleanly(service: KeyService) -> None:
    for token in GARBAGE:
        try:
            service.verify_jwt(token)
        except InvalidJWT:
            continue
        pytest.fail(f"accepted {token!r:.80}")


def test_payload_garbage_under_a_real_signature_is_refused(
    service: KeyService, db: Session
) -> None:
    active = by_state(db, "RS256", "active")[0].kid
    signer = service.cache._current(db).signing["RS256"]  # noqa: SLF001 - a signed non-JWT payload
    header = {"alg": "RS256", "kid": active}
    for payload in (b"not json", b"[1]", b'"str"'):
        signing_input = f"{b64(header)}.{b64(payload)}".encode()
        alg = JWSRegistry.algorithms["RS256"]
        token = signing_input.decode() + "." + b64(alg.sign(signing_input, signer))
        with pytest.raises(InvalidJWT):
            service.verify_jwt(token)


# ---------------------------------------------------------------------------- the cache


def test_cache_follows_a_rotation_made_elsewhere(
    service: KeyService, settings: Settings, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    decrypted: list[str] = []
    real = service.encryptor.decrypt
    monkeypatch.setattr(
        service.cache,
        "_encryptor",
        type(
            "Spy",
            (),
            {
                "decrypt": staticmethod(lambda value: decrypted.append(value) or real(value)),
            },
        )(),
    )
    first = service.sign_jwt(claims(lifetime=3600), "RS256")
    for _ in range(5):
        service.sign_jwt(claims(), "ES256")
        service.jwks()
    assert len(decrypted) == 2  # each active key once, however often we sign

    other = build_runtime(settings)  # another worker or host
    try:
        with other.sessions() as session:
            (rotation,) = key_set.rotate(session, other.encryptor, other.settings, "RS256")
            session.commit()
    finally:
        other.dispose()

    second = service.sign_jwt(claims(), "RS256")
    assert (
        json.loads(base64.urlsafe_b64decode(second.split(".")[0] + "=="))["kid"]
        == rotation.activated_kid
    )
    assert len(decrypted) == 3  # only the newly active key
    assert service.verify_jwt(first)["sub"] == "u1"
    assert rotation.next_kid in {k["kid"] for k in json.loads(service.jwks())["keys"]}


def test_cache_serves_its_copy_within_the_refresh_interval(
    runtime: Runtime, settings: Settings, db: Session
) -> None:
    svc = KeyService(runtime, refresh_interval=3600)
    svc.ensure_keys(db)
    db.commit()

    def signing_kid(session: Session | None = None) -> str:
        token = svc.cache.sign_jwt({"sub": "u1"}, "RS256", session=session)
        header = token.split(".")[0]
        return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])

    kid = signing_kid(db)
    (rotation,) = key_set.rotate(db, runtime.encryptor, settings, "RS256")
    db.commit()
    assert signing_kid() == kid  # stale for at most refresh_interval
    svc.cache.invalidate()
    assert signing_kid() == rotation.activated_kid


def test_signing_without_keys_is_a_clear_error(runtime: Runtime) -> None:
    svc = KeyService(runtime, refresh_interval=0)
    with pytest.raises(keys.SigningKeyUnavailable):
        svc.sign_jwt(claims(), "RS256")
    assert json.loads(svc.jwks()) == {"keys": []}


def test_key_service_is_one_per_runtime(runtime: AppRuntime) -> None:
    """The token server signs with the runtime's one key service (one key cache per process)."""
    assert runtime.token_server.tokens.signer is runtime.keys


# ---------------------------------------------------------------------------- concurrency


def test_parallel_first_starts_create_exactly_one_key_set(runtime: Runtime, db: Session) -> None:
    """4 processes start at once on an empty database, each on its own connection."""
    workers = 4
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def start() -> None:
        try:
            with runtime.sessions() as session:
                barrier.wait(timeout=30)
                key_set.ensure_keys(session, runtime.encryptor, runtime.settings)
                session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    found = rows(db)
    assert sorted((k.alg, k.state) for k in found) == [
        ("ES256", "active"),
        ("ES256", "next"),
        ("RS256", "active"),
        ("RS256", "next"),
    ]


# ---------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.secret_key is not None and settings.key_encryption_key is not None
    monkeypatch.setenv("SSO_ENV", "test")
    monkeypatch.setenv("SSO_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SSO_SECRET_KEY", settings.secret_key.get_secret_value())
    monkeypatch.setenv("SSO_KEY_ENCRYPTION_KEY", settings.key_encryption_key.get_secret_value())


def test_cli_list_rotate_retire(runtime: Runtime, db: Session, cli_env: None) -> None:
    from sso.cli.keys import app

    cli = CliRunner()
    result = cli.invoke(app, ["list"])
    assert result.exit_code == 0 and "no signing keys" in result.output
    assert cli.invoke(app, ["ensure"]).exit_code == 0

    listed = json.loads(cli.invoke(app, ["list", "--json"]).output)
    assert sorted((k["alg"], k["state"], k["published"]) for k in listed) == [
        ("ES256", "active", True),
        ("ES256", "next", True),
        ("RS256", "active", True),
        ("RS256", "next", True),
    ]
    assert set(listed[0]) >= {"kid", "alg", "state", "created_at", "activated_at", "unpublish_at"}

    result = cli.invoke(app, ["rotate", "--alg", "ES256"])
    assert result.exit_code == 0, result.output
    assert "ES256" in result.output and "RS256" not in result.output
    after = json.loads(cli.invoke(app, ["list", "--json"]).output)
    assert [k["alg"] for k in after if k["state"] == "retired"] == ["ES256"]

    bad = cli.invoke(app, ["rotate", "--alg", "HS256"])
    assert bad.exit_code != 0 and "--alg" in bad.output

    active = next(k["kid"] for k in after if k["state"] == "active")
    refused = cli.invoke(app, ["retire", active])
    assert refused.exit_code == 1 and "rotate first" in refused.output
    missing = cli.invoke(app, ["retire", "nope"])
    assert missing.exit_code == 1 and "no signing key" in missing.output

    table = cli.invoke(app, ["list"]).output
    assert "unpublish_at" in table and len(table.strip().splitlines()) == 1 + len(after)
    assert cli.invoke(app, ["rotate", "--if-due"]).output.strip() == "nothing due"
    assert len(rows(db)) == 5
