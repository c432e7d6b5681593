"""The admin console's pages at 1,000,000 citizens (issue 13: "Admin pages answer in p95 ≤ 300
ms"), measured over HTTP against a real ``sso serve`` process, as an admin with a real session
(password and TOTP through the login pages, the session cookie the provider sets).

It starts from a database that ``bench/search.py --seed 1000000`` seeded (citizens only) and
adds, once (skipped when its agencies are there), what an admin's pages read at city scale:

- 60 agencies (12 offices with 4 units each) and 20,000 of the people made staff in them;
- 100,000 live login sessions (``users.last_login_at`` follows), 40 clients;
- 1,000,000 audit events over the last 90 days (sign-ins, failures, tokens, admin changes);
- one admin (``benchadmin``, role ``admin``, TOTP) whose page the user-tab probes open.

Then each page is asked ``--repeat`` times, one request at a time (latency of one admin's
clicks, not a load test), after 3 warm-up requests; a page of several variants (the surname
search) cycles through them. The audit CSV counts the time to its first ``--csv-rows`` rows.
Prints a table (p50/p95/p99 in ms) and one JSON line.

    PYTHONPATH=. .venv/bin/python bench/admin_pages.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/sso_bench_admin

The database must have the schema at head (``sso db upgrade``). Bench-only secrets below.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pyotp
from sqlalchemy import text
from sqlalchemy.orm import Session

from sso.accounts.passwords import PasswordHasher
from sso.accounts.service import NewUser, create_user
from sso.config import Settings
from sso.core.clock import now
from sso.db.models import TotpCredential
from sso.oauth.clients import ClientSpec, register
from sso.runtime import build_runtime
from sso.storage import roles as role_repo
from sso.storage import users as user_repo

SECRET_KEY = "bench-admin-pages-secret-key-0123456789-abcdefghijklmnop"
KEY_ENCRYPTION_KEY = "kPd6T0mYbq5bQ2o2tX8Yf0Ck3kG9cQ8o7J1s2T4u5V0="
ADMIN, PASSWORD = "benchadmin", "Bench-Admin-Password-13"
EVENTS = (
    "user.login",
    "user.login",
    "user.login",
    "token.issued",
    "token.issued",
    "user.login_failed",
    "user.logout",
    "code.issued",
    "consent.granted",
    "user.profile_updated",
    "mfa.verified",
    "client.updated",
    "role.granted",
    "session.ended",
    "user.password_changed",
    "user.created",
)


def settings(url: str, issuer: str, var_dir: Path) -> Settings:
    return Settings(
        env="test",
        issuer=issuer,
        database_url=url,
        var_dir=var_dir,
        secret_key=SECRET_KEY,
        key_encryption_key=KEY_ENCRYPTION_KEY,
        admin_password=PASSWORD,
    ).finalize()


def seed(url: str, var_dir: Path) -> str:
    """The rows the admin pages read (each part once); returns the admin's TOTP secret."""
    rt = build_runtime(settings(url, "http://127.0.0.1", var_dir))
    try:
        with rt.sessions() as db:
            t0 = time.monotonic()
            if db.execute(text("SELECT 1 FROM agencies WHERE code = 'BENCH-1'")).first() is None:
                seed_people(db)
                print(
                    f"seed: agencies, staff, sessions in {time.monotonic() - t0:.0f} s",
                    file=sys.stderr,
                )
            t0 = time.monotonic()
            if db.execute(text("SELECT count(*) FROM audit_events")).scalar_one() < 1_000_000:
                seed_events(db)
                print(
                    f"seed: 1,000,000 audit events in {time.monotonic() - t0:.0f} s",
                    file=sys.stderr,
                )
            admin = user_repo.find_by_login(db, ADMIN)
            if admin is not None:
                cred = db.get(TotpCredential, admin.id)
                assert cred is not None
                return rt.encryptor.decrypt(cred.secret_encrypted)
            for i in range(40):
                register(
                    db,
                    rt.secret_key,
                    ClientSpec(
                        name=f"Aplikasi Layanan Kota {i:02d}",
                        redirect_uris=[f"https://app{i:02d}.tangerangselatankota.go.id/callback"],
                        scope="openid profile email",
                    ),
                )
            admin = create_user(
                db,
                PasswordHasher(rt.settings),
                NewUser(
                    username=ADMIN,
                    email="benchadmin@tangerangselatankota.go.id",
                    kind="staff",
                    email_verified=True,
                    display_name="Admin Bench",
                    agency_code="BENCH-1",
                ),
                PASSWORD,
            )
            role_repo.assign_to_user(db, role_repo.get_or_create_global(db, "admin"), admin.id)
            secret = pyotp.random_base32(length=32)
            db.add(
                TotpCredential(
                    user_id=admin.id,
                    confirmed_at=now(),
                    secret_encrypted=rt.encryptor.encrypt(secret),
                )
            )
            db.commit()
            db.execute(text("ANALYZE"))
            return secret
    finally:
        rt.dispose()


