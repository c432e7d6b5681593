"""Driving the self-service pages over HTTP, as a person's browser would."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx2
from fastapi.testclient import TestClient

from tests.oidc.flow import csrf_of

PASSWORD = "kopi susu gula aren 2024"
NEW_PASSWORD = "nasi uduk di pagi hari"


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def register(
    http: TestClient,
    *,
    name: str = "Siti Aminah",
    email: str = "siti.aminah@example.id",
    password: str = PASSWORD,
    confirm: str | None = None,
    phone: str = "",
    lang: str | None = None,
) -> httpx2.Response:
    query = f"?lang={lang}" if lang else ""
    page = http.get(f"/register{query}")
    assert page.status_code == 200, page.text
    form = {
        "name": name,
        "email": email,
        "phone": phone,
        "password": password,
        "password_confirm": password if confirm is None else confirm,
        "csrf_token": csrf_of(page.text),
    }
    return http.post(f"/register{query}", data=form)


def forgot(http: TestClient, email: str, lang: str | None = None) -> httpx2.Response:
    query = f"?lang={lang}" if lang else ""
    page = http.get(f"/password/forgot{query}")
    assert page.status_code == 200, page.text
    return http.post(
        f"/password/forgot{query}", data={"email": email, "csrf_token": csrf_of(page.text)}
    )


def reset_form(http: TestClient, link: str) -> httpx2.Response:
    return http.get(path_of(link))


def token_of(link: str) -> str:
    query = urlsplit(link).query
    assert query.startswith("token="), link
    return query.removeprefix("token=")


def submit_reset(
    http: TestClient,
    link: str,
    password: str = NEW_PASSWORD,
    confirm: str | None = None,
    csrf: str | None = None,
    lang: str | None = None,
) -> httpx2.Response:
    if csrf is None:
        page = reset_form(http, link)
        assert page.status_code == 200, page.text
        csrf = csrf_of(page.text)
    data: dict[str, Any] = {
        "token": token_of(link),
        "password": password,
        "password_confirm": password if confirm is None else confirm,
        "csrf_token": csrf,
    }
    query = f"?lang={lang}" if lang else ""
    return http.post(f"/password/reset{query}", data=data)
