"""One rate limit per ERP user, shared by every worker that talks to that ERP account.

Alegra allows 150 requests a minute per user; the ceiling is the account's, not the process's, so
the bucket lives in Redis when workers run on Celery (``REDIS_URL``) and in memory in the embedded
default. Two mechanisms work together:

* a **token bucket** paces requests at the documented rate, so a backlog runs close to the limit
  without tripping it;
* a **shared pause**: when the ERP says the window is spent (``X-Rate-Limit-Remaining: 0`` or a
  429 with ``X-Rate-Limit-Reset``), every worker waits for the window instead of hammering.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import httpx

# Returns how long to pause when a response says the window is spent, else None.
WindowSignal = Callable[[httpx.Response], "float | None"]


class RateLimitBackend(Protocol):
    def take(self, key: str, rate_per_second: float, capacity: float) -> float:
        """Take one token; 0.0 when granted, else the seconds until one is available."""

    def pause(self, key: str, seconds: float) -> None:
        """Nobody may send for ``key`` during the next ``seconds``."""

    def paused_for(self, key: str) -> float:
        """Seconds left in the current pause of ``key`` (0.0 when none)."""


@dataclass
class LocalBackend:
    """In-process buckets (embedded default: one process, several threads)."""

    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (tokens, at)
    _pauses: dict[str, float] = field(default_factory=dict)  # key -> until
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: str, rate_per_second: float, capacity: float) -> float:
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(key, (capacity, now))
            tokens = min(capacity, tokens + (now - at) * rate_per_second)
            if tokens >= 1 - _EPSILON:  # float refill lands a hair under 1 after an exact wait
                self._buckets[key] = (max(0.0, tokens - 1), now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / rate_per_second

    def pause(self, key: str, seconds: float) -> None:
        with self._lock:
            self._pauses[key] = max(self._pauses.get(key, 0.0), self.clock() + seconds)

    def paused_for(self, key: str) -> float:
        with self._lock:
            return max(0.0, self._pauses.get(key, 0.0) - self.clock())


_EPSILON = 1e-9

# Atomic refill-and-take on the Redis server's clock, so workers on different machines agree.
_TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate, capacity = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil then tokens, at = capacity, t end
tokens = math.min(capacity, tokens + (t - at) * rate)
local wait = 0
if tokens >= 1 - 1e-9 then tokens = math.max(0, tokens - 1) else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(t))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 60000)
return tostring(wait)
"""


class RedisBackend:
    """Buckets and pauses in Redis, shared by every worker process and machine."""

    def __init__(self, client, prefix: str = "connector:ratelimit:"):
        self.client = client
        self.prefix = prefix
        self._take = client.register_script(_TAKE)

    @classmethod
    def from_url(cls, url: str) -> RedisBackend:
        import redis

        return cls(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5))

    def take(self, key: str, rate_per_second: float, capacity: float) -> float:
        return float(self._take(keys=[f"{self.prefix}bucket:{key}"], args=[rate_per_second, capacity]))

    def pause(self, key: str, seconds: float) -> None:
        milliseconds = max(1, int(seconds * 1000))
        pause_key = f"{self.prefix}pause:{key}"
        # Keep the longer of the current and the new pause.
        current = self.client.pttl(pause_key)
        if current is None or current < milliseconds:
            self.client.set(pause_key, "1", px=milliseconds)

    def paused_for(self, key: str) -> float:
        ttl = self.client.pttl(f"{self.prefix}pause:{key}")
        return ttl / 1000 if ttl and ttl > 0 else 0.0


@dataclass
class SharedRateLimit:
    """A :class:`connector.http.RateLimitPolicy` over a shared backend, for one ERP user."""

    backend: RateLimitBackend
    key: str
    per_minute: float
    window_signal: WindowSignal
    # A whole window may be spent at once (a small batch goes out at full speed); a backlog is then
    # paced at the documented rate, and the shared pause catches the ERP's own window.
    burst: float | None = None
    sleep: Callable[[float], None] = time.sleep
    waited: float = 0.0  # seconds this process spent waiting (benchmarks read it)
    rate_limited: int = 0  # responses that said the window was spent

    def acquire(self) -> None:
        while True:
            paused = self.backend.paused_for(self.key)
            if paused > 0:
                self._wait(paused)
                continue
            wait = self.backend.take(self.key, self.per_minute / 60.0, self.burst or self.per_minute)
            if wait <= 0:
                return
            self._wait(wait)

    def observe(self, response: httpx.Response) -> None:
        pause = self.window_signal(response)
        if pause is not None and pause > 0:
            self.rate_limited += response.status_code == 429
            self.backend.pause(self.key, pause)

    def _wait(self, seconds: float) -> None:
        self.waited += seconds
        self.sleep(seconds)
