"""One rate limit per ERP user, shared by every worker that talks to that ERP account.

Alegra allows 150 requests a minute per user in a fixed window, and says so on every answer
(``X-Rate-Limit-Limit/Remaining/Reset``). The ceiling is the account's, not the process's, so the
window's state lives in Redis when workers run on Celery (``REDIS_URL``) and in memory in the
embedded default.

The state is a **window counter aligned with the ERP's own window** (:class:`WindowState`):

* every request takes one slot of the current window; when the window is full, everyone waits for
  its end — so several workers never have more requests in flight than the window has room for,
  and nobody spends a request on a 429;
* the window's end is learned from the ERP's answers. The answer with ``Remaining = Limit - 1`` is
  the first of a window: it started between our sending and our receiving, so its end is at most
  ``received + Reset``. Every other answer bounds the end too (``Reset`` is rounded up to whole
  seconds), and an estimate that contradicts one is replaced. Resuming at the learned end instead of
  at "now + Reset" when the window is seen spent saves up to a second per window (1.7 % of a
  60-second window; 17 % of a 6-second test window);
* the ERP's count wins when it is higher than ours (another integration using the same user), and a
  429 fills the window whatever the count said.

The same pure functions drive both backends, so threads and processes agree on every rule.

**Priorities inside the window** (:class:`RequestClass`): invoices and credit notes first; e-invoice
status checks, uploads, e-mails (and the mirror's one-record reads) next; the mirror's bulk reads
(contacts import, catalog backstop) last. The calling code says which class its requests are in
(:func:`request_class`, a context variable the limiter reads). A lower class only takes the room left
above a reserve kept for the classes before it (:data:`RESERVED_SHARE`), and the mirror's bulk reads
take nothing at all while a higher class has recently found the window full (``WindowState.busy_until``):
a seller's backlog is never slowed by an import. A bulk read that finds no spare room is not put to
sleep: :class:`SpareRoomSpent` is raised and the import resumes from its cursor later.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from typing import NamedTuple, Protocol

import httpx

from connector.errors import RateLimitDeferred

log = logging.getLogger(__name__)

DEFAULT_WINDOW_SECONDS = 60.0  # until the ERP's answers tell the window's real length
# An estimated end this much earlier than an answer allows is wrong (Reset is rounded up to a
# whole second; the slack covers the time between the ERP reading its clock and us reading ours).
_ROUNDING = 1.0
_SLACK = 0.1
_FULL = 1_000_000  # "spent" when the ERP did not say its limit


class RequestClass(IntEnum):
    """Who goes first inside an ERP user's window (lower first)."""

    DOCUMENTS = 0  # invoices and credit notes: a seller's backlog
    FOLLOWUP = 1  # e-invoice status checks, uploads, e-mails, webhook subscriptions, one-record re-reads
    MIRROR = 2  # bulk mirror reads: the contacts import, the catalog backstop


# The share of each window a class leaves to the classes before it.
RESERVED_SHARE = {RequestClass.DOCUMENTS: 0.0, RequestClass.FOLLOWUP: 0.1, RequestClass.MIRROR: 0.5}

_request_class: contextvars.ContextVar[RequestClass] = contextvars.ContextVar(
    "erp_request_class", default=RequestClass.DOCUMENTS)


@contextmanager
def request_class(klass: RequestClass) -> Iterator[None]:
    """ERP requests made inside the block are counted in ``klass`` (threads and tasks each have their own)."""
    token = _request_class.set(klass)
    try:
        yield
    finally:
        _request_class.reset(token)


def current_request_class() -> RequestClass:
    return _request_class.get()


class SpareRoomSpent(RateLimitDeferred):
    """A mirror bulk read found no spare room in the window: nothing was sent; resume later."""

    def __init__(self, retry_after: float):
        super().__init__(retry_after)
        self.user_message = "El ERP está ocupado con facturas; la copia local se completa con el espacio libre."
        self.args = (self.user_message,)


@dataclass(frozen=True)
class WindowReading:
    """What one ERP answer says about the user's rate-limit window (None: the answer did not say)."""

    limit: int | None = None
    remaining: int | None = None
    reset_seconds: float | None = None  # seconds left in the window, rounded up by the ERP
    spent: bool = False  # a 429: the window is spent, whatever the count said


