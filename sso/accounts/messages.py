"""The mails the account flows send, in Bahasa Indonesia (the default) or English.

Each is plain text with a simple HTML alternative (one paragraph per line, the link as a button
and again as text, no images, no tracking). Texts live here rather than in the web catalogues:
mail is written by the account services, below the web layer.
"""

from __future__ import annotations

from html import escape

from sso.accounts.mail import Mail

_TEXTS: dict[str, dict[str, str]] = {
    "id": {
        "greeting": "Halo {name},",
        "signature": "Salam,\nTangsel SSO — Pemerintah Kota Tangerang Selatan",
        "ignore": "Jika Anda tidak merasa melakukan ini, abaikan email ini; akun Anda tetap aman.",
        "verify.subject": "Verifikasi email akun Tangsel SSO Anda",
        "verify.body": (
            "Terima kasih telah mendaftar di Tangsel SSO. Buka tautan di bawah ini untuk "
            "memverifikasi email Anda dan mengaktifkan akun. Tautan berlaku {hours} jam dan hanya "
            "dapat dipakai sekali."
        ),
        "verify.button": "Verifikasi email",
        "reset.subject": "Buat kata sandi baru untuk Tangsel SSO",
        "reset.body": (
            "Kami menerima permintaan untuk membuat kata sandi baru bagi akun Tangsel SSO Anda. "
            "Buka tautan di bawah ini dalam {minutes} menit. Tautan hanya dapat dipakai sekali; "
            "permintaan yang lebih baru membatalkan tautan ini."
        ),
        "reset.after": (
            "Setelah kata sandi diganti, Anda akan dikeluarkan dari semua perangkat dan aplikasi."
        ),
        "reset.button": "Buat kata sandi baru",
        "existing.subject": "Ada yang mencoba mendaftar dengan email Anda",
        "existing.body": (
            "Seseorang (mungkin Anda sendiri) baru saja mencoba mendaftar di Tangsel SSO dengan "
            "alamat email ini. Email ini sudah memiliki akun, jadi tidak ada akun baru yang dibuat."
        ),
        "existing.verify": (
            "Email akun Anda belum diverifikasi. Buka tautan di bawah ini (berlaku {hours} jam) untuk "
            "memverifikasinya, lalu masuk dengan kata sandi yang Anda buat saat mendaftar."
        ),
        "existing.forgot": "Lupa kata sandi? Buat kata sandi baru di sini:",
        "existing.forgot_button": "Lupa kata sandi",
    },
    "en": {
        "greeting": "Hello {name},",
        "signature": "Regards,\nTangsel SSO — City Government of South Tangerang",
        "ignore": "If this was not you, ignore this email; your account stays safe.",
        "verify.subject": "Verify the email of your Tangsel SSO account",
        "verify.body": (
            "Thank you for registering with Tangsel SSO. Open the link below to verify your "
            "email and activate your account. The link is valid for {hours} hours and works once."
        ),
        "verify.button": "Verify email",
        "reset.subject": "Choose a new password for Tangsel SSO",
        "reset.body": (
            "We received a request to choose a new password for your Tangsel SSO account. Open "
            "the link below within {minutes} minutes. The link works once; a newer request cancels it."
        ),
        "reset.after": (
            "Once the password is changed, you will be signed out of every device and application."
        ),
        "reset.button": "Choose a new password",
        "existing.subject": "Someone tried to register with your email",
        "existing.body": (
            "Someone (perhaps you) just tried to register with Tangsel SSO using this email "
            "address. It already has an account, so no new account was created."
        ),
        "existing.verify": (
            "Your account's email is not verified yet. Open the link below (valid for {hours} hours) "
            "to verify it, then sign in with the password you chose when you registered."
        ),
        "existing.forgot": "Forgot your password? Choose a new one here:",
        "existing.forgot_button": "Forgot password",
    },
}


def _t(locale: str, key: str, **params: str) -> str:
    texts = _TEXTS.get(locale, _TEXTS["id"])
    return texts[key].format(**params) if params else texts[key]


def compose_message(
    locale: str,
    to: str,
    name: str,
    subject: str,
    parts: list[str | tuple[str, str]],
    purpose: str,
) -> Mail:
    """``parts``: paragraphs (text) and links ((button label, url)), in order."""
    greeting = _t(locale, "greeting", name=name)
    signature = _t(locale, "signature")
    text_parts = [greeting]
    html_parts = [f"<p>{escape(greeting)}</p>"]
    for part in parts:
        if isinstance(part, tuple):
            label, url = part
            text_parts.append(url)
            html_parts.append(
                f'<p><a href="{escape(url)}" style="display:inline-block;padding:10px 16px;'
                f'background:#00695c;color:#ffffff;text-decoration:none;border-radius:6px">'
                f"{escape(label)}</a></p>"
                f'<p style="font-size:13px;color:#555555">{escape(url)}</p>'
            )
        else:
            text_parts.append(part)
            html_parts.append(f"<p>{escape(part)}</p>")
    text_parts.append(signature)
    html_parts.append("<p>" + escape(signature).replace("\n", "<br>") + "</p>")
    html = (
        f'<!doctype html><html lang="{locale}"><head><meta charset="utf-8">'
        f"<title>{escape(subject)}</title></head>"
        '<body style="font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5;'
        'color:#1b1b1b">' + "".join(html_parts) + "</body></html>"
    )
    return Mail(
        to=to, subject=subject, text="\n\n".join(text_parts) + "\n", html=html, purpose=purpose
    )


def verification_mail(locale: str, to: str, name: str, link: str, hours: int) -> Mail:
    return compose_message(
        locale,
        to,
        name,
        _t(locale, "verify.subject"),
        [
            _t(locale, "verify.body", hours=str(hours)),
            (_t(locale, "verify.button"), link),
            _t(locale, "ignore"),
        ],
        "email_verification",
    )


def reset_mail(locale: str, to: str, name: str, link: str, minutes: int) -> Mail:
    return compose_message(
        locale,
        to,
        name,
        _t(locale, "reset.subject"),
        [
            _t(locale, "reset.body", minutes=str(minutes)),
            (_t(locale, "reset.button"), link),
            _t(locale, "reset.after"),
            _t(locale, "ignore"),
        ],
        "password_reset",
    )


def existing_account_mail(
    locale: str, to: str, name: str, forgot_link: str, verify_link: str | None, hours: int
) -> Mail:
    """To the owner of an address someone tried to register again."""
    parts: list[str | tuple[str, str]] = [_t(locale, "existing.body")]
    if verify_link:
        parts += [
            _t(locale, "existing.verify", hours=str(hours)),
            (_t(locale, "verify.button"), verify_link),
        ]
    parts += [
        _t(locale, "existing.forgot"),
        (_t(locale, "existing.forgot_button"), forgot_link),
        _t(locale, "ignore"),
    ]
    return compose_message(
        locale, to, name, _t(locale, "existing.subject"), parts, "registration_existing"
    )
