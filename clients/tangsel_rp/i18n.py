"""Bahasa Indonesia (default) and English: a plain dict catalogue per app, plus the strings
the toolkit's own pages use. The language comes from ``?lang=``, then the ``lang`` cookie
(set by the switch link on every page), then ``Accept-Language``, then the app's default."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import HTTPConnection

LOCALES = ("id", "en")

Messages = Mapping[str, Mapping[str, str]]

COMMON: dict[str, dict[str, str]] = {
    "id": {
        "nav.home": "Beranda",
        "nav.login": "Masuk",
        "nav.logout": "Keluar",
        "nav.language": "Bahasa",
        "nav.signed_in_as": "Masuk sebagai {name}",
        "login.with_city_account": "Masuk dengan akun Tangsel SSO",
        "login.needed": "Silakan masuk dengan akun kota Anda untuk melanjutkan.",
        "logout.done_title": "Anda telah keluar",
        "logout.done": "Sesi Anda di aplikasi ini dan di Tangsel SSO telah berakhir.",
        "logout.state_mismatch": "Respons keluar tidak dikenali, tetapi sesi Anda di aplikasi "
        "ini sudah berakhir.",
        "error.title": "Terjadi kendala",
        "error.back_home": "Kembali ke beranda",
        "error.try_again": "Coba masuk lagi",
        "error.access_denied": "Anda membatalkan proses masuk, atau tidak memberi izin kepada "
        "aplikasi ini.",
        "error.login_required": "Anda perlu masuk terlebih dahulu di Tangsel SSO.",
        "error.consent_required": "Aplikasi ini memerlukan persetujuan Anda di Tangsel SSO.",
        "error.interaction_required": "Tangsel SSO memerlukan tindakan Anda sebelum melanjutkan.",
        "error.account_selection_required": "Pilih akun Anda di Tangsel SSO terlebih dahulu.",
        "error.invalid_scope": "Aplikasi ini meminta izin yang tidak tersedia.",
        "error.unauthorized_client": "Aplikasi ini belum terdaftar dengan benar di Tangsel SSO.",
        "error.server_error": "Tangsel SSO sedang mengalami gangguan. Coba lagi nanti.",
        "error.temporarily_unavailable": "Tangsel SSO sedang sibuk. Coba lagi sebentar lagi.",
        "error.mismatching_state": "Permintaan masuk sudah kedaluwarsa atau berasal dari tab "
        "lain. Silakan coba lagi.",
        "error.invalid_response": "Respons dari Tangsel SSO tidak valid.",
        "error.invalid_token": "Token dari Tangsel SSO tidak valid.",
        "error.provider_unavailable": "Tangsel SSO tidak dapat dihubungi. Coba lagi nanti.",
        "error.login_failed": "Proses masuk gagal. Silakan coba lagi.",
        "error.not_found": "Halaman tidak ditemukan.",
        "error.forbidden": "Anda tidak memiliki akses ke halaman ini.",
        "error.bad_request": "Permintaan tidak valid.",
        "error.csrf": "Formulir kedaluwarsa. Muat ulang halaman lalu coba lagi.",
        "error.internal": "Terjadi kesalahan pada aplikasi. Coba lagi nanti.",
        "error.code": "Kode kesalahan: {code}",
    },
    "en": {
        "nav.home": "Home",
        "nav.login": "Log in",
        "nav.logout": "Log out",
        "nav.language": "Language",
        "nav.signed_in_as": "Signed in as {name}",
        "login.with_city_account": "Log in with your Tangsel SSO account",
        "login.needed": "Please log in with your city account to continue.",
        "logout.done_title": "You are logged out",
        "logout.done": "Your session in this app and at Tangsel SSO has ended.",
        "logout.state_mismatch": "The logout response was not recognised, but your session in "
        "this app has ended.",
        "error.title": "Something went wrong",
        "error.back_home": "Back to the home page",
        "error.try_again": "Try logging in again",
        "error.access_denied": "You cancelled the login, or did not allow this app.",
        "error.login_required": "You need to log in at Tangsel SSO first.",
        "error.consent_required": "This app needs your consent at Tangsel SSO.",
        "error.interaction_required": "Tangsel SSO needs you to do something before going on.",
        "error.account_selection_required": "Choose your account at Tangsel SSO first.",
        "error.invalid_scope": "This app asked for permissions that are not available.",
        "error.unauthorized_client": "This app is not registered correctly with Tangsel SSO.",
        "error.server_error": "Tangsel SSO has a problem. Please try again later.",
        "error.temporarily_unavailable": "Tangsel SSO is busy. Please try again shortly.",
        "error.mismatching_state": "The login request expired or came from another tab. "
        "Please try again.",
        "error.invalid_response": "The response from Tangsel SSO is not valid.",
        "error.invalid_token": "The token from Tangsel SSO is not valid.",
        "error.provider_unavailable": "Tangsel SSO cannot be reached. Please try again later.",
        "error.login_failed": "Logging in failed. Please try again.",
        "error.not_found": "Page not found.",
        "error.forbidden": "You do not have access to this page.",
        "error.bad_request": "The request is not valid.",
        "error.csrf": "The form has expired. Reload the page and try again.",
        "error.internal": "The app ran into an error. Please try again later.",
        "error.code": "Error code: {code}",
    },
}


class Catalogue:
    def __init__(self, *parts: Messages) -> None:
        self.messages: dict[str, dict[str, str]] = {locale: {} for locale in LOCALES}
        for part in (COMMON, *parts):
            for locale, entries in part.items():
                self.messages.setdefault(locale, {}).update(entries)

    def gettext(self, locale: str, key: str, **values: object) -> str:
        text = self.messages.get(locale, {}).get(key) or self.messages["id"].get(key) or key
        return text.format(**values) if values else text


def negotiate(conn: HTTPConnection, default: str) -> str:
    asked = conn.query_params.get("lang") or conn.cookies.get("lang")
    if asked in LOCALES:
        return asked
    header = conn.headers.get("accept-language", "")
    ranked: list[tuple[float, str]] = []
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LOCALES:
            ranked.append((quality, primary))
    if ranked:
        return max(ranked, key=lambda item: item[0])[1]
    return default