# Reads an ERP answer's rate-limit headers; None when it carries none.
ReadWindow = Callable[[httpx.Response], "WindowReading | None"]


class WindowPeek(NamedTuple):
    wait: float  # seconds until a request may be sent (0.0: now)
    room: int  # requests left in the current window
    capacity: int  # requests a whole window allows


@dataclass
class WindowState:
    """One ERP user's current window, as every worker sees it. Times are the backend's clock."""

    end: float = 0.0  # when the current window ends; 0: no window running
    used: int = 0  # requests counted in it: ours, or the ERP's count when that is higher
    limit: int = 0  # the ERP's own limit per window, from its headers (0: not told)
    length: float = 0.0  # the window's length, learned from the first answer of a window (0: not yet)
    # Until when the mirror's bulk reads stay out: a higher class found the window full (a backlog).
    busy_until: float = 0.0

    def capacity(self, per_minute: float) -> int:
        """Requests allowed per window: the configured rate over the window's length, capped by the ERP's."""
        length = self.length or DEFAULT_WINDOW_SECONDS
        configured = max(1, int(per_minute * length / 60.0 + 1e-9))
        return min(configured, self.limit) if self.limit else configured

    def peek(self, now: float, per_minute: float) -> WindowPeek:
        """The window as it stands, without taking a request."""
        capacity = self.capacity(per_minute)
        if now >= self.end:
            return WindowPeek(0.0, capacity, capacity)
        room = max(0, capacity - self.used)
        return WindowPeek(0.0 if room else self.end - now, room, capacity)

    def take(self, now: float, per_minute: float, klass: RequestClass = RequestClass.DOCUMENTS) -> float:
        """Count one request when there is room for ``klass`` (returns 0.0), else the seconds to wait."""
        if now >= self.end:  # a new window starts with this request
            self.end, self.used = now + (self.length or DEFAULT_WINDOW_SECONDS), 0
        capacity = self.capacity(per_minute)
        if klass is RequestClass.MIRROR and now < self.busy_until:
            return max(self.busy_until, self.end) - now
        allowed = capacity - int(capacity * RESERVED_SHARE[klass]) if klass else capacity
        if self.used < max(allowed, 1 if klass is not RequestClass.MIRROR else 0):
            self.used += 1
            return 0.0
        if klass is not RequestClass.MIRROR:  # a backlog: keep the bulk reads out this window and the next
            self.busy_until = self.end + (self.length or DEFAULT_WINDOW_SECONDS)
        return self.end - now

    def note_backlog(self, now: float) -> None:
        """Higher-class work is waiting for room (a dispatcher held orders back): the mirror's bulk reads
        stay out for the rest of this window and the next."""
        self.busy_until = max(self.busy_until, max(self.end, now) + (self.length or DEFAULT_WINDOW_SECONDS))

    def learn(self, now: float, reading: WindowReading) -> None:
        """Correct the window with what an answer received at ``now`` says."""
        if reading.limit:
            self.limit = reading.limit
        reset = reading.reset_seconds
        if reset is not None:
            latest = now + reset  # the window cannot end later than this
            first_of_window = (reading.limit and reading.remaining is not None
                               and reading.remaining == reading.limit - 1 and not reading.spent)
            if first_of_window:
                if self.end < latest - reset / 2:  # what we counted belongs to the window that ended
                    self.used = 0
                self.end, self.length = latest, reset
            elif self.end > latest or self.end < latest - _ROUNDING - _SLACK:
                self.end = latest
        if reading.limit and reading.remaining is not None:
            self.used = max(self.used, reading.limit - reading.remaining)
        if reading.spent or reading.remaining == 0:
            self.used = max(self.used, self.limit) if self.limit else _FULL
            if reset is None and self.end <= now:  # spent, and no reset told: assume a whole window
                self.end = now + (self.length or DEFAULT_WINDOW_SECONDS)


