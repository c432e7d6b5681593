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
from sso.runtime import Runtime
from tests.factories import PASSWORD, create_user

GRACE = timedelta(minutes=10)


def test_an_unverified_citizen_logs_in_only_within_the_grace(
    runtime: Runtime, frozen_clock: FrozenClock,
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


def test_a_verified_phone_is_enough_and_staff_get_no_grace(runtime: Runtime) -> None:
    hasher = PasswordHasher(runtime.settings)
    with runtime.sessions() as db:
        user = create_user(runtime, db, username="nomor", phone="+6281234567890")
        user.email_verified = False
        user.phone_verified = True
        db.commit()
        assert authenticate(db, hasher, "nomor", PASSWORD).id == user.id
        assert grace_ends_at(user, GRACE) is None
        staff = create_user(runtime, db, username="pegawai", kind="staff",
                            password="Kopi-Susu-Gula-Aren-2024")
        db.get(User, staff.id).email_verified = False  # type: ignore[union-attr]
        db.commit()
        assert grace_ends_at(staff, GRACE) is None
