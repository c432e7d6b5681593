"""The mails of the account console, in Bahasa Indonesia (the default) or English: a link to
confirm a new email address (sent to the NEW address), a note to the OLD address once the
change took effect, and a note to an address that already belongs to another account.

Same layout as :mod:`sso.accounts.messages` (plain text plus a simple HTML alternative)."""

from __future__ import annotations

from sso.accounts.mail import Mail
from sso.accounts.messages import compose_message

_TEXTS: dict[str, dict[str, str]] = {
    "id": {
        "change.subject": "Konfirmasi alamat email baru akun Tangsel SSO Anda",
        "change.body": (
            "Anda meminta agar akun Tangsel SSO Anda memakai alamat email ini. Buka tautan di "
            "bawah ini dalam {hours} jam untuk mengonfirmasinya. Sampai saat itu, akun Anda "
            "tetap memakai alamat yang lama. Tautan hanya dapat dipakai sekali."
        ),
        "change.button": "Konfirmasi email baru",
        "changed.subject": "Email akun Tangsel SSO Anda telah diganti",
        "changed.body": (
            "Alamat email akun Tangsel SSO Anda baru saja diganti menjadi {new}. Mulai sekarang "
            "pemberitahuan dikirim ke alamat tersebut, dan Anda masuk dengan alamat itu."
        ),
        "changed.not_you": (
            "Jika Anda tidak melakukan ini, segera hubungi helpdesk Pemerintah Kota Tangerang "
            "Selatan: seseorang mungkin telah memakai akun Anda."
        ),
        "taken.subject": "Permintaan penggantian email di Tangsel SSO",
        "taken.body": (
            "Seseorang meminta agar akun Tangsel SSO lain memakai alamat email ini. Alamat ini "
            "sudah dipakai akun Anda, jadi tidak ada yang diubah."
        ),
    },
    "en": {
        "change.subject": "Confirm the new email address of your Tangsel SSO account",
        "change.body": (
            "You asked for your Tangsel SSO account to use this email address. Open the link "
            "below within {hours} hours to confirm it. Until then your account keeps the old "
            "address. The link works once."
        ),
        "change.button": "Confirm the new email",
        "changed.subject": "The email of your Tangsel SSO account was changed",
        "changed.body": (
            "The email address of your Tangsel SSO account was just changed to {new}. From now "
            "on notices go to that address, and you sign in with it."
        ),
        "changed.not_you": (
            "If this was not you, contact the City of South Tangerang helpdesk at once: someone "
            "may have used your account."
        ),
        "taken.subject": "Email change request at Tangsel SSO",
        "taken.body": (
            "Someone asked for another Tangsel SSO account to use this email address. The "
            "address already belongs to your account, so nothing was changed."
        ),
    },
}
_IGNORE = {
    "id": "Jika Anda tidak merasa melakukan ini, abaikan email ini; akun Anda tetap aman.",
    "en": "If this was not you, ignore this email; your account stays safe.",
}


def _lang(locale: str) -> str:
    return locale if locale in _TEXTS else "id"


def _t(locale: str, key: str, **params: str) -> str:
    text = _TEXTS[_lang(locale)][key]
    return text.format(**params) if params else text


def confirm_new_email(locale: str, to: str, name: str, link: str, hours: int) -> Mail:
    """To the NEW address: the link that makes the change take effect."""
    return compose_message(
        _lang(locale),
        to,
        name,
        _t(locale, "change.subject"),
        [
            _t(locale, "change.body", hours=str(hours)),
            (_t(locale, "change.button"), link),
            _IGNORE[_lang(locale)],
        ],
        "email_change",
    )


def email_changed(locale: str, to: str, name: str, new_masked: str) -> Mail:
    """To the OLD address, once the change took effect."""
    return compose_message(
        _lang(locale),
        to,
        name,
        _t(locale, "changed.subject"),
        [_t(locale, "changed.body", new=new_masked), _t(locale, "changed.not_you")],
        "email_changed",
    )


def address_taken(locale: str, to: str, name: str) -> Mail:
    """To an address someone wanted for another account: it stays where it is."""
    return compose_message(
        _lang(locale),
        to,
        name,
        _t(locale, "taken.subject"),
        [_t(locale, "taken.body"), _IGNORE[_lang(locale)]],
        "email_change_taken",
    )


def mask_email(address: str) -> str:
    """``siti.aminah@example.id`` → ``si*********@example.id`` (for a mail to another address)."""
    local, _, domain = address.partition("@")
    keep = local[:2] if len(local) > 2 else local[:1]
    return f"{keep}{'*' * max(len(local) - len(keep), 1)}@{domain}"
