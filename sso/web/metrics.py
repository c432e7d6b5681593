"""Prometheus metrics of one provider process (or of all workers of one server).

What is counted, and where:

- ``sso_http_requests_total{method,route,status}`` and ``sso_http_request_duration_seconds``
  (histogram) per *route template* (``/interaction/{interaction_id}``, never the raw path, so
  codes and ids do not become label values); requests no route matched are ``unmatched``.
  Recorded by the request middleware (:mod:`sso.web.middleware`).
- ``sso_rate_limited_total{route}``: responses with status 429 (rate limits, guessing
  protection at login, /token, device codes, password reset), from the same middleware.
- ``sso_logins_total``, ``sso_login_failures_total{reason}`` and
  ``sso_tokens_issued_total{grant_type}``: read from the audit events the services record
  (``user.login``, ``user.login_failed``, ``token.issued``), counted when their transaction
  *commits* (a subscriber of :mod:`sso.storage.audit_feed` on the runtime's engine), so a
  rolled-back attempt is not counted and services never import Prometheus.
- ``sso_password_checks_admitted`` and ``sso_password_check_queue_depth``: the password-check
  line of :class:`sso.web.load_shedding.PasswordCheckAdmission` (requests let in or waiting,
  and those waiting), set by the line whenever it changes.

Several worker processes (``sso serve --workers N``) each count their own requests, and a
scrape reaches one of them: per-process numbers would jump around. With ``SSO_METRICS_DIR`` set
(``sso serve`` sets it to ``var/metrics`` when it starts more than one worker) every process
writes its values to memory-mapped files there (prometheus-client's multiprocess mode) and
/metrics adds them up: counters and histograms sum over all processes that ever ran since the
server started (the directory is emptied at start), the gauges sum over live processes only.
"""

from __future__ import annotations

import glob
import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlalchemy import Engine

from sso.config import Settings
from sso.core.events import Event
from sso.storage import audit_feed

CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED = "unmatched"
_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db$")

# Label values are bounded: anything else is counted as "other".
LOGIN_FAILURE_REASONS = frozenset(
    {"unknown_user", "bad_password", "disabled", "unverified", "throttled", "locked"}
)
GRANT_TYPES = frozenset(
    {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
        "password",
    }
)


def _bounded(value: object, allowed: frozenset[str]) -> str:
    return value if isinstance(value, str) and value in allowed else "other"


class Metrics:
    """The process's metric objects and the registry /metrics renders."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.registry = CollectorRegistry(auto_describe=True)
        if directory is not None:
            _enable_multiprocess(directory)
            MultiProcessCollector(self.registry, path=str(directory))  # type: ignore[no-untyped-call]
            owner: CollectorRegistry | None = None  # the files are the registry
        else:
            owner = self.registry
        self.requests = Counter(
            "sso_http_requests",
            "HTTP requests by route template, method and status code.",
            ["method", "route", "status"],
            registry=owner,
        )
        self.latency = Histogram(
            "sso_http_request_duration_seconds",
            "Time from request start to the end of the response, by route template.",
            ["method", "route"],
            registry=owner,
        )
        self.rate_limited = Counter(
            "sso_rate_limited",
            "Requests refused with 429 Too Many Requests, by route template.",
            ["route"],
            registry=owner,
        )
        self.logins = Counter("sso_logins", "Successful logins.", registry=owner)
        self.login_failures = Counter(
            "sso_login_failures", "Failed logins by reason.", ["reason"], registry=owner
        )
        self.tokens = Counter(
            "sso_tokens_issued", "Token responses by grant type.", ["grant_type"], registry=owner
        )
        self.password_admitted = Gauge(
            "sso_password_checks_admitted",
            "Requests that will check a password: running, or waiting in line for their turn.",
            registry=owner,
            multiprocess_mode="livesum",
        )
        self.password_queue = Gauge(
            "sso_password_check_queue_depth",
            "Requests waiting in line for their turn to check a password.",
            registry=owner,
            multiprocess_mode="livesum",
        )
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    # ------------------------------------------------------------------ recording
    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        # The labelled children are looked up once per (method, route, status): labels() cost
        # ~25 µs per request, a sixth of a JWKS request (bench/README.md, issue 17). Route
        # templates and status codes are few, so the dict stays as small as the label sets.
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if status == 429:
            self.rate_limited.labels(route).inc()

    def observe_password_line(self, admitted: int, waiting: int) -> None:
        """The password-check line of :class:`sso.web.load_shedding.PasswordCheckAdmission`:
        requests let in or waiting, and those waiting."""
        self.password_admitted.set(admitted)
        self.password_queue.set(waiting)

    def count_audit_events(self, found: Iterable[tuple[str, dict[str, Any]]]) -> None:
        for name, details in found:
            if name == Event.USER_LOGIN:
                self.logins.inc()
            elif name == Event.USER_LOGIN_FAILED:
                self.login_failures.labels(
                    _bounded(details.get("reason"), LOGIN_FAILURE_REASONS)
                ).inc()
            elif name == Event.TOKEN_ISSUED:
                self.tokens.labels(_bounded(details.get("grant_type"), GRANT_TYPES)).inc()

    # ------------------------------------------------------------------ exposition
    def render(self) -> bytes:
        if self.directory is not None:
            forget_dead_processes(self.directory)
        return generate_latest(self.registry)


# ---------------------------------------------------------------------- multiprocess mode

_multiprocess_lock = threading.Lock()
_multiprocess_by_directory: dict[tuple[str, int], Metrics] = {}


def _enable_multiprocess(directory: Path) -> None:
    """Make every metric value of this process live in ``directory`` (before any is made)."""
    directory.mkdir(parents=True, exist_ok=True)
    if os.environ.get(_MULTIPROC_ENV) != str(directory):
        os.environ[_MULTIPROC_ENV] = str(directory)  # where prometheus-client puts the files
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forget_dead_processes(directory: Path) -> None:
    """Drop the live gauges of worker processes that are gone (their counters stay)."""
    for path in glob.glob(os.path.join(directory, "gauge_live*.db")):
        found = _LIVE_GAUGE_FILE.search(os.path.basename(path))
        if found and not _alive(int(found.group(1))):
            mark_process_dead(int(found.group(1)), str(directory))  # type: ignore[no-untyped-call]


def prepare_directory(directory: Path) -> None:
    """Create ``directory`` and empty it: run once by the server, before workers start."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.db"):
        path.unlink(missing_ok=True)


def prepare_for_workers(settings: Settings, workers: int) -> Path | None:
    """Called by ``sso serve`` before it starts the workers: with more than one (or with
    ``SSO_METRICS_DIR`` set) the directory is emptied and handed to the workers through the
    environment they inherit. Returns the directory used, if any."""
    directory = settings.metrics_dir
    if directory is None and workers > 1:
        directory = settings.var_dir / "metrics"
    if directory is None:
        return None
    prepare_directory(directory)
    os.environ["SSO_METRICS_DIR"] = str(directory)
    return directory


def build_metrics(settings: Settings, engine: Engine) -> Metrics:
    """The Metrics of the application's runtime (``AppRuntime.metrics``, built once by the
    composition root), counting the audit events committed through ``engine`` from now on.

    In multiprocess mode there is one Metrics per process and directory: two would overwrite
    each other's values in the shared files."""
    with _multiprocess_lock:
        directory = settings.metrics_dir
        if directory is None:
            made = Metrics()
        else:
            key = (str(directory), os.getpid())
            made = _multiprocess_by_directory.get(key) or Metrics(directory)
            _multiprocess_by_directory[key] = made
    audit_feed.subscribe(engine, made.count_audit_events)
    return made
