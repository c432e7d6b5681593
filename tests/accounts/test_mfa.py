"""MFA services: policy, factors, reset, TOTP steps and recovery codes (SQLite and PostgreSQL)."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from sso.accounts import mfa, totp
from sso.config import Settings
from sso.core.clock import FrozenClock, now, set_clock
from sso.db.models import AuditEvent, RecoveryCode, TotpCredential, WebAuthnCredential
from sso.runtime import Runtime
from sso.storage import mfa as repo
from sso.storage import roles as role_repo
from tests.factories import create_agency, create_user, enrol_totp


def events_named(db: Session, name: str) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.event == name)).all())


def test_policy_admin_roles_staff_setting_and_citizens(runtime: Runtime, db: Session) -> None:
    settings = runtime.settings
    citizen = create_user(runtime, db, username="warga")
    staff = create_user(runtime, db, username="pegawai", kind="staff")
    assert not mfa.mfa_required(db, settings, citizen)
    assert not mfa.mfa_required(db, settings, staff)  # test default: not for all staff
    for role in ("admin", "opd-admin", "helpdesk", "auditor"):
        holder = create_user(runtime, db, username=f"u{role.replace('-', '')}", kind="staff")
        role_repo.assign_to_user(db, role_repo.get_or_create_global(db, role), holder.id)
        db.commit()
        assert mfa.mfa_required(db, settings, holder), role
    # A role given to the whole agency counts too.
    other = create_agency(db, "BAPPEDA", "Badan Perencanaan")
    member = create_user(runtime, db, username="anggota", kind="staff", agency_code=other.code)
    role_repo.assign_to_agency(db, role_repo.get_or_create_global(db, "auditor"), other.id)
    db.commit()
    assert mfa.mfa_required(db, settings, member)
    # An app role is no admin role.
    assert not mfa.mfa_required(db, settings, staff)
    settings.mfa_required_for_staff = True
    try:
        assert mfa.mfa_required(db, settings, staff)
        assert not mfa.mfa_required(db, settings, citizen)
    finally:
        settings.mfa_required_for_staff = None


def test_staff_setting_defaults_on_in_prod_only() -> None:
    assert mfa.staff_mfa_required(Settings(env="prod")) is True
    assert mfa.staff_mfa_required(Settings(env="dev")) is False
    assert mfa.staff_mfa_required(Settings(env="test")) is False
    assert mfa.staff_mfa_required(Settings(env="prod", mfa_required_for_staff=False)) is False


def test_factors_and_reset(runtime: Runtime, db: Session) -> None:
    user = create_user(runtime, db)
    helpdesk = create_user(runtime, db, username="helpdesk", kind="staff")
    assert not mfa.has_mfa(db, user.id)
    enrol_totp(runtime, db, user)
    mfa.new_recovery_codes(db, runtime.settings, user.id, actor_id=user.id)
    db.add(WebAuthnCredential(user_id=user.id, credential_id="cred-1", public_key="pk"))
    db.commit()
    assert mfa.factors(db, user.id) == mfa.Factors(True, 1, 10)
    mfa.reset_mfa(db, user.id, helpdesk.id)
    db.commit()
    assert mfa.factors(db, user.id) == mfa.Factors(False, 0, 0)
    [event] = events_named(db, "mfa.reset")
    assert event.actor_id == helpdesk.id and event.target_id == user.id
    assert event.details == {"totp": True, "passkeys": 1, "recovery_codes": 10}


def test_a_pending_enrolment_is_no_factor(runtime: Runtime, db: Session) -> None:
    user = create_user(runtime, db)
    secret = mfa.pending_totp_secret(db, runtime.encryptor, user)
    db.commit()
    assert mfa.pending_totp_secret(db, runtime.encryptor, user) == secret  # kept until used
    assert not mfa.has_mfa(db, user.id)
    assert mfa.confirm_totp(db, runtime.settings, runtime.encryptor, user, "000000x") is None
    codes = mfa.confirm_totp(
        db, runtime.settings, runtime.encryptor, user, pyotp.TOTP(secret).now()
    )
    db.commit()
    assert codes is not None and len(codes) == 10
    assert mfa.has_mfa(db, user.id)
    # The confirming code's step is spent: it cannot log in a second time.
    with pytest.raises(mfa.SecondFactorRefused) as refused:
        mfa.check_code(
            db, runtime.settings, runtime.encryptor, user, "totp", pyotp.TOTP(secret).now()
        )
    assert refused.value.reason == "replayed"


def test_totp_window_and_replay(runtime: Runtime, db: Session) -> None:
    user = create_user(runtime, db)
    secret = enrol_totp(runtime, db, user)
    clock = FrozenClock()
    previous = set_clock(clock)
    try:
        t = int(now().timestamp())
        gen = pyotp.TOTP(secret)
        # One step of drift either way is accepted; two are not.
        assert totp.matching_step(secret, gen.at(t - 30)) == t // 30 - 1
        assert totp.matching_step(secret, gen.at(t + 30)) == t // 30 + 1
        assert totp.matching_step(secret, gen.at(t - 90)) is None
        assert totp.matching_step(secret, "12 34") is None
        amr = mfa.check_code(db, runtime.settings, runtime.encryptor, user, "totp", gen.at(t + 30))
        assert amr == ["otp"]
        db.commit()
        # An older step is refused once a newer one was used (no replay, no going back).
        for code in (gen.at(t), gen.at(t + 30)):
            with pytest.raises(mfa.SecondFactorRefused) as refused:
                mfa.check_code(db, runtime.settings, runtime.encryptor, user, "totp", code)
            assert refused.value.message == "mfa.code_replayed"
        clock.advance(60)
        assert mfa.check_code(
            db, runtime.settings, runtime.encryptor, user, "totp", gen.at(t + 60)
        ) == ["otp"]
        db.commit()
    finally:
        set_clock(previous)
    db.expire_all()
    stored = db.get(TotpCredential, user.id)
    assert stored is not None and stored.last_used_step == (t + 60) // 30


def test_recovery_codes_are_single_use_and_per_person(runtime: Runtime, db: Session) -> None:
    siti = create_user(runtime, db)
    budi = create_user(runtime, db, username="budi")
    codes = mfa.new_recovery_codes(db, runtime.settings, siti.id, actor_id=siti.id)
    db.commit()
    assert all(len(c) == 11 and c[5] == "-" for c in codes)
    with pytest.raises(mfa.SecondFactorRefused):  # someone else's code
        mfa.check_code(db, runtime.settings, runtime.encryptor, budi, "recovery", codes[0])
    # Spaces, dashes and case do not matter.
    spaced = " " + codes[0].upper().replace("-", " ") + " "
    assert mfa.check_code(db, runtime.settings, runtime.encryptor, siti, "recovery", spaced) == [
        "otp"
    ]
    db.commit()
    with pytest.raises(mfa.SecondFactorRefused):
        mfa.check_code(db, runtime.settings, runtime.encryptor, siti, "recovery", codes[0])
    db.commit()
    assert repo.unused_recovery_codes(db, siti.id) == 9
    stored = set(db.scalars(select(RecoveryCode.code_hash)).all())
    assert not stored & {c.replace("-", "") for c in codes}
    failed = events_named(db, "mfa.failed")
    assert len(failed) == 2 and all(codes[0] not in str(e.details) for e in failed)


def test_code_attempts_lock_after_the_threshold(runtime: Runtime, db: Session) -> None:
    from sso.accounts.throttle import Throttle

    user = create_user(runtime, db)
    guard = Throttle(runtime.settings, runtime.sessions)
    limit = runtime.settings.login_max_failures_account_ip
    verdicts = [
        mfa.reserve_code_attempt(guard, user.id, "203.0.113.9").verdict.allowed
        for _ in range(limit + 1)
    ]
    assert verdicts == [True] * limit + [False]
    # Another IP still has the account-wide budget left, until that threshold too.
    assert mfa.reserve_code_attempt(guard, user.id, "198.51.100.7").verdict.allowed
    # Success clears the counters of that attempt.
    attempt = mfa.reserve_code_attempt(guard, user.id, "198.51.100.7")
    mfa.code_attempt_succeeded(guard, attempt)
    assert mfa.reserve_code_attempt(guard, user.id, "198.51.100.7").verdict.allowed


def test_amr_combination() -> None:
    assert mfa.combine_amr(["pwd"], ["otp"]) == ["pwd", "otp", "mfa"]
    assert mfa.combine_amr(["pwd", "otp", "mfa"], ["hwk"]) == ["pwd", "otp", "hwk", "mfa"]
    assert mfa.combine_amr(["pwd"], mfa=False) == ["pwd"]
