"""Audit event names (``noun.verb``) in words, in both languages, and the categories the audit
log is filtered by. One mapping: a name's category and its Indonesian and English label sit on
one line, so a new event cannot get one language without the other (a test checks that every
event name the code records has a line here).

Names recorded outside :mod:`sso.core.events` (the device flow, the token endpoint, key
retirement, registration and recovery keep theirs next to their code) are listed too, as
strings: this module sits in the web layer and only needs the names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sso.core import events as ev

SIGNIN, ACCOUNT, ADMIN, CLIENT, TOKEN, KEY, OTHER = (
    "signin", "account", "admin", "client", "token", "key", "other")
# In the order the filter shows them; OTHER is any name not listed below.
CATEGORIES: tuple[str, ...] = (SIGNIN, ACCOUNT, ADMIN, CLIENT, TOKEN, KEY, OTHER)
CATEGORY_LABELS: dict[str, tuple[str, str]] = {
    SIGNIN: ("Masuk dan keluar", "Sign-in and sign-out"),
    ACCOUNT: ("Akun", "Account"),
    ADMIN: ("Tindakan admin", "Admin actions"),
    CLIENT: ("Aplikasi", "Apps"),
    TOKEN: ("Token", "Tokens"),
    KEY: ("Kunci penandatanganan", "Signing keys"),
    OTHER: ("Lainnya", "Other"),
}


@dataclass(frozen=True)
class EventLabel:
    category: str
    id: str  # Bahasa Indonesia
    en: str


def _l(category: str, id_text: str, en_text: str) -> EventLabel:
    return EventLabel(category, id_text, en_text)


LABELS: dict[str, EventLabel] = {
    # Sign-in, second factor at sign-in, sign-out and sessions.
    ev.USER_LOGIN: _l(SIGNIN, "Masuk berhasil", "Signed in"),
    ev.USER_LOGIN_FAILED: _l(SIGNIN, "Gagal masuk", "Sign-in failed"),
    "user.reauth_failed": _l(SIGNIN, "Konfirmasi kata sandi gagal", "Password confirmation failed"),
    ev.USER_LOGOUT: _l(SIGNIN, "Keluar", "Signed out"),
    ev.SESSION_ENDED: _l(SIGNIN, "Sesi diakhiri", "Session ended"),
    ev.MFA_VERIFIED: _l(SIGNIN, "Verifikasi dua langkah berhasil", "Two-step verification passed"),
    ev.MFA_FAILED: _l(SIGNIN, "Verifikasi dua langkah gagal", "Two-step verification failed"),
    ev.MFA_RECOVERY_CODE_USED: _l(SIGNIN, "Kode pemulihan dipakai", "Recovery code used"),
    ev.MFA_PASSKEY_COUNTER_REGRESSED: _l(
        SIGNIN, "Penghitung passkey mundur (mungkin disalin)",
        "Passkey counter went back (possibly cloned)"),
    ev.BACKCHANNEL_LOGOUT_FAILED: _l(
        SIGNIN, "Pemberitahuan keluar ke aplikasi gagal", "Back-channel logout to an app failed"),
    # What people do to their own account.
    "user.registered": _l(ACCOUNT, "Akun didaftarkan", "Account registered"),
    "user.registration_existing": _l(
        ACCOUNT, "Pendaftaran dengan email yang sudah terdaftar",
        "Registration with an email already registered"),
    "user.email_verified": _l(ACCOUNT, "Email diverifikasi", "Email verified"),
    "user.password_reset_requested": _l(
        ACCOUNT, "Tautan atur ulang kata sandi diminta", "Password reset link requested"),
    "user.password_reset": _l(ACCOUNT, "Kata sandi diatur ulang", "Password reset"),
    "user.activated": _l(ACCOUNT, "Akun diaktifkan lewat tautan", "Account activated by link"),
    ev.USER_PROFILE_UPDATED: _l(ACCOUNT, "Profil diubah", "Profile updated"),
    ev.USER_EMAIL_CHANGE_REQUESTED: _l(ACCOUNT, "Ganti email diminta", "Email change requested"),
    ev.USER_EMAIL_CHANGED: _l(ACCOUNT, "Email diganti", "Email changed"),
    ev.USER_NIK_SET: _l(ACCOUNT, "NIK disimpan", "NIK saved"),
    ev.USER_NIK_REMOVED: _l(ACCOUNT, "NIK dihapus", "NIK removed"),
    ev.USER_PASSWORD_CHANGED: _l(ACCOUNT, "Kata sandi diganti", "Password changed"),
    ev.USER_DATA_EXPORTED: _l(ACCOUNT, "Data pribadi diunduh", "Personal data downloaded"),
    ev.USER_DELETED: _l(ACCOUNT, "Akun dihapus", "Account deleted"),
    ev.CONSENT_GRANTED: _l(ACCOUNT, "Izin untuk aplikasi diberikan", "App access allowed"),
    ev.CONSENT_REVOKED: _l(ACCOUNT, "Izin untuk aplikasi dicabut", "App access revoked"),
    ev.MFA_TOTP_ENROLLED: _l(ACCOUNT, "Aplikasi autentikator dipasang", "Authenticator app added"),
    ev.MFA_TOTP_REMOVED: _l(ACCOUNT, "Aplikasi autentikator dilepas", "Authenticator app removed"),
    ev.MFA_RECOVERY_CODES_GENERATED: _l(ACCOUNT, "Kode pemulihan dibuat", "Recovery codes created"),
    ev.MFA_PASSKEY_ADDED: _l(ACCOUNT, "Passkey ditambahkan", "Passkey added"),
    ev.MFA_PASSKEY_RENAMED: _l(ACCOUNT, "Passkey diberi nama baru", "Passkey renamed"),
    ev.MFA_PASSKEY_REMOVED: _l(ACCOUNT, "Passkey dihapus", "Passkey removed"),
    # What admins do in /admin (and the CLI).
    ev.ADMIN_ACCESS_DENIED: _l(ADMIN, "Akses konsol admin ditolak", "Admin console access refused"),
    ev.USER_CREATED: _l(ADMIN, "Akun dibuat", "Account created"),
    ev.USER_UPDATED: _l(ADMIN, "Data orang diubah admin", "Person's details changed by an admin"),
    ev.USER_DISABLED: _l(ADMIN, "Akun dinonaktifkan", "Account disabled"),
    ev.USER_ENABLED: _l(ADMIN, "Akun diaktifkan kembali", "Account enabled again"),
    ev.USER_UNLOCKED: _l(ADMIN, "Kunci login dibuka", "Sign-in lock lifted"),
    ev.USER_RESET_LINK_SENT: _l(
        ADMIN, "Tautan atur ulang kata sandi dikirim admin", "Password reset link sent by an admin"),
    ev.USER_SESSIONS_ENDED: _l(ADMIN, "Semua sesi orang diakhiri", "All of a person's sessions ended"),
    "user.activation_link_sent": _l(ADMIN, "Tautan aktivasi dikirim", "Activation link sent"),
    ev.MFA_RESET: _l(ADMIN, "Verifikasi dua langkah direset admin",
                     "Two-step verification reset by an admin"),
    ev.IMPORT_VALIDATED: _l(ADMIN, "Berkas impor pegawai diperiksa", "Staff import file checked"),
    ev.IMPORT_APPLIED: _l(ADMIN, "Impor pegawai diterapkan", "Staff import applied"),
    ev.IMPORT_FAILED: _l(ADMIN, "Impor pegawai gagal", "Staff import failed"),
    "activation.batch_started": _l(ADMIN, "Pengiriman tautan aktivasi dimulai",
                                   "Sending of activation links started"),
    "activation.batch_sent": _l(ADMIN, "Sekelompok tautan aktivasi terkirim",
                                "A batch of activation links sent"),
    ev.AGENCY_CREATED: _l(ADMIN, "OPD dibuat", "Agency created"),
    ev.AGENCY_RENAMED: _l(ADMIN, "OPD diberi nama baru", "Agency renamed"),
    ev.AGENCY_MOVED: _l(ADMIN, "OPD dipindahkan", "Agency moved"),
    ev.AGENCY_MERGED: _l(ADMIN, "OPD digabungkan", "Agencies merged"),
    "agency.deleted": _l(ADMIN, "OPD dihapus", "Agency deleted"),
    ev.ROLE_CREATED: _l(ADMIN, "Peran dibuat", "Role created"),
    ev.ROLE_GRANTED: _l(ADMIN, "Peran diberikan", "Role given"),
    ev.ROLE_REVOKED: _l(ADMIN, "Peran dicabut", "Role taken back"),
    "role.deleted": _l(ADMIN, "Peran dihapus", "Role deleted"),
    ev.ROLE_UPDATED: _l(ADMIN, "Keterangan peran diubah", "Role description changed"),
    ev.CONFIG_APPLIED: _l(ADMIN, "Berkas konfigurasi diterapkan", "Configuration file applied"),
    ev.AUDIT_EXPORTED: _l(ADMIN, "Log audit diunduh", "Audit log downloaded"),
    # Relying parties: registration, review, settings, client authentication.
    ev.CLIENT_CREATED: _l(CLIENT, "Aplikasi dibuat", "App created"),
    ev.CLIENT_UPDATED: _l(CLIENT, "Pengaturan aplikasi diubah", "App settings changed"),
    ev.CLIENT_DELETED: _l(CLIENT, "Aplikasi dihapus", "App deleted"),
    ev.CLIENT_REGISTERED: _l(CLIENT, "Aplikasi didaftarkan pengembang", "App registered by a developer"),
    ev.CLIENT_REGISTRATION_REFUSED: _l(CLIENT, "Pendaftaran aplikasi ditolak otomatis",
                                       "App registration refused"),
    ev.CLIENT_APPROVED: _l(CLIENT, "Pendaftaran aplikasi disetujui", "App registration approved"),
    ev.CLIENT_REJECTED: _l(CLIENT, "Pendaftaran aplikasi ditolak admin", "App registration rejected"),
    ev.CLIENT_SECRET_ROTATED: _l(CLIENT, "Rahasia aplikasi diganti", "App secret rotated"),
    ev.CLIENT_AUTH_FAILED: _l(CLIENT, "Autentikasi aplikasi gagal", "App authentication failed"),
    ev.CLIENT_DISABLED: _l(CLIENT, "Aplikasi dinonaktifkan", "App disabled"),
    ev.CLIENT_DEVELOPMENT_CHANGED: _l(CLIENT, "Status pengembangan aplikasi diubah",
                                      "App development status changed"),
    ev.CLIENT_LOGIN_REFUSED: _l(SIGNIN, "Masuk ke aplikasi dalam pengembangan ditolak",
                                "Sign-in to an app in development refused"),
    ev.CLIENT_ENABLED: _l(CLIENT, "Aplikasi diaktifkan kembali", "App enabled again"),
    ev.INITIAL_ACCESS_TOKEN_ISSUED: _l(CLIENT, "Token pendaftaran dibuat", "Registration token issued"),
    ev.INITIAL_ACCESS_TOKEN_REVOKED: _l(CLIENT, "Token pendaftaran dicabut",
                                        "Registration token revoked"),
    # The protocol: codes, tokens, grants, the device flow.
    ev.CODE_ISSUED: _l(TOKEN, "Kode otorisasi diterbitkan", "Authorization code issued"),
    ev.CODE_REUSED: _l(TOKEN, "Kode otorisasi dipakai ulang", "Authorization code reused"),
    ev.TOKEN_ISSUED: _l(TOKEN, "Token diterbitkan", "Tokens issued"),
    "token.refused": _l(TOKEN, "Permintaan token ditolak", "Token request refused"),
    ev.TOKEN_REVOKED: _l(TOKEN, "Token dicabut", "Token revoked"),
    ev.REFRESH_TOKEN_REUSED: _l(TOKEN, "Refresh token dipakai ulang", "Refresh token reused"),
    ev.GRANT_REVOKED: _l(TOKEN, "Izin akses (grant) dicabut", "Grant revoked"),
    "device_code.issued": _l(TOKEN, "Kode perangkat diterbitkan", "Device code issued"),
    "device_code.approved": _l(TOKEN, "Perangkat disetujui", "Device approved"),
    "device_code.denied": _l(TOKEN, "Perangkat ditolak", "Device denied"),
    "device_code.reused": _l(TOKEN, "Kode perangkat dipakai ulang", "Device code reused"),
    # Signing keys.
    ev.KEY_CREATED: _l(KEY, "Kunci penandatanganan dibuat", "Signing key created"),
    ev.KEY_ROTATED: _l(KEY, "Kunci penandatanganan dirotasi", "Signing keys rotated"),
    "key.retired": _l(KEY, "Kunci penandatanganan dipensiunkan", "Signing key retired"),
}


# What an event acts on, when that has no name of its own to show (the id is on the event's
# own page). People, apps, agencies and roles are shown by their names instead.
TARGET_TYPES: dict[str, tuple[str, str]] = {
    "grant": ("Izin akses (grant)", "Grant"),
    "session": ("Sesi login", "Sign-in session"),
    "access_token": ("Token akses", "Access token"),
    "signing_key": ("Kunci penandatanganan", "Signing key"),
    "import": ("Impor pegawai", "Staff import"),
    "initial_access_token": ("Token pendaftaran", "Registration token"),
    "backchannel_delivery": ("Pemberitahuan keluar", "Back-channel logout"),
    "audit": ("Log audit", "Audit log"),
}


def target_type_label(target_type: str, locale: str) -> str | None:
    found = TARGET_TYPES.get(target_type)
    if found is None:
        return None
    return found[1] if locale == "en" else found[0]


def label(name: str, locale: str) -> str:
    """The event in words (the name itself when it has no label yet)."""
    found = LABELS.get(name)
    if found is None:
        return name
    return found.en if locale == "en" else found.id


def category_of(name: str) -> str:
    found = LABELS.get(name)
    return found.category if found else OTHER


def category_label(category: str, locale: str) -> str:
    texts = CATEGORY_LABELS.get(category, CATEGORY_LABELS[OTHER])
    return texts[1] if locale == "en" else texts[0]


def names_in(categories: Iterable[str]) -> list[str]:
    """Every labelled name of the given categories (OTHER has none: it is "not listed")."""
    wanted = set(categories)
    return sorted(name for name, found in LABELS.items() if found.category in wanted)


def known_names() -> list[str]:
    return sorted(LABELS)