class RateLimitBackend(Protocol):
    def take(self, key: str, per_minute: float, klass: RequestClass = RequestClass.DOCUMENTS) -> float:
        """Count one request of ``key``'s window: 0.0 when granted, else the seconds to wait."""

    def peek(self, key: str, per_minute: float) -> WindowPeek:
        """``key``'s window as it stands, counting nothing."""

    def learn(self, key: str, reading: WindowReading) -> None:
        """Correct ``key``'s window with what an answer says."""

    def note_backlog(self, key: str) -> None:
        """Higher-class work waits for ``key``'s window: keep the mirror's bulk reads out of it."""


@dataclass
class LocalBackend:
    """Windows in this process's memory (embedded default: one process, several threads)."""

    clock: Callable[[], float] = time.monotonic
    _states: dict[str, WindowState] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: str, per_minute: float, klass: RequestClass = RequestClass.DOCUMENTS) -> float:
        with self._lock:
            return self._states.setdefault(key, WindowState()).take(self.clock(), per_minute, klass)

    def peek(self, key: str, per_minute: float) -> WindowPeek:
        with self._lock:
            return self._states.setdefault(key, WindowState()).peek(self.clock(), per_minute)

    def learn(self, key: str, reading: WindowReading) -> None:
        with self._lock:
            self._states.setdefault(key, WindowState()).learn(self.clock(), reading)

    def note_backlog(self, key: str) -> None:
        with self._lock:
            self._states.setdefault(key, WindowState()).note_backlog(self.clock())

    def windows(self) -> tuple[float, list[WindowState]]:
        """Every window this process knows, and the clock they are on (``/metrics`` reads them)."""
        with self._lock:
            return self.clock(), [WindowState(**asdict(state)) for state in self._states.values()]


class RedisBackend:
    """Windows in Redis, shared by every worker process and machine, on the Redis server's clock.

    Each change is an optimistic transaction (WATCH, read, compute with :class:`WindowState`,
    MULTI/EXEC), so the rules are the same Python as the local backend's. When Redis cannot be
    reached (a restart, a failover) the process falls back to its own in-memory window for that
    call: a few requests may then meet a 429, which is safe, rather than stopping invoicing.
    """

    # After Redis fails, use the fallback this long before trying Redis again (a restart takes about
    # a second; paying a connection timeout on every request meanwhile would stall invoicing).
    retry_after_failure = 2.0

    def __init__(self, client, prefix: str = "connector:ratelimit:"):
        self.client = client
        self.prefix = prefix
        self.fallback = LocalBackend()
        self._down_until = 0.0
        self._warned_at = 0.0

    @classmethod
    def from_url(cls, url: str) -> RedisBackend:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # One quick try per call: the fallback, not a retry loop, keeps invoicing going while Redis is away.
        return cls(redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)))

    def take(self, key: str, per_minute: float, klass: RequestClass = RequestClass.DOCUMENTS) -> float:
        return self._change(key, lambda state, now: state.take(now, per_minute, klass),
                            lambda: self.fallback.take(key, per_minute, klass))

    def learn(self, key: str, reading: WindowReading) -> None:
        self._change(key, lambda state, now: state.learn(now, reading), lambda: self.fallback.learn(key, reading))

    def note_backlog(self, key: str) -> None:
        self._change(key, lambda state, now: state.note_backlog(now), lambda: self.fallback.note_backlog(key))

    def peek(self, key: str, per_minute: float) -> WindowPeek:
        import redis

        if time.monotonic() < self._down_until:
            return self.fallback.peek(key, per_minute)
        try:
            with self.client.pipeline() as pipe:
                pipe.hgetall(self._key(key))
                pipe.time()
                raw, (seconds, micros) = pipe.execute()
            return _state_from(raw).peek(seconds + micros / 1e6, per_minute)
        except redis.RedisError as exc:
            self._warn(exc)
            return self.fallback.peek(key, per_minute)

    def _change(self, key: str, change: Callable[[WindowState, float], float | None], fallback: Callable[[], float | None]):
        import redis

        if time.monotonic() < self._down_until:
            return fallback()
        name = self._key(key)
        try:
            with self.client.pipeline() as pipe:
                while True:
                    try:
                        pipe.watch(name)
                        state = _state_from(pipe.hgetall(name))
                        seconds, micros = pipe.time()
                        now = seconds + micros / 1e6
                        result = change(state, now)
                        pipe.multi()
                        pipe.hset(name, mapping={k: repr(v) for k, v in asdict(state).items()})
                        # Kept a little past the window's end: the learned length outlives one window.
                        pipe.pexpire(name, int(max(state.end - now, 0) * 1000) + 600_000)
                        pipe.execute()
                        return result
                    except redis.WatchError:
                        continue  # another worker changed the window meanwhile: read it again
        except redis.RedisError as exc:
            self._warn(exc)
            return fallback()

    def windows(self, limit: int = 10_000) -> tuple[float, list[WindowState]]:
        """Every ERP user's window in Redis (up to ``limit``), on Redis's clock (``/metrics`` reads them)."""
        names = []
        for name in self.client.scan_iter(match=f"{self.prefix}window:*", count=500):
            names.append(name)
            if len(names) >= limit:
                break
        with self.client.pipeline(transaction=False) as pipe:
            pipe.time()
            for name in names:
                pipe.hgetall(name)
            (seconds, micros), *raws = pipe.execute()
        return seconds + micros / 1e6, [_state_from(raw) for raw in raws if raw]

    def _key(self, key: str) -> str:
        return f"{self.prefix}window:{key}"

    def _warn(self, exc: Exception) -> None:
        self._down_until = time.monotonic() + self.retry_after_failure
        if time.monotonic() - self._warned_at > 30:
            self._warned_at = time.monotonic()
            log.warning("rate limit: Redis unreachable (%s); using this process's own window meanwhile", exc)


