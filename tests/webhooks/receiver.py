"""A webhook receiver started by the tests: a real HTTP server on 127.0.0.1 that verifies every
Standard Webhooks signature with the ``standardwebhooks`` library, as a receiver would, and
keeps what it got. ``statuses`` are answered in turn (the last one repeats); ``delay`` holds
each answer (a slow receiver)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class Receiver:
    def __init__(self, secrets: list[str] | None = None) -> None:
        self.secrets: list[str] = list(secrets or [])
        self.statuses: list[int] = [200]
        self.delay = 0.0
        self.lock = threading.Lock()
        self.received: list[tuple[dict[str, str], bytes]] = []  # every POST, verified or not
        self.bad_signatures = 0
        self.messages: dict[str, dict[str, Any]] = {}  # verified, by webhook-id
        self.deliveries = 0  # verified POSTs, duplicates included
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver.take(headers, body)
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def take(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.received.append((headers, body))
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            verified = None
            for secret in self.secrets:
                try:
                    verified = Webhook(secret).verify(body, headers)
                    break
                except WebhookVerificationError:
                    continue
            if verified is None:
                self.bad_signatures += 1
                return 401
            if 200 <= status < 300:
                self.deliveries += 1
                self.messages.setdefault(headers["webhook-id"], verified)
            return status

    def types(self) -> list[str]:
        with self.lock:
            return sorted(m["type"] for m in self.messages.values())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(condition: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def dumps(value: object) -> str:
    return json.dumps(value, sort_keys=True)
