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

from sso.core.events import Event

SIGNIN, ACCOUNT, ADMIN, CLIENT, TOKEN, KEY, OTHER = (
    "signin",
    "account",
    "admin",
    "client",
    "token",
    "key",
    "other",
)
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
    Event.USER_LOGIN: _l(SIGNIN, "Masuk berhasil", "Signed in"),
    Event.USER_LOGIN_FAILED: _l(SIGNIN, "Gagal masuk", "Sign-in failed"),
    "user.reauth_failed": _l(SIGNIN, "Konfirmasi kata sandi gagal", "Password confirmation failed"),
    Event.USER_LOGOUT: _l(SIGNIN, "Keluar", "Signed out"),
    Event.SESSION_ENDED: _l(SIGNIN, "Sesi diakhiri", "Session ended"),
    Event.MFA_VERIFIED: _l(
        SIGNIN, "Verifikasi dua langkah berhasil", "Two-step verification passed"
    ),
    Event.MFA_FAILED: _l(SIGNIN, "Verifikasi dua langkah gagal", "Two-step verification failed"),
    Event.MFA_RECOVERY_CODE_USED: _l(SIGNIN, "Kode pemulihan dipakai", "Recovery code used"),
    Event.MFA_PASSKEY_COUNTER_REGRESSED: _l(
        SIGNIN,
        "Penghitung passkey mundur (mungkin disalin)",
        "Passkey counter went back (possibly cloned)",
    ),
    Event.BACKCHANNEL_LOGOUT_FAILED: _l(
        SIGNIN, "Pemberitahuan keluar ke aplikasi gagal", "Back-channel logout to an app failed"
    ),
    # Upstream identity providers (sso.federation).
    "federation.login": _l(
        SIGNIN,
        "Masuk lewat penyedia identitas luar",
        "Signed in through an outside identity provider",
    ),
    "federation.refused": _l(
        SIGNIN,
        "Masuk lewat penyedia identitas luar ditolak",
        "Sign-in through an outside identity provider refused",
    ),
    "federation.linked": _l(ACCOUNT, "Identitas luar ditautkan", "Outside identity linked"),
    "federation.unlinked": _l(ACCOUNT, "Identitas luar dilepas", "Outside identity unlinked"),
    "federation.nik_conflict": _l(
        ACCOUNT,
        "NIK dari penyedia identitas sudah dipakai akun lain",
        "NIK from an identity provider held by another account",
    ),
    "upstream.created": _l(ADMIN, "Penyedia identitas ditambahkan", "Identity provider added"),
    "upstream.updated": _l(ADMIN, "Penyedia identitas diubah", "Identity provider changed"),
    "upstream.disabled": _l(
        ADMIN, "Penyedia identitas dinonaktifkan", "Identity provider disabled"
    ),
    "upstream.enabled": _l(
        ADMIN, "Penyedia identitas diaktifkan lagi", "Identity provider enabled"
    ),
    # What people do to their own account.
    "user.registered": _l(ACCOUNT, "Akun didaftarkan", "Account registered"),
    "user.registration_existing": _l(
        ACCOUNT,
        "Pendaftaran dengan email yang sudah terdaftar",
        "Registration with an email already registered",
    ),
    "user.email_verified": _l(ACCOUNT, "Email diverifikasi", "Email verified"),
    "user.verification_resent": _l(
        ACCOUNT, "Tautan verifikasi dikirim ulang", "Verification link sent again"
    ),
    "user.phone_verified": _l(ACCOUNT, "Nomor ponsel diverifikasi", "Mobile number verified"),
    "one_time_code.issued": _l(SIGNIN, "Kode sekali pakai dikirim", "One-time code sent"),
    "one_time_code.failed": _l(SIGNIN, "Kode sekali pakai salah", "Wrong one-time code"),
    "user.password_reset_requested": _l(
        ACCOUNT, "Tautan atur ulang kata sandi diminta", "Password reset link requested"
    ),
    "user.password_reset": _l(ACCOUNT, "Kata sandi diatur ulang", "Password reset"),
    "user.activated": _l(ACCOUNT, "Akun diaktifkan lewat tautan", "Account activated by link"),
    Event.USER_PROFILE_UPDATED: _l(ACCOUNT, "Profil diubah", "Profile updated"),
    Event.USER_EMAIL_CHANGE_REQUESTED: _l(ACCOUNT, "Ganti email diminta", "Email change requested"),
    Event.USER_EMAIL_CHANGED: _l(ACCOUNT, "Email diganti", "Email changed"),
    Event.USER_NIK_SET: _l(ACCOUNT, "NIK disimpan", "NIK saved"),
    Event.USER_NIK_REMOVED: _l(ACCOUNT, "NIK dihapus", "NIK removed"),
    Event.USER_PASSWORD_CHANGED: _l(ACCOUNT, "Kata sandi diganti", "Password changed"),
    Event.USER_DATA_EXPORTED: _l(ACCOUNT, "Data pribadi diunduh", "Personal data downloaded"),
    Event.USER_DELETED: _l(ACCOUNT, "Akun dihapus", "Account deleted"),
    Event.CONSENT_GRANTED: _l(ACCOUNT, "Izin untuk aplikasi diberikan", "App access allowed"),
    Event.CONSENT_REVOKED: _l(ACCOUNT, "Izin untuk aplikasi dicabut", "App access revoked"),
    Event.MFA_TOTP_ENROLLED: _l(
        ACCOUNT, "Aplikasi autentikator dipasang", "Authenticator app added"
    ),
    Event.MFA_TOTP_REMOVED: _l(
        ACCOUNT, "Aplikasi autentikator dilepas", "Authenticator app removed"
    ),
    Event.MFA_RECOVERY_CODES_GENERATED: _l(
        ACCOUNT, "Kode pemulihan dibuat", "Recovery codes created"
    ),
    Event.MFA_PASSKEY_ADDED: _l(ACCOUNT, "Passkey ditambahkan", "Passkey added"),
    Event.MFA_PASSKEY_RENAMED: _l(ACCOUNT, "Passkey diberi nama baru", "Passkey renamed"),
    Event.MFA_PASSKEY_REMOVED: _l(ACCOUNT, "Passkey dihapus", "Passkey removed"),
    # What admins do in /admin (and the CLI).
    Event.ADMIN_ACCESS_DENIED: _l(
        ADMIN, "Akses konsol admin ditolak", "Admin console access refused"
    ),
    Event.ADMIN_API_CALLED: _l(ADMIN, "Admin API dipanggil", "Admin API called"),
    Event.USER_CREATED: _l(ADMIN, "Akun dibuat", "Account created"),
    Event.USER_UPDATED: _l(
        ADMIN, "Data orang diubah admin", "Person's details changed by an admin"
    ),
    Event.USER_DISABLED: _l(ADMIN, "Akun dinonaktifkan", "Account disabled"),
    Event.USER_ENABLED: _l(ADMIN, "Akun diaktifkan kembali", "Account enabled again"),
    Event.USER_UNLOCKED: _l(ADMIN, "Kunci login dibuka", "Sign-in lock lifted"),
    Event.USER_RESET_LINK_SENT: _l(
        ADMIN, "Tautan atur ulang kata sandi dikirim admin", "Password reset link sent by an admin"
    ),
    Event.USER_SESSIONS_ENDED: _l(
        ADMIN, "Semua sesi orang diakhiri", "All of a person's sessions ended"
    ),
    "user.activation_link_sent": _l(ADMIN, "Tautan aktivasi dikirim", "Activation link sent"),
    Event.MFA_RESET: _l(
        ADMIN, "Verifikasi dua langkah direset admin", "Two-step verification reset by an admin"
    ),
    Event.IMPORT_VALIDATED: _l(
        ADMIN, "Berkas impor pegawai diperiksa", "Staff import file checked"
    ),
    Event.IMPORT_APPLIED: _l(ADMIN, "Impor pegawai diterapkan", "Staff import applied"),
    Event.IMPORT_FAILED: _l(ADMIN, "Impor pegawai gagal", "Staff import failed"),
    "activation.batch_started": _l(
        ADMIN, "Pengiriman tautan aktivasi dimulai", "Sending of activation links started"
    ),
    "activation.batch_sent": _l(
        ADMIN, "Sekelompok tautan aktivasi terkirim", "A batch of activation links sent"
    ),
    Event.ACTIVATION_BATCH_RESUMED: _l(
        ADMIN, "Pengiriman tautan aktivasi dilanjutkan", "Sending of activation links resumed"
    ),
    Event.AGENCY_CREATED: _l(ADMIN, "OPD dibuat", "Agency created"),
    Event.AGENCY_RENAMED: _l(ADMIN, "OPD diberi nama baru", "Agency renamed"),
    Event.AGENCY_MOVED: _l(ADMIN, "OPD dipindahkan", "Agency moved"),
    Event.AGENCY_MERGED: _l(ADMIN, "OPD digabungkan", "Agencies merged"),
    "agency.deleted": _l(ADMIN, "OPD dihapus", "Agency deleted"),
    Event.ROLE_CREATED: _l(ADMIN, "Peran dibuat", "Role created"),
    Event.ROLE_GRANTED: _l(ADMIN, "Peran diberikan", "Role given"),
    Event.ROLE_REVOKED: _l(ADMIN, "Peran dicabut", "Role taken back"),
    "role.deleted": _l(ADMIN, "Peran dihapus", "Role deleted"),
    Event.ROLE_UPDATED: _l(ADMIN, "Keterangan peran diubah", "Role description changed"),
    Event.CONFIG_APPLIED: _l(ADMIN, "Berkas konfigurasi diterapkan", "Configuration file applied"),
    Event.AUDIT_EXPORTED: _l(ADMIN, "Log audit diunduh", "Audit log downloaded"),
    # Relying parties: registration, review, settings, client authentication.
    Event.CLIENT_CREATED: _l(CLIENT, "Aplikasi dibuat", "App created"),
    Event.CLIENT_UPDATED: _l(CLIENT, "Pengaturan aplikasi diubah", "App settings changed"),
    Event.CLIENT_DELETED: _l(CLIENT, "Aplikasi dihapus", "App deleted"),
    Event.CLIENT_REGISTERED: _l(
        CLIENT, "Aplikasi didaftarkan pengembang", "App registered by a developer"
    ),
    Event.CLIENT_REGISTRATION_REFUSED: _l(
        CLIENT, "Pendaftaran aplikasi ditolak otomatis", "App registration refused"
    ),
    Event.CLIENT_APPROVED: _l(
        CLIENT, "Pendaftaran aplikasi disetujui", "App registration approved"
    ),
    Event.CLIENT_REJECTED: _l(
        CLIENT, "Pendaftaran aplikasi ditolak admin", "App registration rejected"
    ),
    Event.CLIENT_SECRET_ROTATED: _l(CLIENT, "Rahasia aplikasi diganti", "App secret rotated"),
    Event.CLIENT_AUTH_FAILED: _l(CLIENT, "Autentikasi aplikasi gagal", "App authentication failed"),
    Event.CLIENT_DISABLED: _l(CLIENT, "Aplikasi dinonaktifkan", "App disabled"),
    Event.CLIENT_DEVELOPMENT_CHANGED: _l(
        CLIENT, "Status pengembangan aplikasi diubah", "App development status changed"
    ),
    Event.CLIENT_LOGIN_REFUSED: _l(
        SIGNIN,
        "Masuk ke aplikasi dalam pengembangan ditolak",
        "Sign-in to an app in development refused",
    ),
    Event.CLIENT_ENABLED: _l(CLIENT, "Aplikasi diaktifkan kembali", "App enabled again"),
    Event.INITIAL_ACCESS_TOKEN_ISSUED: _l(
        CLIENT, "Token pendaftaran dibuat", "Registration token issued"
    ),
    Event.INITIAL_ACCESS_TOKEN_REVOKED: _l(
        CLIENT, "Token pendaftaran dicabut", "Registration token revoked"
    ),
    # The protocol: codes, tokens, grants, the device flow.
    Event.CODE_ISSUED: _l(TOKEN, "Kode otorisasi diterbitkan", "Authorization code issued"),
    Event.CODE_REUSED: _l(TOKEN, "Kode otorisasi dipakai ulang", "Authorization code reused"),
    Event.TOKEN_ISSUED: _l(TOKEN, "Token diterbitkan", "Tokens issued"),
    "token.refused": _l(TOKEN, "Permintaan token ditolak", "Token request refused"),
    Event.TOKEN_REVOKED: _l(TOKEN, "Token dicabut", "Token revoked"),
    Event.REFRESH_TOKEN_REUSED: _l(TOKEN, "Refresh token dipakai ulang", "Refresh token reused"),
    Event.GRANT_REVOKED: _l(TOKEN, "Izin akses (grant) dicabut", "Grant revoked"),
    "device_code.issued": _l(TOKEN, "Kode perangkat diterbitkan", "Device code issued"),
    "device_code.approved": _l(TOKEN, "Perangkat disetujui", "Device approved"),
    "device_code.denied": _l(TOKEN, "Perangkat ditolak", "Device denied"),
    "device_code.reused": _l(TOKEN, "Kode perangkat dipakai ulang", "Device code reused"),
    # Signing keys.
    Event.KEY_CREATED: _l(KEY, "Kunci penandatanganan dibuat", "Signing key created"),
    Event.KEY_ROTATED: _l(KEY, "Kunci penandatanganan dirotasi", "Signing keys rotated"),
    "key.retired": _l(KEY, "Kunci penandatanganan dipensiunkan", "Signing key retired"),
    # Upstream identity providers (sso.federation) and webhooks (sso.webhooks).
    Event.FEDERATION_LOGIN: _l(
        SIGNIN,
        "Masuk lewat penyedia identitas luar",
        "Signed in through an upstream identity provider",
    ),
    Event.FEDERATION_REFUSED: _l(
        SIGNIN,
        "Masuk lewat penyedia identitas luar ditolak",
        "Sign-in through an upstream identity provider refused",
    ),
    Event.FEDERATION_LINKED: _l(ACCOUNT, "Identitas luar ditautkan", "Upstream identity linked"),
    Event.FEDERATION_UNLINKED: _l(
        ACCOUNT, "Tautan identitas luar dilepas", "Upstream identity unlinked"
    ),
    Event.FEDERATION_NIK_CONFLICT: _l(
        ACCOUNT,
        "NIK dari penyedia identitas luar bentrok",
        "NIK from an upstream identity provider conflicts",
    ),
    Event.UPSTREAM_CREATED: _l(
        ADMIN, "Penyedia identitas luar ditambahkan", "Upstream identity provider added"
    ),
    Event.UPSTREAM_UPDATED: _l(
        ADMIN, "Penyedia identitas luar diubah", "Upstream identity provider changed"
    ),
    Event.UPSTREAM_DISABLED: _l(
        ADMIN, "Penyedia identitas luar dinonaktifkan", "Upstream identity provider disabled"
    ),
    Event.UPSTREAM_ENABLED: _l(
        ADMIN,
        "Penyedia identitas luar diaktifkan kembali",
        "Upstream identity provider enabled again",
    ),
    Event.WEBHOOK_CREATED: _l(ADMIN, "Webhook dibuat", "Webhook created"),
    Event.WEBHOOK_UPDATED: _l(ADMIN, "Webhook diubah", "Webhook changed"),
    Event.WEBHOOK_PAUSED: _l(ADMIN, "Webhook dijeda", "Webhook paused"),
    Event.WEBHOOK_RESUMED: _l(ADMIN, "Webhook dilanjutkan", "Webhook resumed"),
    Event.WEBHOOK_DELETED: _l(ADMIN, "Webhook dihapus", "Webhook deleted"),
    Event.WEBHOOK_SECRET_ROTATED: _l(ADMIN, "Rahasia webhook diganti", "Webhook secret rotated"),
    Event.WEBHOOK_REDELIVERED: _l(ADMIN, "Webhook dikirim ulang", "Webhook delivered again"),
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
    "upstream": ("Penyedia identitas", "Identity provider"),
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
