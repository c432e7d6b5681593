"""Clients change only through the functions of :mod:`sso.storage.clients`, and each of them
drops the cached copies of clients in this process (issue 17 item 5): the per-process client
cache of the token side serves the new row at once, its clock never moved."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from sso.db.models import Client
from sso.oauth.client_cache import ClientCache
from sso.runtime import Runtime
from sso.storage import clients as client_repo
from tests.factories import create_agency, create_client

ROOT = Path(__file__).resolve().parent.parent.parent
Change = Callable[[Session, Client, int], None]  # (session, client row, an agency's id)
Applied = Callable[[Client | None], bool]  # seen in the cached copy


def _rename(s: Session, c: Client, _agency: int) -> None:
    assert client_repo.update_client(s, c, name="Renamed", scope="openid") == ["name", "scope"]


def _review(s: Session, c: Client, _agency: int) -> None:
    client_repo.record_review(s, c, status="rejected", reviewed_by_id=None, note="no")


CHANGES: dict[str, tuple[Change, Applied]] = {
    "update_client": (_rename, lambda c: c is not None and c.name == "Renamed"),
    "set_status": (
        lambda s, c, _a: client_repo.set_status(s, c, "disabled"),
        lambda c: c is not None and c.status == "disabled",
    ),
    "record_review": (_review, lambda c: c is not None and c.review_note == "no"),
    "set_in_development": (
        lambda s, c, _a: client_repo.set_in_development(s, c, True),
        lambda c: c is not None and c.in_development,
    ),
    "set_secret_hash": (
        lambda s, c, _a: client_repo.set_secret_hash(s, c, "0" * 64),
        lambda c: c is not None and c.client_secret_hash == "0" * 64,
    ),
    "set_registration_token_hash": (
        lambda s, c, _a: client_repo.set_registration_token_hash(s, c, "1" * 64),
        lambda c: c is not None and c.registration_access_token_hash == "1" * 64,
    ),
    "set_admin_agency": (
        lambda s, c, agency: client_repo.set_admin_agency(s, c, agency),
        lambda c: c is not None and c.admin_agency_id is not None,
    ),
    "delete": (lambda s, c, _a: client_repo.delete(s, c), lambda c: c is None),
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_each_change_drops_the_cached_copy(runtime: Runtime, db: Session, name: str) -> None:
    client, _secret = create_client(
        runtime, db, name="Portal", redirect_uris=[], grant_types=["client_credentials"]
    )
    agency = create_agency(db)
    cache = ClientCache(clock=lambda: 1000.0)  # the clock never moves: only a drop refreshes
    with runtime.sessions() as s:
        assert not CHANGES[name][1](cache.get(s, client.client_id))
    change, applied = CHANGES[name]
    with runtime.sessions() as s:
        row = client_repo.get_by_client_id(s, client.client_id)
        assert row is not None
        change(s, row, agency.id)
        s.commit()
    with runtime.sessions() as s:
        assert applied(cache.get(s, client.client_id))


def test_update_client_writes_only_what_changed(runtime: Runtime, db: Session) -> None:
    client, _secret = create_client(runtime, db, name="Portal", scope="openid")
    with runtime.sessions() as s:
        row = client_repo.get_by_client_id(s, client.client_id)
        assert row is not None
        before = client_repo.change_generation()
        assert client_repo.update_client(s, row, name="Portal", scope="openid") == []
        assert client_repo.change_generation() == before  # nothing changed: caches kept
        with pytest.raises(TypeError, match="client_secret_hash"):
            client_repo.update_client(s, row, **{"client_secret_hash": None})  # type: ignore[arg-type]
        assert client_repo.update_client(s, row, description="Data", name="Portal") == [
            "description"
        ]
        assert client_repo.change_generation() > before
        s.commit()
        assert row.version == 2


# The attributes of a client row, and the names services give a client row.
COLUMNS = frozenset(c.key for c in Client.__mapper__.column_attrs)
CLIENT_NAMES = frozenset({"client"})


def _is_client(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in CLIENT_NAMES
    return isinstance(node, ast.Attribute) and node.attr in CLIENT_NAMES


def assignments_to_clients(path: Path, root: Path = ROOT) -> list[str]:
    """``path:line`` (relative to ``root``) of each ``client.<column> = …`` and
    ``setattr(client, …)`` in a module."""
    found: list[str] = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if (
                isinstance(target, ast.Attribute)
                and target.attr in COLUMNS
                and _is_client(target.value)
            ):
                found.append(f"{path.relative_to(root)}:{target.lineno}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "setattr"
            and node.args
            and _is_client(node.args[0])
        ):
            found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_services_change_clients_through_storage() -> None:
    """Outside the data layer nothing sets a field of a client row: it calls the storage
    function for that change, which invalidates the client caches."""
    found: list[str] = []
    for path in sorted((ROOT / "sso").rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if parts[1] in ("storage", "db") or "__pycache__" in parts:
            continue
        found += assignments_to_clients(path)
    assert found == []


def test_the_source_check_sees_an_assignment(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    module.write_text(
        "def f(client, created, c):\n"
        "    client.name = 'x'\n"
        "    created.client.status = 'active'\n"
        "    setattr(client, 'scope', 'openid')\n"
        "    client.lines = []\n"  # not a column: some other object named client
        "    c.name = 'y'\n",  # not named as a client row
        encoding="utf-8",
    )
    assert assignments_to_clients(module, tmp_path) == ["probe.py:2", "probe.py:3", "probe.py:4"]
