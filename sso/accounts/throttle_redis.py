"""The Redis backend of the guessing protection: the same counters as
:mod:`sso.storage.throttle`, one hash per key (``c`` count, ``l`` locked until, ``w`` window
end, epoch milliseconds of our clock), changed by one Lua script so check-and-count is atomic.
Redis's own expiry only collects keys; the stored window end decides, so the clock tests use
applies here too."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sso.storage.throttle import Limit, State

PREFIX = "sso:throttle:"

_HIT = """
local h = redis.call('HMGET', KEYS[1], 'c', 'l', 'w')
local now = tonumber(ARGV[1])
local threshold = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local count = tonumber(h[1]) or 0
local locked = tonumber(h[2]) or 0
local wend = tonumber(h[3]) or 0
if locked > now then return {0, count, locked} end
if wend <= now then count = 0 end
count = count + 1
local lock = 0
if count % threshold == 0 then
  local n = #ARGV - 3
  local i = math.min(math.floor(count / threshold), n)
  lock = now + tonumber(ARGV[3 + i])
end
local base = now
if lock > 0 then base = lock end
redis.call('HSET', KEYS[1], 'c', count, 'l', lock, 'w', base + window)
redis.call('PEXPIRE', KEYS[1], base + window - now + 60000)
return {1, count, lock}
"""


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _at(ms: int) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms else None


class RedisCounters:
    def __init__(self, client: Any, prefix: str = PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self._hit = client.register_script(_HIT)

    def hit(self, key: str, limit: Limit, t: datetime) -> tuple[bool, State]:
        durations = [d * 1000 for d in limit.schedule()]
        args = [_ms(t), limit.threshold, limit.window_seconds * 1000, *durations]
        counted, count, lock = self._hit(keys=[self.prefix + key], args=args)
        return bool(counted), State(int(count), _at(int(lock)))

    def peek(self, key: str, t: datetime) -> State:
        raw = self.client.hmget(self.prefix + key, "c", "l", "w")
        count, lock, wend = (int(v) if v is not None else 0 for v in raw)
        now = _ms(t)
        return State(count if wend > now else 0, _at(lock) if lock > now else None)

    def reset(self, keys: list[str]) -> None:
        if keys:
            self.client.delete(*(self.prefix + k for k in keys))


def connect(url: str, prefix: str = PREFIX) -> RedisCounters:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    return RedisCounters(client, prefix)
