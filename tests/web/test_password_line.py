"""Issue 14 item 7: every route that hashes or verifies a password waits its turn in the
password line (:class:`sso.web.load_shedding.PasswordCheckAdmission`), because the route is
marked (:func:`sso.web.load_shedding.checks_password`), not because its path is in a list.

Two checks: a reading of the source (every route whose endpoint can reach the hasher is
marked), and the line itself in front of the real application's routes (a marked route is
refused while the line is full; an unmarked one is not held)."""

from __future__ import annotations

import ast
import asyncio
import importlib
import pkgutil
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

import sso
from sso.web.app_runtime import AppRuntime
from sso.web.load_shedding import PasswordCheckAdmission, all_routes, is_password_route

# Where password work starts in the web layers: the runtime's hasher (``….password_hasher``
# of an AppRuntime), or a hasher of one's own.
RUNTIME_HASHER = "sso.web.app_runtime.AppRuntime.password_hasher"
HASHER = {RUNTIME_HASHER, "sso.accounts.passwords.PasswordHasher"}
# The routes that must be found reaching the hasher (so the reading below is not vacuous).
KNOWN = {
    ("POST", "/interaction/{interaction_id}/login"),  # login and re-authentication (max_age)
    ("POST", "/register"),
    ("POST", "/password/reset"),
    ("POST", "/account/password"),
    ("POST", "/account/delete"),
    ("POST", "/admin/users/new"),
}


def _call_graph() -> dict[str, set[str]]:
    """Function (``module.name`` or ``module.Class.name``) → the qualified names its body
    refers to: names defined in its module, names imported with ``from … import``, and
    ``module.attr`` through an imported module, and the runtime's hasher through any
    ``….password_hasher``. A reference to a class reaches its methods."""
    graph: dict[str, set[str]] = {}
    root = Path(sso.__file__).resolve().parent
    for info in pkgutil.walk_packages([str(root)], "sso."):
        module = importlib.import_module(info.name)
        source = Path(str(module.__file__)).read_text(encoding="utf-8")
        tree = ast.parse(source)
        names: dict[str, str] = {}  # local name → qualified name
        modules: dict[str, str] = {}  # local alias → module name
        bodies: dict[str, ast.AST] = {}
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    local = alias.asname or alias.name
                    names[local] = full
                    try:
                        importlib.import_module(full)
                        modules[local] = full
                    except ImportError:
                        pass
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    modules[alias.asname or alias.name] = alias.name
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names[node.name] = f"{info.name}.{node.name}"
                bodies[names[node.name]] = node
            elif isinstance(node, ast.ClassDef):
                names[node.name] = f"{info.name}.{node.name}"
                methods = [
                    m for m in node.body if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef)
                ]
                graph[names[node.name]] = {f"{names[node.name]}.{m.name}" for m in methods}
                for m in methods:
                    bodies[f"{names[node.name]}.{m.name}"] = m
        for qualified, body in bodies.items():
            refs: set[str] = set()
            for sub in ast.walk(body):
                if isinstance(sub, ast.Name) and sub.id in names:
                    refs.add(names[sub.id])
                elif (
                    isinstance(sub, ast.Attribute)
                    and isinstance(sub.value, ast.Name)
                    and sub.value.id in modules
                ):
                    refs.add(f"{modules[sub.value.id]}.{sub.attr}")
                if (
                    isinstance(sub, ast.Attribute)
                    and sub.attr == "password_hasher"
                    and info.name != "sso.web.app_runtime"  # where it is built and closed
                ):
                    refs.add(RUNTIME_HASHER)  # runtime.password_hasher, page.runtime.…
            graph[qualified] = refs
    return graph


def _reaches_hasher(graph: dict[str, set[str]], start: str) -> bool:
    seen, todo = {start}, deque([start])
    while todo:
        name = todo.popleft()
        if name in HASHER:
            return True
        for ref in graph.get(name, ()):
            if ref not in seen:
                seen.add(ref)
                todo.append(ref)
    return False


def test_every_route_that_reaches_the_hasher_is_marked(app: FastAPI) -> None:
    graph = _call_graph()
    reaching: set[tuple[str, str]] = set()
    unmarked: list[str] = []
    for route in all_routes(app.routes):
        if not isinstance(route, APIRoute):
            continue
        endpoint = f"{route.endpoint.__module__}.{route.endpoint.__qualname__}"
        if _reaches_hasher(graph, endpoint):
            reaching.update((method, route.path) for method in route.methods)
            if not is_password_route(route):
                unmarked.append(f"{sorted(route.methods)} {route.path} ({endpoint})")
    assert reaching >= KNOWN, KNOWN - reaching
    assert unmarked == [], "routes that reach the hasher without the password line"


def _scope(app: FastAPI, method: str, path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "headers": [],
        "query_string": b"",
        "app": app,
    }


def test_password_routes_wait_in_the_line_and_others_do_not(
    app: FastAPI, runtime: AppRuntime
) -> None:
    """With every place in the line taken and no room to wait, each password form is refused
    with 503 and Retry-After at once (so it would have queued); pages that hash nothing, and a
    GET of a password form, pass by the full line. ``/account/password`` and
    ``/account/delete`` were not in the line before."""
    release = asyncio.Event()
    entered: list[str] = []

    async def held(scope: Any, receive: Any, send: Any) -> None:
        entered.append(f"{scope['method']} {scope['path']}")
        if scope["path"].startswith("/register"):  # the ones filling the line wait here
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    line = PasswordCheckAdmission(held, runtime=runtime)
    line.queue = 0  # no room to wait: a request that would queue is refused instead

    async def call(method: str, path: str) -> tuple[int, dict[str, str]]:
        answer: dict[str, Any] = {}

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}

        await line(_scope(app, method, path), receive, send)
        return answer["status"], answer["headers"]

    async def scenario() -> dict[str, tuple[int, dict[str, str]]]:
        holders = [asyncio.create_task(call("POST", "/register")) for _ in range(line.running)]
        while len(entered) < line.running:
            await asyncio.sleep(0.01)
        results = {}
        for method, path in [
            ("POST", "/interaction/abc123/login"),
            ("POST", "/register"),
            ("POST", "/password/reset"),
            ("POST", "/account/password"),
            ("POST", "/account/delete"),
            ("POST", "/admin/users/new"),
            ("GET", "/account/password"),
            ("GET", "/account"),
            ("POST", "/account/profile"),
            ("POST", "/token"),
        ]:
            results[f"{method} {path}"] = await call(method, path)
        release.set()
        await asyncio.gather(*holders)
        return results

    with ThreadPoolExecutor(1) as thread:  # a loop of its own (see tests/security/test_metrics)
        results = thread.submit(asyncio.run, scenario()).result(60)
    for form in (
        "POST /interaction/abc123/login",
        "POST /register",
        "POST /password/reset",
        "POST /account/password",
        "POST /account/delete",
        "POST /admin/users/new",
    ):
        status, headers = results[form]
        assert status == 503, form
        assert headers.get("retry-after"), form
    for other in ("GET /account/password", "GET /account", "POST /account/profile", "POST /token"):
        assert results[other][0] == 200, other
    assert line.waiting == 0 and line.inside == 0
