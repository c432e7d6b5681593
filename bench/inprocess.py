"""CPU per request of the provider in-process, without HTTP: for A/B of a change, and profiles.

Builds the application with ``create_app(load_settings())`` (the same ``SSO_*`` settings as
the server, against a database left by ``bench/run.py --keep-db``),
then calls it as uvicorn would (one ASGI call per request, on a uvloop event loop) ``--count``
times per request kind, a few at a time, and prints the process CPU (user + system, every
thread) per request. uvicorn's HTTP parsing is not included; everything of the provider is.

    .venv/bin/python bench/inprocess.py --spec bench/out/<stamp>/inprocess.json discovery cc

``--spec`` is a JSON file with what the requests need (Basic headers, tokens, and the server's
``SSO_*`` settings): ``run.py --profile --keep-db`` writes it as ``inprocess.json`` next to
its results, so ``run.py --only discovery --profile --keep-db --no-readme`` makes one. Wrap the command in
``py-spy record --format raw -o …`` for a profile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from sso.app import create_app
from sso.config import load_settings

Request = tuple[str, str, list[tuple[bytes, bytes]], bytes]


def requests(spec: dict[str, Any]) -> tuple[dict[str, Callable[[int], Request]], dict[str, str]]:
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    cc = [(b"authorization", spec["cc"].encode()), *form]
    rp = [(b"authorization", spec["rp"].encode()), *form]
    bearer = [(b"authorization", f"Bearer {spec['access']}".encode())]
    refresh: list[str] = list(spec.get("refresh", []))
    state = {"refresh": refresh[-1] if refresh else ""}

    def refresh_request(_i: int) -> Request:
        body = f"grant_type=refresh_token&refresh_token={state['refresh']}".encode()
        return ("POST", "/token", rp, body)

    return {
        "discovery": lambda _i: ("GET", "/.well-known/openid-configuration", [], b""),
        "jwks": lambda _i: ("GET", "/jwks.json", [], b""),
        "cc": lambda _i: ("POST", "/token", cc, b"grant_type=client_credentials"),
        "refresh": refresh_request,
        "introspect": lambda _i: ("POST", "/introspect", rp, f"token={spec['access']}".encode()),
        "userinfo": lambda _i: ("GET", "/userinfo", bearer, b""),
    }, state


async def call(app: Any, host: str, request: Request) -> tuple[int, bytes]:
    method, path, headers, body = request
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", host.encode()),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def run(args: argparse.Namespace) -> None:
    with open(args.spec) as fh:
        spec = json.load(fh)
    os.environ.update(spec.get("env", {}))  # the server's settings, as run.py wrote them
    settings = load_settings()
    app = create_app(settings)
    host = settings.issuer_url.split("//", 1)[1].split("/", 1)[0]
    kinds, state = requests(spec)
    startup: dict[str, Any] = {"type": "lifespan.startup"}
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await events.put(startup)
    done = asyncio.Event()

    async def lifespan_send(message: MutableMapping[str, Any]) -> None:
        if message["type"].startswith("lifespan.startup"):
            done.set()

    lifespan = asyncio.create_task(
        app(
            {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, events.get, lifespan_send
        )
    )
    await done.wait()

    for name in args.kinds:
        make = kinds[name]

        async def one(i: int, make: Callable[[int], Request] = make, name: str = name) -> None:
            status, body = await call(app, host, make(i))
            if status != 200:
                raise SystemExit(f"{name}: status {status}: {body[:300]!r}")
            if name == "refresh":
                state["refresh"] = json.loads(body)["refresh_token"]

        for i in range(args.warmup):
            await one(i)
        cpu0, wall0 = os.times(), time.perf_counter()
        i = 0
        while i < args.count:
            batch = [one(i + j) for j in range(min(args.concurrency, args.count - i))]
            if name == "refresh":  # a chain: one at a time
                for coro in batch:
                    await coro
            else:
                await asyncio.gather(*batch)
            i += len(batch)
        cpu1, wall = os.times(), time.perf_counter() - wall0
        cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        print(
            f"{name:12s} {args.count} requests: {cpu / args.count * 1000:.3f} ms CPU each "
            f"({args.count / cpu:,.0f} per CPU-s; wall {wall:.1f} s)",
            flush=True,
        )
    await events.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(lifespan, 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "kinds", nargs="+", choices=["discovery", "jwks", "cc", "refresh", "introspect", "userinfo"]
    )
    parser.add_argument("--spec", required=True)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
