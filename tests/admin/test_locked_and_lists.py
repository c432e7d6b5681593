"""Issue 13 (a13l): the dashboard's locked-accounts figure links to the user list filtered to
locked accounts (one rule, :meth:`Throttle.locked_accounts`, for the figure, the filter, the
person's page and unlock); a person's sessions tab links to their sessions; registration tokens
and signing keys are searched and paged both ways."""

from __future__ import annotations

import re

from fastapi import FastAPI
from sqlalchemy.orm import Session

from sso.oauth import initial_access
from sso.runtime import Runtime
from tests.admin.conftest import Browser, events, person
from tests.admin.test_dashboard import fail_logins, stat

NIPS = ("199701012022011001", "199702022022022002")


def _listed(html: str) -> str:
    return html[html.index('id="users"') :]


def test_locked_accounts_link_to_the_filtered_user_list(
    app: FastAPI, admin: Browser, auditor: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    locked, _ = person(runtime, db, "pegawaikunci", nip=NIPS[0], mfa=False)
    person(runtime, db, "pegawaibebas", nip=NIPS[1], mfa=False)
    limit = runtime.settings.login_max_failures_account_ip
    assert fail_logins(app, "pegawaikunci", limit + 1)[-1] == 429
    fail_logins(app, "pegawaibebas", 1)

    html = admin.get("/admin").text
    assert stat(html, "locked") == "1"
    assert 'id="locked-link" href="/admin/users?locked=1"' in html
    assert "/admin/users?locked=1" not in auditor.get("/admin").text  # may not open the list

    page = admin.get("/admin/users?locked=1")
    assert page.status_code == 200
    listed = _listed(page.text)
    assert "Pegawaikunci" in listed and "Pegawaibebas" not in listed
    assert "Adminkota" not in listed
    assert re.search(r'id="locked" name="locked" type="checkbox" value="1" checked', page.text)
    # The filter is kept with the others, and searching within it works.
    assert "Pegawaikunci" in _listed(admin.get("/admin/users?locked=1&q=kunci").text)
    assert "Pegawaikunci" not in _listed(admin.get("/admin/users?locked=1&q=bebas").text)
    english = admin.get("/admin/users?locked=1&lang=en").text
    assert "Locked accounts only" in english
    # The person's page says the same, and unlocking empties the filtered list.
    user_page = f"/admin/users/{locked.id}"
    assert 'data-action="unlock"' in admin.get(user_page).text
    assert admin.post(f"{user_page}/unlock", page=user_page).status_code == 303
    assert events(db, "user.unlocked", target_id=locked.id)
    assert "Pegawaikunci" not in _listed(admin.get("/admin/users?locked=1").text)
    assert stat(admin.get("/admin").text, "locked") == "0"


def test_the_sessions_tab_links_to_the_persons_sessions(
    admin: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    text = admin.get(f"/admin/users/{admin.user.id}?tab=sessions").text
    link = f'href="/admin/sessions?user_id={admin.user.id}"'
    assert link in text
    sessions = admin.get(f"/admin/sessions?user_id={admin.user.id}")
    assert sessions.status_code == 200 and "adminkota" in sessions.text


def _tokens(db: Session, runtime: Runtime, n: int, description: str) -> list[int]:
    ids = [
        initial_access.issue(db, runtime.secret_key, description=f"{description} {i}").row.id
        for i in range(n)
    ]
    db.commit()
    return ids


def test_registration_tokens_are_searched_and_paged_both_ways(
    admin: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    _tokens(db, runtime, 27, "Dinas Pendidikan")
    [kominfo] = _tokens(db, runtime, 1, "Kominfo")
    first = admin.get("/admin/registration-tokens").text
    assert first.count("data-token=") == 25 and 'rel="next"' in first and 'rel="prev"' not in first
    second = admin.get("/admin/registration-tokens?page=2").text
    assert second.count("data-token=") == 3 and 'rel="prev"' in second
    assert 'rel="next"' not in second
    found = admin.get("/admin/registration-tokens?q=kominfo").text
    assert found.count("data-token=") == 1 and f'data-token="{kominfo}"' in found
    assert admin.get(f"/admin/registration-tokens?q=%23{kominfo}").text.count("data-token=") >= 1
    paged = admin.get("/admin/registration-tokens?q=pendidikan").text
    assert 'href="/admin/registration-tokens?q=pendidikan&amp;page=2"' in paged
    assert "Tidak ada yang cocok" in admin.get("/admin/registration-tokens?q=%00zzz").text
    initial_access.revoke(db, kominfo, actor_id=admin.user.id)
    db.commit()
    revoked = admin.get("/admin/registration-tokens?state=revoked").text
    assert revoked.count("data-token=") == 1 and f'data-token="{kominfo}"' in revoked
    assert (
        f'data-token="{kominfo}"'
        not in admin.get("/admin/registration-tokens?state=usable&q=kominfo").text
    )
    assert admin.get("/admin/registration-tokens?page=x&state=nonsense").status_code == 200


def test_signing_keys_are_searched(
    admin: Browser, runtime: Runtime, db: Session, backend: str
) -> None:
    page = admin.get("/admin/keys")
    assert page.status_code == 200 and 'id="key-search"' in page.text
    kids = re.findall(r'<td data-label="kid"><code>([^<]+)</code>', page.text)
    assert kids
    one = admin.get(f"/admin/keys?q={kids[0][:12]}").text
    assert kids[0] in one
    assert "Tidak ada yang cocok" in admin.get("/admin/keys?q=tidak-ada-kunci").text
    retired = admin.get("/admin/keys?state=retired").text
    assert not re.findall(r'data-state="(active|next)"', retired)
    assert admin.get("/admin/keys?page=999").status_code == 200