def _state_from(raw: dict) -> WindowState:
    values = {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in raw.items()}
    return WindowState(end=values.get("end", 0.0), used=int(values.get("used", 0)),
                       limit=int(values.get("limit", 0)), length=values.get("length", 0.0),
                       busy_until=values.get("busy_until", 0.0))


@dataclass
class SharedRateLimit:
    """A :class:`connector.http.RateLimitPolicy` over a shared backend, for one ERP user.

    ``max_wait``: a worker that would have to wait longer than this raises
    :class:`~connector.errors.RateLimitDeferred` instead of sleeping (Celery workers: a task asleep
    on one seller's window would hold a worker other sellers need). None: always sleep (embedded).
    """

    backend: RateLimitBackend
    key: str
    per_minute: float
    read_window: ReadWindow
    max_wait: float | None = None
    sleep: Callable[[float], None] = time.sleep
    waited: float = 0.0  # seconds this process spent waiting (benchmarks read it)
    rate_limited: int = 0  # 429 answers seen
    # The requestor need not sleep on a 429 itself: the next acquire() waits for the window.
    waits_for_window: bool = True

    def acquire(self) -> None:
        klass = current_request_class()
        while True:
            wait = self.backend.take(self.key, self.per_minute, klass)
            if wait <= 0:
                return
            if klass is RequestClass.MIRROR:  # bulk mirror reads never wait for room: they resume later
                raise SpareRoomSpent(wait)
            if self.max_wait is not None and wait > self.max_wait:
                raise RateLimitDeferred(wait - self.max_wait)
            self.waited += wait
            self.sleep(wait)

    def peek(self) -> WindowPeek:
        return self.backend.peek(self.key, self.per_minute)

    def deferral(self) -> float | None:
        """How long a worker should put its order aside (None: go on now). It comes back when at most
        ``max_wait`` of the window is left, so a worker is already waiting when the window opens."""
        if self.max_wait is None:
            return None
        wait = self.peek().wait
        return wait - self.max_wait if wait > self.max_wait else None

    def dispatchable(self) -> int:
        """Requests that may be handed to workers now: the window's room, or a whole window's when the
        current one ends within ``max_wait`` (the worker sleeps that little, then sends at once)."""
        window = self.peek()
        if window.wait <= 0:
            return window.room
        return window.capacity if self.max_wait is not None and window.wait <= self.max_wait else 0

    def note_backlog(self) -> None:
        """Orders (or credit notes) of this user are waiting for room: see :class:`RequestClass`."""
        self.backend.note_backlog(self.key)

    def observe(self, response: httpx.Response) -> None:
        reading = self.read_window(response)
        if reading is None:
            return
        self.rate_limited += reading.spent
        self.backend.learn(self.key, reading)
