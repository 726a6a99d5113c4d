"""The ERP user's rate limit: one window counter shared by threads (embedded) and processes (Redis),
aligned with the ERP's own fixed window from its answers."""

import heapq
import math
import uuid

import httpx
import pytest
import redis

from connector.errors import RateLimitDeferred
from connector.ratelimit import LocalBackend, RedisBackend, SharedRateLimit, WindowReading, WindowState
from erp.alegra.client import read_window
from tests.conftest import REDIS_URL


class FakeTime:
    def __init__(self, now: float = 1000.0):
        self.now = now
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class FixedWindowERP:
    """Alegra's limit as the sandbox enforces it: a fixed window that starts with the first request
    after the previous one ended; ``Reset`` is the seconds left, rounded up."""

    def __init__(self, limit: int, window: float):
        self.limit, self.window = limit, window
        self.start, self.count = -math.inf, 0
        self.accepted: list[float] = []
        self.refused = 0

    def answer(self, at: float) -> httpx.Response:
        if at >= self.start + self.window:
            self.start, self.count = at, 0
        self.count += 1
        reset = math.ceil(self.start + self.window - at)
        headers = {"X-Rate-Limit-Limit": str(self.limit), "X-Rate-Limit-Remaining": str(max(0, self.limit - self.count)),
                   "X-Rate-Limit-Reset": str(reset)}
        if self.count > self.limit:
            self.refused += 1
            return httpx.Response(429, headers=headers)
        self.accepted.append(at)
        return httpx.Response(200, headers=headers)


def response(status=200, **headers) -> httpx.Response:
    return httpx.Response(status, headers={k.replace("_", "-"): str(v) for k, v in headers.items()})


def simulate(workers: int, requests: int, *, limit: int, window: float, latency: float,
             per_minute: float | None = None) -> tuple[FixedWindowERP, float]:
    """``workers`` workers sharing one limiter send ``requests`` requests, each answered ``latency``
    seconds after it leaves (the ERP counts it halfway). Returns the ERP and when the last answer came."""
    time = FakeTime(0.0)
    backend = LocalBackend(clock=time.clock)
    erp = FixedWindowERP(limit, window)
    limiter = SharedRateLimit(backend, "alegra:u", per_minute or limit * 60 / window, read_window, max_wait=0.0)
    events: list[tuple[float, int, str]] = [(0.0, w, "ready") for w in range(workers)]
    sent = finished = 0
    last = 0.0
    pending: dict[int, httpx.Response] = {}
    while events:
        at, worker, what = heapq.heappop(events)
        time.now = at
        if what == "answered":
            limiter.observe(pending.pop(worker))
            finished += 1
            last = at
            what = "ready"
        if what == "ready" and sent < requests:
            try:
                limiter.acquire()
            except RateLimitDeferred as deferred:  # sleeping is simulated: come back when told
                heapq.heappush(events, (at + deferred.retry_after, worker, "ready"))
                continue
            sent += 1
            pending[worker] = erp.answer(at + latency / 2)
            if pending[worker].status_code == 429:
                sent -= 1  # refused: it must be sent again
            heapq.heappush(events, (at + latency, worker, "answered"))
    return erp, last


def test_one_worker_spends_each_window_then_waits_for_its_end():
    time = FakeTime()
    limiter = SharedRateLimit(LocalBackend(clock=time.clock), "alegra:u", 150, read_window, sleep=time.sleep)
    for _ in range(150):
        limiter.acquire()
    assert time.slept == []  # a whole window's quota at once
    limiter.acquire()
    assert time.slept == [pytest.approx(60.0)]  # the 151st waits for the (assumed) minute to pass


def test_the_window_end_is_learned_from_the_first_answer_not_from_the_rounded_reset():
    # Reset is whole seconds rounded up: pausing "now + Reset" when Remaining hits 0 resumes up to a
    # second late every window. The first answer of a window pins its end instead.
    erp, last = simulate(1, 15 * 40, limit=15, window=6.0, latency=0.004)
    assert erp.refused == 0
    starts = [erp.accepted[i] for i in range(0, len(erp.accepted), 15)]
    late = [b - a - 6.0 for a, b in zip(starts, starts[1:], strict=False)]
    assert max(late) < 0.01  # each window starts within the latency of the previous one's end
    assert len(erp.accepted) / last * 6.0 / 15 > 0.99  # > 99 % of the limit, on a 6-second window


def test_a_new_window_the_erp_opened_before_we_expected_starts_empty():
    # Our estimate of the window's end was late (another integration opened the ERP's window, or a
    # clock-aligned window): its first answer says one request is used, not the old window's count.
    state = WindowState(end=1045.0, used=150, limit=150, length=60.0)
    state.learn(1030.0, WindowReading(limit=150, remaining=149, reset_seconds=60))
    assert state.end == 1090.0 and state.used == 1
    assert state.peek(1030.0, 150).room == 149
    # The first answer of the window we opened ourselves keeps what we counted in it meanwhile.
    state = WindowState(end=1059.5, used=12, limit=150, length=60.0)
    state.learn(1000.0, WindowReading(limit=150, remaining=149, reset_seconds=60))
    assert state.used == 12


