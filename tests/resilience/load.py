"""Background load for the fault tests: a few threads sending a mix of requests in a loop and
recording every answer (or failure) with the phase of the test it happened in."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

# A request kind: a name and a function sending it with a client (returns the response).
Kind = tuple[str, Callable[[httpx.Client], httpx.Response]]


@dataclass
class Answer:
    phase: str
    kind: str
    status: int  # 0: no response (the exception's name is in ``error``)
    retry_after: str | None = None
    body: str = ""
    error: str = ""


@dataclass
class SteadyLoad:
    base_url: str
    kinds: list[Kind]
    threads: int = 3
    timeout: float = 10.0  # a request that takes longer counts as hung (error "ReadTimeout")
    phase: str = "before"
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self, offset: int) -> None:
        with httpx.Client(
            base_url=self.base_url, timeout=self.timeout, follow_redirects=False
        ) as http:
            i = offset
            while not self._stop.is_set():
                name, send = self.kinds[i % len(self.kinds)]
                i += 1
                phase = self.phase
                try:
                    r = send(http)
                    answer = Answer(
                        phase, name, r.status_code, r.headers.get("retry-after"), r.text[:2000]
                    )
                except httpx.HTTPError as exc:
                    answer = Answer(phase, name, 0, error=type(exc).__name__)
                if self.phase != phase:  # the phase changed while it was in flight
                    answer.phase = f"{phase}->{self.phase}"
                with self._lock:
                    self.answers.append(answer)
                self._stop.wait(0.05)

    def start(self) -> SteadyLoad:
        for n in range(self.threads):
            t = threading.Thread(target=self._run, args=(n,), daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._workers:
            t.join(self.timeout + 5)

    def in_phase(self, phase: str) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.phase == phase]

    def count(self, phase: str) -> int:
        return len(self.in_phase(phase))
