"""A real HTTP server on a loopback port that plays the WhatsApp Business Cloud API and an SMS
gateway for the provider under test: it records every request that arrives (path, headers,
JSON body) and answers with the status the test chooses per channel (200 by default, 500 or a
closed port to make the provider fall back). Not a mock object: the provider talks HTTP to it
exactly as it would to Meta's Graph API or a gateway.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PHONE_NUMBER_ID = "109876543210"
WHATSAPP_TOKEN = "EAAG-test-whatsapp-token-0123456789"
SMS_KEY = "sms-gateway-key-for-tests"
SMS_BODY = '{"destination": "{to}", "text": "{message}", "sender": "TANGSEL"}'


@dataclass
class Arrival:
    channel: str  # "whatsapp" or "sms"
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def to(self) -> str:
        return str(self.body.get("to") or self.body.get("destination"))

    @property
    def code(self) -> str:
        if self.channel == "whatsapp":
            return str(self.body["template"]["components"][0]["parameters"][0]["text"])
        found = re.search(r"\b(\d{6})\b", str(self.body.get("text")))
        assert found, self.body
        return found.group(1)


@dataclass
class Gateways:
    url: str = ""
    arrivals: list[Arrival] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=lambda: {"whatsapp": 200, "sms": 200})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def settings(self) -> dict[str, object]:
        """The provider settings that point both channels at this server."""
        return {
            "whatsapp_api_url": f"{self.url}/v21.0",
            "whatsapp_phone_number_id": PHONE_NUMBER_ID,
            "whatsapp_access_token": WHATSAPP_TOKEN,
            "sms_gateway_url": f"{self.url}/sms/send",
            "sms_gateway_auth_header": f"X-Api-Key: {SMS_KEY}",
            "sms_gateway_body": SMS_BODY,
            "phone_gateway_timeout": 5.0,
        }

    def to(self, number: str) -> list[Arrival]:
        with self.lock:
            return [a for a in self.arrivals if a.to == number]

    def wait_code(self, number: str, after: int = 0, timeout: float = 10.0) -> Arrival:
        """The first message to ``number`` beyond the ``after`` ones already seen (codes are
        sent in a background task after the response)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(number)
            if len(found) > after:
                return found[after]
            time.sleep(0.05)
        raise AssertionError(f"no message to {number} (saw {len(self.to(number))})")

    def clear(self) -> None:
        with self.lock:
            self.arrivals.clear()
            self.status.update(whatsapp=200, sms=200)


def start() -> tuple[Gateways, ThreadingHTTPServer]:
    gateways = Gateways()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path == f"/v21.0/{PHONE_NUMBER_ID}/messages":
                channel = "whatsapp"
                allowed = self.headers.get("Authorization") == f"Bearer {WHATSAPP_TOKEN}"
            elif self.path == "/sms/send":
                channel = "sms"
                allowed = self.headers.get("X-Api-Key") == SMS_KEY
            else:
                self.send_response(404)
                self.end_headers()
                return
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"unparsed": raw.decode(errors="replace")}
            with gateways.lock:
                status = gateways.status[channel] if allowed else 401
                if status == 200:
                    gateways.arrivals.append(
                        Arrival(channel, self.path, dict(self.headers.items()), body)
                    )
            answer = (
                (
                    {"messaging_product": "whatsapp", "messages": [{"id": "wamid.test"}]}
                    if channel == "whatsapp"
                    else {"status": "queued"}
                )
                if status == 200
                else {"error": {"message": "refused", "code": status}}
            )
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    gateways.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return gateways, server
