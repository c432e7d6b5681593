"""A developer's list of apps is searched (name or client_id) and paged both ways, showing only
their own apps (issue 13, a13l)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from sso.db.models import User
from sso.runtime import Runtime
from tests.factories import create_client
from tests.oidc.flow import open_console_page


def _names(html: str) -> list[str]:
    return re.findall(r'class="app-list__name" href="[^"]+">([^<]+)<', html)


def test_the_app_list_is_searched_and_paged(
    http: TestClient, runtime: Runtime, db: Session, dewi: User, siti: User, backend: str
) -> None:
    for i in range(22):
        create_client(runtime, db, name=f"Layanan {i:02d}", owner_id=dewi.id)
    create_client(runtime, db, name="Pajak Reklame", owner_id=dewi.id)
    create_client(runtime, db, name="Pajak Milik Siti", owner_id=siti.id)

    first = open_console_page(http, "/developers", "dewi")
    assert first.status_code == 200
    assert len(_names(first.text)) == 20 and 'rel="next"' in first.text
    assert 'rel="prev"' not in first.text and 'id="app-search"' in first.text
    second = http.get("/developers?page=2")
    assert len(_names(second.text)) == 3 and 'rel="prev"' in second.text
    assert 'rel="next"' not in second.text
    assert set(_names(first.text)).isdisjoint(_names(second.text))

    assert _names(http.get("/developers?q=PAJAK").text) == ["Pajak Reklame"]  # not Siti's
    paged = http.get("/developers?q=layanan").text
    assert 'href="/developers?q=layanan&amp;page=2"' in paged
    empty = http.get("/developers?q=zzz%00")
    assert empty.status_code == 200 and 'id="no-match"' in empty.text
    assert "None of your apps" in http.get("/developers?q=zzz&lang=en").text
    assert http.get("/developers?page=abc").status_code == 200