@pytest.mark.parametrize("workers", [2, 3, 8])
def test_several_workers_never_have_more_in_flight_than_the_window_has_room_for(workers):
    erp, last = simulate(workers, 15 * 30, limit=15, window=6.0, latency=0.2)
    assert erp.refused == 0  # no request is wasted on a 429
    assert len(erp.accepted) == 15 * 30
    assert len(erp.accepted) / last * 6.0 / 15 > 0.95


def test_a_configured_rate_below_the_erps_leaves_room_for_other_integrations():
    erp, _ = simulate(2, 200, limit=150, window=60.0, latency=0.1, per_minute=100)
    per_window = [sum(1 for t in erp.accepted if w * 60 <= t - erp.accepted[0] < (w + 1) * 60) for w in range(3)]
    assert max(per_window) <= 100 and erp.refused == 0


def test_another_integration_spending_the_same_user_is_counted_from_the_erps_answers():
    time = FakeTime(0.0)
    backend = LocalBackend(clock=time.clock)
    limiter = SharedRateLimit(backend, "alegra:u", 150, read_window, sleep=time.sleep)
    limiter.acquire()
    limiter.observe(response(X_Rate_Limit_Limit=150, X_Rate_Limit_Remaining=10, X_Rate_Limit_Reset=30))
    assert limiter.peek()[:2] == (0.0, 10)
    for _ in range(10):
        limiter.acquire()
    assert time.slept == []
    limiter.acquire()
    assert time.slept == [pytest.approx(30.0)]


def test_a_spent_window_holds_every_worker_of_that_user_and_no_other():
    time = FakeTime()
    backend = LocalBackend(clock=time.clock)
    worker_a = SharedRateLimit(backend, "alegra:u", 150, read_window, sleep=time.sleep)
    worker_b = SharedRateLimit(backend, "alegra:u", 150, read_window, sleep=time.sleep)
    other_user = SharedRateLimit(backend, "alegra:v", 150, read_window, sleep=time.sleep)
    worker_a.acquire()
    worker_a.observe(response(200, X_Rate_Limit_Limit=150, X_Rate_Limit_Remaining=0, X_Rate_Limit_Reset=42))
    other_user.acquire()
    assert time.slept == []
    worker_b.acquire()
    assert time.slept == [pytest.approx(42.0)]


def test_a_429_without_headers_waits_a_whole_window_and_is_counted():
    time = FakeTime()
    limiter = SharedRateLimit(LocalBackend(clock=time.clock), "k", 150, read_window, sleep=time.sleep)
    limiter.observe(response(429))
    limiter.acquire()
    assert limiter.rate_limited == 1 and time.slept == [pytest.approx(60.0)]


def test_a_worker_that_would_sleep_long_is_told_to_come_back_instead():
    time = FakeTime()
    limiter = SharedRateLimit(LocalBackend(clock=time.clock), "k", 150, read_window, max_wait=2.0, sleep=time.sleep)
    limiter.acquire()
    limiter.observe(response(200, X_Rate_Limit_Limit=150, X_Rate_Limit_Remaining=0, X_Rate_Limit_Reset=25))
    assert limiter.deferral() == pytest.approx(23.0)  # back when two seconds of the window are left
    assert limiter.dispatchable() == 0
    with pytest.raises(RateLimitDeferred) as deferred:
        limiter.acquire()
    assert deferred.value.retry_after == pytest.approx(23.0) and time.slept == []
    time.now += 23.5
    assert limiter.deferral() is None  # 1.5 seconds left: short enough to sleep
    assert limiter.dispatchable() == 150  # hand out a whole window: the workers wait for it to open
    limiter.acquire()
    assert time.slept == [pytest.approx(1.5)]


def test_an_estimate_an_answer_contradicts_is_replaced():
    state = WindowState()
    state.take(0.0, 150)  # provisional: a minute from now
    state.learn(0.5, WindowReading(limit=150, remaining=100, reset_seconds=4))
    assert state.end == 4.5 and state.used == 50  # the ERP's window ends sooner; its count is higher
    state.learn(0.6, WindowReading(limit=150, remaining=99, reset_seconds=40))
    assert state.end == 40.6  # our estimate was too early for this answer


@pytest.mark.redis
def test_redis_windows_are_shared_between_processes():
    client = redis.Redis.from_url(REDIS_URL)
    key = f"test:{uuid.uuid4().hex}"
    first, second = RedisBackend(client), RedisBackend(client)  # two workers, one Redis
    granted = sum(backend.take(key, 5) == 0 for backend in (first, second) for _ in range(5))
    assert granted == 5  # five per (assumed) minute, shared
    assert 59 < first.take(key, 5) <= 60
    second.learn(key, WindowReading(limit=5, remaining=0, reset_seconds=30))
    wait, room, _capacity = first.peek(key, 5)
    assert 29 < wait <= 30 and room == 0
    client.delete(f"connector:ratelimit:window:{key}")


def test_an_unreachable_redis_falls_back_to_the_process_window():
    unreachable = RedisBackend.from_url("redis://127.0.0.1:1/0")  # nothing listens on port 1
    assert unreachable.take("k", 2) == 0.0
    assert unreachable.take("k", 2) == 0.0
    assert unreachable.take("k", 2) > 0  # the fallback still counts
    unreachable.learn("k", WindowReading(limit=2, remaining=0, reset_seconds=5))
    assert 0 < unreachable.peek("k", 2)[0] <= 5
    unreachable._down_until = 0.0  # the next call tries Redis again, and falls back again
    assert unreachable.peek("k", 2)[1] == 0
