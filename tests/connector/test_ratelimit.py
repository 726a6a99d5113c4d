"""The ERP user's rate limit is shared: by threads (embedded) and by processes (Redis)."""

import uuid

import httpx
import pytest
import redis

from connector.ratelimit import LocalBackend, RedisBackend, SharedRateLimit
from erp.alegra.client import window_signal
from tests.conftest import REDIS_URL


class FakeTime:
    def __init__(self):
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def response(status=200, **headers) -> httpx.Response:
    return httpx.Response(status, headers={k.replace("_", "-"): str(v) for k, v in headers.items()})


def test_bucket_paces_a_backlog_at_the_documented_rate_after_the_burst():
    time = FakeTime()
    limit = SharedRateLimit(LocalBackend(clock=time.clock), "alegra:u", 150, window_signal, burst=10,
                            sleep=time.sleep)
    for _ in range(160):
        limit.acquire()
    # 10 at once, then 150 more at 2.5 per second: 60 seconds.
    assert time.now - 1000.0 == pytest.approx(60.0, abs=0.01)


def test_a_spent_window_pauses_every_worker_of_that_user_until_reset():
    time = FakeTime()
    backend = LocalBackend(clock=time.clock)
    worker_a = SharedRateLimit(backend, "alegra:u", 150, window_signal, sleep=time.sleep)
    worker_b = SharedRateLimit(backend, "alegra:u", 150, window_signal, sleep=time.sleep)
    other_user = SharedRateLimit(backend, "alegra:v", 150, window_signal, sleep=time.sleep)
    worker_a.observe(response(200, X_Rate_Limit_Remaining=0, X_Rate_Limit_Reset=42))
    other_user.acquire()
    assert time.slept == []  # another user's window is not ours
    worker_b.acquire()
    assert time.slept == [pytest.approx(42.0)]


def test_a_429_pauses_for_the_reset_and_is_counted():
    time = FakeTime()
    limit = SharedRateLimit(LocalBackend(clock=time.clock), "k", 150, window_signal, sleep=time.sleep)
    limit.observe(response(429, X_Rate_Limit_Reset=17))
    limit.acquire()
    assert limit.rate_limited == 1 and time.slept == [pytest.approx(17.0)]


@pytest.mark.parametrize(("status", "headers", "pause"), [
    (200, {"X_Rate_Limit_Remaining": 3, "X_Rate_Limit_Reset": 9}, None),
    (200, {"X_Rate_Limit_Remaining": 0, "X_Rate_Limit_Reset": 9}, 9.0),
    (429, {"X_Rate_Limit_Reset": 5}, 5.0),
    (429, {}, 60.0),
    (200, {}, None),
])
def test_alegra_window_signal(status, headers, pause):
    assert window_signal(response(status, **headers)) == pause


@pytest.mark.redis
def test_redis_bucket_is_shared_between_processes():
    client = redis.Redis.from_url(REDIS_URL)
    key = f"test:{uuid.uuid4().hex}"
    first, second = RedisBackend(client), RedisBackend(client)  # two workers, one Redis
    granted = sum(backend.take(key, 1.0, 5) == 0 for backend in (first, second) for _ in range(5))
    assert granted == 5  # the five tokens of the burst, shared
    assert 0 < first.take(key, 1.0, 5) <= 1.0
    second.pause(key, 30)
    assert 29 < first.paused_for(key) <= 30
    first.pause(key, 1)  # a shorter pause never shortens the current one
    assert first.paused_for(key) > 29
