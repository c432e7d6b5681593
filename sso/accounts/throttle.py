"""Protection against guessing (Keycloak-style brute force detection), never in process memory.

Counters live in Redis when ``SSO_REDIS_URL`` is set (:mod:`sso.accounts.throttle_redis`) and
in the database otherwise (:mod:`sso.storage.throttle`). When Redis is configured but cannot be
reached, the database takes over (logged once per outage) and Redis is tried again 30 seconds
later: a Redis outage never fails a login. Keys are keyed hashes, so no email or IP address is
stored in clear.

Password logins (:meth:`Throttle.reserve_login`) count three things:

- **account + IP** (default 5): an attempt is *reserved* before the password is checked, by one
  atomic check-and-count; the attempt that reaches the threshold also sets the lock. So 50
  parallel guesses run at most 5 hash checks; the rest are refused without hashing. A
  successful login clears the account's counters.
- **account** (default 10, from any IP): the same, so a guesser spread over many addresses is
  slowed too, while one IP's failures do not lock the owner out elsewhere before this.
- **IP** (default 100 failures, only failures count): when an IP is over it, only accounts that
  already failed from that IP are refused. Many citizens behind one public address (a festival,
  a hotspot) do not lock each other out: a person who types the right password at the first
  try still gets in, and a password sprayer still gets at most one guess per account there.

A lock lasts ``throttle_lock_seconds`` (1 minute), doubling with every further threshold of
attempts up to ``throttle_max_lock_seconds`` (15 minutes): never permanent, so an attacker
cannot lock a person out for good. Counters are forgotten ``throttle_window_seconds`` after the
last attempt (or lock). Unknown accounts are counted by their normalised identifier, so they get
exactly the same answers as existing ones.

Other guessable things use :meth:`Throttle.hit` / :meth:`Throttle.retry_after` with their own
limits: client secrets at ``/token`` (client + IP), device user codes (IP), password-reset
requests (email and IP).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from sso.accounts.identifiers import normalize_login
from sso.accounts.throttle_redis import RedisCounters, connect
from sso.config import Settings
from sso.core.clock import now
from sso.core.crypto import keyed_hash
from sso.core.events import Event
from sso.storage import audit_queries
from sso.storage import throttle as store
from sso.storage import users as user_repo
from sso.storage.throttle import Limit, State

log = logging.getLogger("sso.throttle")

REDIS_RETRY_SECONDS = 30.0
# The failed attempts that count towards an account's lock (each is audited with the account
# as actor and the address it came from).
COUNTED_FAILURES = (Event.USER_LOGIN_FAILED, Event.USER_REAUTH_FAILED)
T = TypeVar("T")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0  # seconds until the lock ends (0 when not locked)


def wait_minutes(retry_after: int) -> int:
    """Whole minutes to tell a person (rounded up, at least 1)."""
    return max(1, math.ceil(retry_after / 60))


@dataclass(frozen=True)
class LoginAttempt:
    """A reserved password check: pass it back to :meth:`Throttle.login_failed` or
    :meth:`Throttle.login_succeeded`."""

    account: str
    account_ip: str
    ip: str
    verdict: Verdict


class Throttle:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session] | None = None,
        redis: RedisCounters | None = None,
    ) -> None:
        self.settings = settings
        self._secret = settings.secret_key_bytes()
        self._sessions = sessions
        self._redis = redis
        if redis is None and settings.redis_url:
            self._redis = connect(settings.redis_url)
        self._redis_down_until = 0.0
        self._redis_failed = False

    # ------------------------------------------------------------------ limits
    def limit(self, threshold: int) -> Limit:
        s = self.settings
        return Limit(
            threshold,
            s.throttle_lock_seconds,
            s.throttle_max_lock_seconds,
            s.throttle_window_seconds,
        )

    def key(self, kind: str, *parts: str) -> str:
        return keyed_hash(self._secret, "\x1f".join(parts), purpose="throttle:" + kind)

    # ------------------------------------------------------------------ accounts' counters
    def account_counters(
        self, session: Session, user_ids: Sequence[str] | None = None
    ) -> dict[str, list[str]]:
        """``{user id: keys of its password-guessing counters}``: the account-wide one and one
        per address (those keys hold the IP, so the addresses come from the audited failures;
        "unknown" for a login without one). The counters hold keyed hashes and cannot be
        listed by account, but a live counter (locked or not) had a counted failure within
        the window or the longest lock: every account with one since then is listed, or the
        ``user_ids`` asked for (each listed, even without a failure). Used by the dashboard's
        count, the user list's "locked" filter, the user page and the unlock action."""
        s = self.settings
        since = now() - timedelta(
            seconds=max(s.throttle_window_seconds, s.throttle_max_lock_seconds) + 60
        )
        found = audit_queries.recent_actors(
            session, COUNTED_FAILURES, since, limit=5000, actor_ids=user_ids
        )
        if user_ids is not None:
            found = {uid: found.get(uid, set()) for uid in user_ids}
        out: dict[str, list[str]] = {}
        for user_id, ips in found.items():
            account = f"user:{user_id}"
            keys = [self.key("acct", account), self.key("acct_ip", account, "unknown")]
            keys += [self.key("acct_ip", account, ip) for ip in sorted(ips) if ip != "unknown"]
            out[user_id] = keys
        return out

    def locked_accounts(self, session: Session, user_ids: Sequence[str] | None = None) -> list[str]:
        """The accounts (of ``user_ids``, or all) whose password sign-in is refused right now:
        one of their counters (:meth:`account_counters`) is locked."""
        return sorted(
            user_id
            for user_id, keys in self.account_counters(session, user_ids).items()
            if any(self.retry_after(key, session) > 0 for key in keys)
        )

    # ------------------------------------------------------------------ backend dispatch
    def _run(
        self,
        session: Session | None,
        on_redis: Callable[[RedisCounters], T],
        on_db: Callable[[Session], T],
    ) -> T:
        if self._redis is not None and time.monotonic() >= self._redis_down_until:
            import redis

            try:
                result = on_redis(self._redis)
            except redis.RedisError as exc:
                self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
                if not self._redis_failed:  # once per outage, not once per request
                    self._redis_failed = True
                    log.warning(
                        "Redis unreachable (%s): counting failures in the database",
                        type(exc).__name__,
                    )
            else:
                if self._redis_failed:
                    self._redis_failed = False
                    log.warning("Redis reachable again: counting failures in Redis")
                return result
        if session is not None:  # the caller's transaction (committed by the caller)
            return on_db(session)
        if self._sessions is None:
            raise RuntimeError("database counters need a session or a session factory")
        with self._sessions() as own:
            try:
                result = on_db(own)
                own.commit()
            except BaseException:
                own.rollback()
                raise
            return result

    def hit(self, key: str, limit: Limit, session: Session | None = None) -> Verdict:
        """Count one attempt; refused (not counted) while ``key`` is locked."""
        t = now()
        counted, state = self._run(
            session, lambda r: r.hit(key, limit, t), lambda s: store.hit(s, key, limit, t)
        )
        return Verdict(counted, 0 if counted else self.seconds_left(state))

    def peek(self, key: str, session: Session | None = None) -> State:
        t = now()
        return self._run(session, lambda r: r.peek(key, t), lambda s: store.peek(s, key, t))

    def retry_after(self, key: str, session: Session | None = None) -> int:
        return self.seconds_left(self.peek(key, session))

    def reset(self, keys: list[str], session: Session | None = None) -> None:
        def on_redis(r: RedisCounters) -> None:
            r.reset(keys)

        def on_db(s: Session) -> None:
            store.reset(s, keys)

        self._run(session, on_redis, on_db)

    @staticmethod
    def seconds_left(state: State) -> int:
        if state.locked_until is None:
            return 0
        return max(1, math.ceil((state.locked_until - now()).total_seconds()))

    # ------------------------------------------------------------------ password logins
    def reserve_login(self, account: str, ip: str | None) -> LoginAttempt:
        """Reserve one password check for ``account`` (see :func:`account_ref`) from ``ip``.

        Call it outside any open transaction of the caller (it commits its own)."""
        s = self.settings
        where = ip or "unknown"
        attempt = LoginAttempt(
            account=self.key("acct", account),
            account_ip=self.key("acct_ip", account, where),
            ip=self.key("ip", where),
            verdict=Verdict(True),
        )
        ip_wait = self.retry_after(attempt.ip)
        if ip_wait and self.peek(attempt.account_ip).count > 0:
            return _with(attempt, Verdict(False, ip_wait))
        wait = max(self.retry_after(attempt.account), self.retry_after(attempt.account_ip))
        if wait:  # the longer of the two locks is the one the person waits for
            return _with(attempt, Verdict(False, wait))
        verdict = self.hit(attempt.account_ip, self.limit(s.login_max_failures_account_ip))
        if verdict.allowed:
            verdict = self.hit(attempt.account, self.limit(s.login_max_failures_account))
        return _with(attempt, verdict)

    def login_failed(self, attempt: LoginAttempt) -> None:
        """The reserved check failed: it already counts for the account; count it for the IP."""
        self.hit(attempt.ip, self.limit(self.settings.login_max_failures_ip))

    def login_succeeded(self, attempt: LoginAttempt) -> None:
        self.reset([attempt.account, attempt.account_ip])


def _with(attempt: LoginAttempt, verdict: Verdict) -> LoginAttempt:
    return LoginAttempt(attempt.account, attempt.account_ip, attempt.ip, verdict)


def account_ref(session: Session, identifier: str) -> str:
    """What a login attempt is counted against: the account's id when the identifier names one
    (so username, email and NIP share a counter), else the normalised identifier."""
    normalized = normalize_login(identifier)
    user = user_repo.find_by_login(session, normalized) if normalized else None
    return f"user:{user.id}" if user is not None else f"login:{normalized}"
