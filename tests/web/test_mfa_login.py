"""The second factor at login, over HTTP as a browser and a relying party see it: TOTP, recovery
codes, guessing protection, replay, forced enrolment of admins, and step-up with acr_values."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.accounts import mfa
from sso.db.models import AuditEvent, Client, LoginSession, User
from sso.runtime import Runtime
from sso.storage import roles as role_repo
from tests.factories import create_client, create_user, enrol_totp
from tests.oidc.flow import AuthRequest, authorize_url, csrf_of, login, query_of, totp_code

RP = "https://rp.example.id/callback"


@pytest.fixture
def rp(runtime: Runtime, db: Session) -> tuple[Client, str]:
    client, secret = create_client(runtime, db)
    assert secret is not None
    return client, secret


@pytest.fixture
def siti(runtime: Runtime, db: Session) -> User:
    return create_user(runtime, db, username="siti")


def audit_events(db: Session, name: str) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.event == name)).all())


def redeem(
    http: TestClient, rp: tuple[Client, str], req: AuthRequest, location: str
) -> dict[str, Any]:
    """Redeem the code and validate the ID token as a relying party does."""
    client, secret = rp
    code = query_of(location)["code"]
    r = http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": RP,
            "code_verifier": req.verifier,
        },
        auth=(client.client_id, secret),
    )
    assert r.status_code == 200, r.text
    keys = KeySet.import_key_set(http.get("/jwks.json").json())
    claims = dict(jwt.decode(r.json()["id_token"], keys).claims)
    assert claims["iss"] == "http://testserver"
    assert claims["aud"] == client.client_id
    assert claims["nonce"] == req.nonce
    return claims


def start(http: TestClient, req: AuthRequest) -> str:
    r = http.get(req.url, follow_redirects=False)
    assert r.status_code == 303
    return str(r.headers["location"])


def password_step(http: TestClient, interaction: str, username: str = "siti") -> Any:
    page = http.get(interaction)
    r = http.post(
        f"{interaction}/login",
        data={
            "username": username,
            "password": "correct horse battery staple",
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    return http.get(interaction, follow_redirects=False)


def post_code(
    http: TestClient, interaction: str, page_text: str, code: str, method: str = "totp"
) -> Any:
    return http.post(
        f"{interaction}/mfa",
        data={"method": method, "code": code, "csrf_token": csrf_of(page_text)},
        follow_redirects=False,
    )


def test_login_with_totp_gives_acr_2_and_amr(
    http: TestClient, rp: tuple[Client, str], siti: User, runtime: Runtime, db: Session
) -> None:
    secret = enrol_totp(runtime, db, siti)
    req = authorize_url(rp[0].client_id, RP)
    interaction = start(http, req)
    page = password_step(http, interaction)
    # The password alone starts no session: the MFA page comes first.
    assert page.status_code == 200
    assert f'action="{interaction}/mfa"' in page.text
    assert 'name="method" value="totp"' in page.text and 'name="code"' in page.text
    assert "sso_session" not in http.cookies
    r = post_code(http, interaction, page.text, pyotp.TOTP(secret).now())
    assert r.status_code == 303 and r.headers["location"] == interaction
    assert "sso_session" in http.cookies
    page = http.get(interaction, follow_redirects=False)
    assert 'name="decision"' in page.text  # consent, as without MFA
    r = http.post(
        f"{interaction}/consent",
        data={"decision": "allow", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    claims = redeem(http, rp, req, r.headers["location"])
    assert claims["acr"] == "2"
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    verified = audit_events(db, "mfa.verified")
    assert len(verified) == 1 and verified[0].details["method"] == "totp"
    assert [e.details["amr"] for e in audit_events(db, "user.login")] == [["pwd", "otp", "mfa"]]


def test_wrong_code_is_refused_then_throttled(
    http: TestClient, rp: tuple[Client, str], siti: User, runtime: Runtime, db: Session
) -> None:
    secret = enrol_totp(runtime, db, siti)
    interaction = start(http, authorize_url(rp[0].client_id, RP))
    page = password_step(http, interaction)
    right = pyotp.TOTP(secret).now()
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(runtime.settings.login_max_failures_account_ip):
        r = post_code(http, interaction, page.text, wrong)
        assert r.status_code == 401
        assert "Kode salah" in r.text
        assert "sso_session" not in http.cookies
    # Locked now: even the right code is not checked, and the person is told how long to wait.
    r = post_code(http, interaction, page.text, right)
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0
    assert "Coba lagi dalam" in r.text
    assert "sso_session" not in http.cookies
    failures = audit_events(db, "mfa.failed")
    reasons = [e.details["reason"] for e in failures]
    assert reasons.count("invalid") == 5 and reasons[-1] == "throttled"
    assert right not in str([e.details for e in failures])


def test_a_code_cannot_be_replayed_within_its_step(
    app: Any,
    http: TestClient,
    rp: tuple[Client, str],
    siti: User,
    runtime: Runtime,
    db: Session,
) -> None:
    secret = enrol_totp(runtime, db, siti)
    code = totp_code(secret)
    interaction = start(http, authorize_url(rp[0].client_id, RP))
    page = password_step(http, interaction)
    assert post_code(http, interaction, page.text, code).status_code == 303
    # Someone who saw the code types it in another browser right away.
    with TestClient(app, base_url="http://testserver") as other:
        interaction = start(other, authorize_url(rp[0].client_id, RP))
        page = password_step(other, interaction)
        r = post_code(other, interaction, page.text, code)
        assert r.status_code == 401
        assert "sudah dipakai" in r.text
        assert "sso_session" not in other.cookies
    assert audit_events(db, "mfa.failed")[-1].details["reason"] == "replayed"


def test_recovery_code_works_once(
    app: Any,
    http: TestClient,
    rp: tuple[Client, str],
    siti: User,
    runtime: Runtime,
    db: Session,
) -> None:
    enrol_totp(runtime, db, siti)
    codes = mfa.new_recovery_codes(db, runtime.settings, siti.id, actor_id=siti.id)
    db.commit()
    assert len(codes) == 10 and len(set(codes)) == 10
    req = authorize_url(rp[0].client_id, RP)
    interaction = start(http, req)
    page = password_step(http, interaction)
    assert 'name="method" value="recovery"' in page.text
    r = post_code(http, interaction, page.text, codes[3].upper(), method="recovery")
    assert r.status_code == 303
    location = login(http, req, "siti")  # consent, then the code
    assert redeem(http, rp, req, location)["amr"] == ["pwd", "otp", "mfa"]
    used = audit_events(db, "mfa.recovery_code_used")
    assert len(used) == 1 and used[0].details["remaining"] == 9
    with TestClient(app, base_url="http://testserver") as other:
        interaction = start(other, authorize_url(rp[0].client_id, RP))
        page = password_step(other, interaction)
        r = post_code(other, interaction, page.text, codes[3], method="recovery")
        assert r.status_code == 401
        assert "sso_session" not in other.cookies
    # Only keyed hashes are stored.
    from sso.db.models import RecoveryCode

    stored = db.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10 and not {c.replace("-", "") for c in codes} & set(stored)


def test_staff_admin_without_mfa_must_enrol_before_the_login_completes(
    http: TestClient, rp: tuple[Client, str], runtime: Runtime, db: Session
) -> None:
    budi = create_user(
        runtime, db, username="budi", kind="staff", password="correct horse battery staple"
    )
    role_repo.assign_to_user(db, role_repo.get_or_create_global(db, "admin"), budi.id)
    db.commit()
    req = authorize_url(rp[0].client_id, RP)
    interaction = start(http, req)
    page = password_step(http, interaction, "budi")
    assert page.status_code == 200
    assert f'action="{interaction}/enrol"' in page.text
    assert "<svg" in page.text and "Akun Anda wajib memakai verifikasi dua langkah" in page.text
    assert "sso_session" not in http.cookies
    # Skipping the step is impossible: the interaction keeps showing it.
    assert f'action="{interaction}/enrol"' in http.get(interaction).text
    key = re.search(r'id="totp-key">([A-Z2-7 ]+)<', page.text)
    assert key is not None
    secret = key.group(1).replace(" ", "")
    r = http.post(
        f"{interaction}/enrol",
        data={"code": "12345", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 400 and "sso_session" not in http.cookies
    r = http.post(
        f"{interaction}/enrol",
        data={"code": totp_code(secret), "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", r.text)
    assert len(codes) == 10
    assert "sso_session" in http.cookies
    location = login(http, req, "budi")
    claims = redeem(http, rp, req, location)
    assert claims["acr"] == "2" and claims["amr"] == ["pwd", "otp", "mfa"]
    assert len(audit_events(db, "mfa.totp_enrolled")) == 1
    assert len(audit_events(db, "mfa.recovery_codes_generated")) == 1


def test_staff_need_mfa_only_when_the_setting_says_so(
    http: TestClient, rp: tuple[Client, str], runtime: Runtime, db: Session
) -> None:
    create_user(runtime, db, username="rina", kind="staff", password="correct horse battery staple")
    req = authorize_url(rp[0].client_id, RP)
    location = login(http, req, "rina")
    assert redeem(http, rp, req, location)["acr"] == "1"
    runtime.settings.mfa_required_for_staff = True
    try:
        req = authorize_url(rp[0].client_id, RP)
        # The password-only session no longer reaches the level: the person enrols first.
        interaction = start(http, req)
        assert f'action="{interaction}/enrol"' in http.get(interaction).text
    finally:
        runtime.settings.mfa_required_for_staff = None


def test_step_up_with_acr_values_asks_only_the_second_factor(
    http: TestClient, rp: tuple[Client, str], siti: User, runtime: Runtime, db: Session
) -> None:
    req = authorize_url(rp[0].client_id, RP)
    first = redeem(http, rp, req, login(http, req, "siti"))
    assert first["acr"] == "1" and first["amr"] == ["pwd"]
    secret = enrol_totp(runtime, db, siti)  # e.g. set up later in /account/security
    # Without acr_values the session is good enough: a code at once (SSO).
    again = authorize_url(rp[0].client_id, RP)
    assert "code" in query_of(start(http, again))
    # prompt=none cannot step up.
    none = authorize_url(rp[0].client_id, RP, acr_values="2", prompt="none")
    assert query_of(start(http, none))["error"] == "interaction_required"
    # acr_values=2: the MFA page, not the password again.
    req = authorize_url(rp[0].client_id, RP, acr_values="2")
    interaction = start(http, req)
    assert interaction.startswith("/interaction/")
    page = http.get(interaction)
    assert 'name="password"' not in page.text
    assert f'action="{interaction}/mfa"' in page.text
    r = post_code(http, interaction, page.text, totp_code(secret))
    assert r.status_code == 303
    claims = redeem(
        http, rp, req, http.get(interaction, follow_redirects=False).headers["location"]
    )
    assert claims["acr"] == "2" and claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["sid"] == first["sid"]  # the same session, upgraded
    assert claims["auth_time"] == first["auth_time"]
    db.expire_all()
    row = db.get(LoginSession, first["sid"])
    assert row is not None and row.acr == "2"
    assert audit_events(db, "mfa.verified")[-1].details["step_up"] is True
    # Now acr_values=2 is met by the session itself.
    req = authorize_url(rp[0].client_id, RP, acr_values="2")
    assert redeem(http, rp, req, start(http, req))["acr"] == "2"


def test_max_age_with_acr_values_asks_password_and_second_factor(
    http: TestClient, rp: tuple[Client, str], siti: User, runtime: Runtime, db: Session
) -> None:
    secret = enrol_totp(runtime, db, siti)
    req = authorize_url(rp[0].client_id, RP)
    login(http, req, "siti", totp_secret=secret)
    req = authorize_url(rp[0].client_id, RP, acr_values="2", max_age="0")
    interaction = start(http, req)
    page = http.get(interaction)
    assert 'name="password"' in page.text
    location = login(http, req, "siti", totp_secret=secret)
    assert redeem(http, rp, req, location)["acr"] == "2"


def test_citizen_without_factor_asked_for_acr_2_is_led_to_enrol(
    http: TestClient, rp: tuple[Client, str], siti: User
) -> None:
    req = authorize_url(rp[0].client_id, RP, acr_values="2")
    interaction = start(http, req)
    page = password_step(http, interaction)
    assert f'action="{interaction}/enrol"' in page.text
    assert "Aplikasi ini meminta verifikasi dua langkah" in page.text
    # Cancelling goes back to the client with access_denied.
    r = http.post(
        f"{interaction}/abort", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert query_of(r.headers["location"])["error"] == "access_denied"


def test_an_essential_acr_claim_request_also_steps_up(
    http: TestClient, rp: tuple[Client, str], siti: User, runtime: Runtime, db: Session
) -> None:
    import json

    req = authorize_url(rp[0].client_id, RP)
    login(http, req, "siti")
    secret = enrol_totp(runtime, db, siti)
    claims = {"id_token": {"acr": {"essential": True, "values": ["2"]}}}
    req = authorize_url(rp[0].client_id, RP, claims=json.dumps(claims))
    interaction = start(http, req)
    page = http.get(interaction)
    assert f'action="{interaction}/mfa"' in page.text
    location = login(http, req, "siti", totp_secret=secret)
    assert redeem(http, rp, req, location)["acr"] == "2"