def seed_people(db: Session) -> None:
    """60 agencies, 20,000 staff in them, 100,000 live sessions (and last sign-ins)."""
    db.execute(
        text(
            "INSERT INTO agencies (code, name, parent_id, created_at, updated_at, version) "
            "SELECT 'BENCH-' || i, 'Dinas Bench ' || i, NULL, now(), now(), 1 "
            "FROM generate_series(1, 12) i"
        )
    )
    db.execute(
        text(
            "INSERT INTO agencies (code, name, parent_id, created_at, updated_at, version) "
            "SELECT 'BENCH-' || p || '-' || j, 'Bidang ' || j || ' Dinas Bench ' || p, "
            "(SELECT id FROM agencies WHERE code = 'BENCH-' || p), now(), now(), 1 "
            "FROM generate_series(1, 12) p, generate_series(1, 4) j"
        )
    )
    db.execute(
        text(
            "WITH a AS (SELECT array_agg(id ORDER BY id) ids FROM agencies "
            "WHERE code LIKE 'BENCH-%'), s AS (SELECT id, row_number() OVER () n FROM "
            "(SELECT id FROM users WHERE kind = 'citizen' ORDER BY id LIMIT 20000) x) "
            "UPDATE users u SET kind = 'staff', "
            "agency_id = a.ids[1 + s.n % array_length(a.ids, 1)] FROM s, a WHERE u.id = s.id"
        )
    )
    db.execute(
        text(
            "INSERT INTO login_sessions (id, token_hash, user_id, auth_time, amr, acr, ip, "
            "user_agent, created_at, last_seen_at, expires_at, ended_at) "
            "SELECT gen_random_uuid()::text, encode(sha256(('bench-' || n)::bytea), 'hex'), "
            "u.id, t, '[\"pwd\"]', '1', '10.0.' || (n % 250) || '.' || (n % 200), "
            "'Mozilla/5.0 (Linux; Android 14) Chrome/131.0 Mobile', t, t, "
            "now() + interval '7 days', NULL FROM (SELECT id, row_number() OVER () n, "
            "now() - (random() * interval '30 days') t FROM users TABLESAMPLE SYSTEM (10) "
            "LIMIT 100000) u(id, n, t)"
        )
    )
    # Some of the staff sign in too (the user page's sessions tab, the busiest person).
    db.execute(
        text(
            "INSERT INTO login_sessions (id, token_hash, user_id, auth_time, amr, acr, ip, "
            "user_agent, created_at, last_seen_at, expires_at, ended_at) "
            "SELECT gen_random_uuid()::text, encode(sha256(('bench-staff-' || u.id || '-' || n)::bytea), 'hex'), "
            "u.id, now() - n * interval '1 minute', '[\"pwd\"]', '1', '10.2.0.1', 'Mozilla/5.0', "
            "now(), now(), now() + interval '7 days', NULL FROM (SELECT id FROM users "
            "WHERE kind = 'staff' ORDER BY id LIMIT 2000) u, generate_series(1, 3) n"
        )
    )
    db.execute(
        text(
            "UPDATE users u SET last_login_at = s.t FROM (SELECT user_id, max(auth_time) t "
            "FROM login_sessions GROUP BY user_id) s WHERE s.user_id = u.id"
        )
    )
    db.commit()


def seed_events(db: Session) -> None:
    """1,000,000 audit events over 90 days by 20,000 people (sessions' owners)."""
    db.execute(
        text(
            "WITH p AS (SELECT array_agg(user_id) ids FROM (SELECT DISTINCT user_id FROM "
            "login_sessions LIMIT 20000) x), e AS (SELECT CAST(:events AS text[]) names) "
            "INSERT INTO audit_events (created_at, event, outcome, actor_id, target_type, "
            "target_id, client_id, ip, user_agent, request_id, details) "
            "SELECT now() - i * interval '7.776 seconds', e.names[1 + i % cardinality(e.names)], "
            "CASE WHEN i % 16 = 5 THEN 'failure' ELSE 'success' END, "
            "p.ids[1 + (i * 7919) % cardinality(p.ids)], 'user', "
            "p.ids[1 + (i * 7919) % cardinality(p.ids)], NULL, '10.1.' || (i % 250) || '.1', "
            "'Mozilla/5.0', md5(i::text), '{}' FROM generate_series(1::bigint, 1000000) i, p, e"
        ),
        {"events": list(EVENTS)},
    )
    db.commit()


