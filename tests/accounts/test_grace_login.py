"""The grace login of an email-only sign-up: an unverified citizen may log in with their
password for SSO_EMAIL_VERIFICATION_GRACE_MINUTES after registering, never after, and a
verified phone counts as verified."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sso.accounts.passwords import PasswordHasher
from sso.accounts.service import AuthenticationFailed, authenticate, grace_ends_at
from sso.core.clock import FrozenClock
from sso.db.models import User
from sso.web.app_runtime import AppRuntime
from tests.factories import PASSWORD, create_user

GRACE = timedelta(minutes=10)


def test_an_unverified_citizen_logs_in_only_within_the_grace(
    runtime: AppRuntime,
    frozen_clock: FrozenClock,
) -> None:
    hasher = PasswordHasher(runtime.settings)
    with runtime.sessions() as db:
        user = create_user(runtime, db, username="baru")
        user.email_verified = False
        db.commit()
        assert authenticate(db, hasher, "baru", PASSWORD, GRACE).id == user.id
        end = grace_ends_at(user, GRACE)
        assert end is not None and end == user.created_at + GRACE
        with pytest.raises(AuthenticationFailed) as refused:
            authenticate(db, hasher, "baru", PASSWORD)  # no grace configured
        assert refused.value.reason == "unverified"
        frozen_clock.advance(GRACE.total_seconds() + 1)
        assert grace_ends_at(user, GRACE) is None
        with pytest.raises(AuthenticationFailed):
            authenticate(db, hasher, "baru", PASSWORD, GRACE)


def test_a_verified_phone_is_enough_and_staff_get_no_grace(runtime: AppRuntime) -> None:
    hasher = PasswordHasher(runtime.settings)
    with runtime.sessions() as db:
        user = create_user(runtime, db, username="nomor", phone="+6281234567890")
        user.email_verified = False
        user.phone_verified = True
        db.commit()
        assert authenticate(db, hasher, "nomor", PASSWORD).id == user.id
        assert grace_ends_at(user, GRACE) is None
        staff = create_user(
            runtime, db, username="pegawai", kind="staff", password="Kopi-Susu-Gula-Aren-2024"
        )
        db.get(User, staff.id).email_verified = False  # type: ignore[union-attr]
        db.commit()
        assert grace_ends_at(staff, GRACE) is None


def test_an_email_sign_up_from_an_app_goes_back_to_it_with_acr_0(
    runtime: AppRuntime,
    db: object,
    http: object,
    mailbox: object,
    frozen_clock: FrozenClock,
) -> None:
    """Registering from an app's login page keeps its request: within the grace the new
    citizen continues to the app at once, with acr "0" and a session that ends with the
    grace; the ID token says email_verified false."""
    import json

    from authlib.jose import JsonWebKey, jwt

    from tests.accounts.conftest import rp_client
    from tests.accounts.console import RP
    from tests.accounts.helpers import PASSWORD as REG_PASSWORD
    from tests.oidc.flow import authorize_url, csrf_of, query_of

    client, secret = rp_client(runtime, db, trusted=True)
    req = authorize_url(client.client_id)
    first = http.get(req.url, follow_redirects=False)  # type: ignore[attr-defined]
    interaction = first.headers["location"]
    login_page = http.get(interaction)  # type: ignore[attr-defined]
    assert f'href="{interaction}/register?lang=id"' in login_page.text
    form = http.get(f"/register?interaction={interaction.rsplit('/', 1)[-1]}")  # type: ignore[attr-defined]
    assert 'name="interaction"' in form.text and 'id="phone-signup"' in form.text
    sent = http.post(
        "/register",
        data={  # type: ignore[attr-defined]
            "name": "Ani",
            "email": "ani@example.id",
            "password": REG_PASSWORD,
            "password_confirm": REG_PASSWORD,
            "phone": "",
            "interaction": interaction.rsplit("/", 1)[-1],
            "csrf_token": csrf_of(form.text),
        },
    )
    assert sent.status_code == 200 and 'id="grace-continue"' in sent.text
    back = http.get(interaction, follow_redirects=False)  # type: ignore[attr-defined]
    assert back.status_code in (302, 303) and back.headers["location"].startswith(RP)
    code = query_of(back.headers["location"])["code"]
    tokens = http.post(
        "/token",
        data={  # type: ignore[attr-defined]
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": RP,
            "code_verifier": req.verifier,
        },
        auth=(client.client_id, secret),
    )
    assert tokens.status_code == 200, tokens.text
    with runtime.sessions() as session:
        jwks = JsonWebKey.import_key_set(json.loads(runtime.keys.jwks(session=session)))
    claims = jwt.decode(tokens.json()["id_token"], jwks)
    assert claims["acr"] == "0"
    info = http.get(
        "/userinfo",
        headers={  # type: ignore[attr-defined]
            "Authorization": f"Bearer {tokens.json()['access_token']}"
        },
    ).json()
    assert info["email_verified"] is False
    with runtime.sessions() as session:
        from sso.db.models import LoginSession

        (login,) = session.query(LoginSession).all()
        user = session.get(User, login.user_id)
        assert user is not None and login.acr == "0"
        assert login.expires_at == user.created_at + GRACE