def form(html: str, marker: str = "") -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the first POST form (whose tag holds ``marker``)."""
    for m in re.finditer(r'<form[^>]*method="post"[^>]*>', html):
        if marker in m.group(0):
            action = re.search(r'action="([^"]+)"', m.group(0))
            assert action
            body = html[m.start() : html.find("</form>", m.start())]
            hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', body))
            return action.group(1).replace("&amp;", "&"), hidden
    raise AssertionError(html[:2000])


def log_in(client: httpx.Client, secret: str) -> None:
    page = client.get("/admin", follow_redirects=True)
    action, fields = form(page.text)
    page = client.post(
        action, data={**fields, "username": ADMIN, "password": PASSWORD}, follow_redirects=True
    )
    action, fields = form(page.text, 'id="totp-form"')
    page = client.post(
        action, data={**fields, "code": pyotp.TOTP(secret).now()}, follow_redirects=True
    )
    assert str(page.url).endswith("/admin") and page.status_code == 200, (page.url, page.text[:500])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def measure(
    client: httpx.Client, paths: list[str], repeat: int, csv_rows: int = 0
) -> dict[str, Any]:
    times: list[float] = []
    for i in range(repeat + 3):
        path = paths[i % len(paths)]
        t0 = time.perf_counter()
        if csv_rows:
            with client.stream("GET", path) as r:
                assert r.status_code == 200, (path, r.status_code)
                for n, _line in enumerate(r.iter_lines()):
                    if n >= csv_rows:
                        break
        else:
            r = client.get(path)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return {
        "n": len(times),
        "p50": round(pct(times, 50), 1),
        "p95": round(pct(times, 95), 1),
        "p99": round(pct(times, 99), 1),
        "mean": round(statistics.fmean(times) * 1000, 1),
    }


def pages(url: str) -> dict[str, list[str]]:
    rt = build_runtime(settings(url, "http://127.0.0.1", Path(tempfile.mkdtemp())))
    try:
        with rt.sessions() as db:
            names = [
                r[0]
                for r in db.execute(
                    text("SELECT display_name_search FROM users TABLESAMPLE SYSTEM (1) LIMIT 40")
                )
            ]
            # The busiest person: most sessions and events (their tabs are the fullest).
            person, username = db.execute(
                text(
                    "SELECT u.id, u.username FROM users u JOIN login_sessions s ON s.user_id = u.id "
                    "WHERE u.kind = 'staff' GROUP BY u.id, u.username ORDER BY count(*) DESC "
                    "LIMIT 1"
                )
            ).one()
    finally:
        rt.dispose()
    surnames = [max(n.split(), key=len)[1:6] for n in names]  # "part of a surname"
    user = f"/admin/users/{person}"
    out = {
        "dashboard": ["/admin"],
        "users": ["/admin/users"],
        "users ?q=surname": [f"/admin/users?q={s}" for s in surnames],
        "users ?sort=-last_login": ["/admin/users?sort=-last_login"],
    }
    for tab in ("details", "credentials", "roles", "sessions", "apps", "events"):
        out[f"user tab={tab}"] = [f"{user}?tab={tab}"]
    out.update(
        {
            "agencies": ["/admin/agencies"],
            "roles": ["/admin/roles"],
            "clients": ["/admin/clients"],
            "sessions": ["/admin/sessions"],
            "audit": ["/admin/audit"],
            "audit ?cat=signin": ["/admin/audit?cat=signin"],
            "audit ?person=": [f"/admin/audit?person={username}"],
        }
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--repeat", type=int, default=40, help="requests per page (after 3 warm-up)")
    ap.add_argument("--csv-rows", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--port", type=int, default=18613)
    args = ap.parse_args()
    var_dir = Path(tempfile.mkdtemp(prefix="bench-admin-"))
    secret = seed(args.database_url, var_dir)
    base = f"http://127.0.0.1:{args.port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SSO_")},
        "SSO_ENV": "test",
        "SSO_ISSUER": base,
        "SSO_DATABASE_URL": args.database_url,
        "SSO_SECRET_KEY": SECRET_KEY,
        "SSO_KEY_ENCRYPTION_KEY": KEY_ENCRYPTION_KEY,
        "SSO_ADMIN_PASSWORD": PASSWORD,
        "SSO_VAR_DIR": str(var_dir),
        "SSO_LOG_LEVEL": "WARNING",
        "MALLOC_ARENA_MAX": "2",
    }
    sso = Path(sys.executable).with_name("sso")
    server = subprocess.Popen(
        [str(sso), "serve", "--port", str(args.port), "--workers", str(args.workers)], env=env
    )
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.get("/.well-known/openid-configuration")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise
                    time.sleep(0.3)
            log_in(client, secret)
            results: dict[str, Any] = {}
            for name, paths in pages(args.database_url).items():
                results[name] = measure(client, paths, args.repeat)
                print(f"{name:28} {results[name]}", file=sys.stderr)
            name = f"audit.csv first {args.csv_rows}"
            results[name] = measure(
                client, ["/admin/audit.csv"], max(args.repeat // 4, 5), csv_rows=args.csv_rows
            )
            print(f"{name:28} {results[name]}", file=sys.stderr)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print("| page | n | p50 ms | p95 ms | p99 ms |\n| --- | ---: | ---: | ---: | ---: |")
    for name, r in results.items():
        print(f"| {name} | {r['n']} | {r['p50']} | {r['p95']} | {r['p99']} |")
    print(json.dumps({"scenario": "admin_pages", "workers": args.workers, "results": results}))


if __name__ == "__main__":
    main()
