"""Every answer and failure the Requestor sees is counted by API and outcome (429s too), in this
process and, with Redis, in one place for every worker."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import httpx
import pytest
import redis

from connector.errors import ConnectorError
from connector.http import Requestor
from connector.metrics import (
    HttpCallCollector,
    HttpCallCounts,
    MarkerScanCollector,
    RateWindowCollector,
    count_marker_scan,
    http_calls,
    outcome_of,
)
from connector.ratelimit import LocalBackend, RedisBackend, WindowReading
from tests.conftest import REDIS_URL


@pytest.mark.parametrize(("status", "outcome"), [(200, "ok"), (201, "ok"), (302, "redirect"), (404, "client_error"),
                                                 (429, "rate_limited"), (500, "server_error"),
                                                 (503, "server_error"), (None, "no_response")])
def test_outcome_of_a_status(status, outcome):
    assert outcome_of(status) == outcome


def test_the_requestor_counts_every_answer_and_failure():
    api = f"API {uuid.uuid4().hex[:6]}"
    answers = iter([httpx.Response(200, json={}), httpx.Response(429), httpx.Response(503), httpx.Response(404)])

    def handler(request):
        if request.url.path == "/down":
            raise httpx.ConnectError("refused", request=request)
        return next(answers)

    requestor = Requestor(api, "https://api.example", transport=httpx.MockTransport(handler), max_attempts=1,
                          sleep=lambda _s: None)
    requestor.get("/ok")
    for path in ("/limited", "/unavailable", "/missing", "/down"):
        with pytest.raises(ConnectorError):
            requestor.get(path)
    counted = {outcome: n for (name, outcome), n in http_calls.snapshot().items() if name == api}
    assert counted == {"ok": 1, "rate_limited": 1, "server_error": 1, "client_error": 1, "no_response": 1}
    families = {f.name: f for f in HttpCallCollector().collect()}
    limited = {s.labels["api"]: s.value for s in families["connector_http_rate_limited"].samples
               if s.name.endswith("_total")}
    assert limited[api] == 1


@pytest.mark.redis
def test_with_redis_every_process_counts_in_one_place():
    key = f"connector:test-metrics:{uuid.uuid4().hex}"
    worker_a, worker_b = HttpCallCounts(key), HttpCallCounts(key)
    worker_a.share_through(REDIS_URL)
    worker_b.share_through(REDIS_URL)
    try:
        worker_a.add("Alegra", "ok")
        worker_b.add("Alegra", "ok")
        worker_b.add("Alegra", "rate_limited")
        assert worker_a.snapshot() == {("Alegra", "ok"): 2, ("Alegra", "rate_limited"): 1}
    finally:
        redis.Redis.from_url(REDIS_URL).delete(key)


def test_redis_away_never_breaks_a_call():
    counts = HttpCallCounts()
    counts.share_through("redis://127.0.0.1:1/0")
    counts.add("Alegra", "ok")  # the failure pauses Redis; the count stays local
    counts.add("Alegra", "ok")
    assert counts.snapshot() == {("Alegra", "ok"): 2}


def _learn(backend, key, limit, remaining, reset=30.0):
    backend.learn(key, WindowReading(limit=limit, remaining=remaining, reset_seconds=reset))


def test_rate_windows_are_reported_without_naming_any_user():
    backend = LocalBackend()
    _learn(backend, "alegra:user-a", 150, 149)  # first answer of a window: 1 of 150 used
    for _ in range(60):
        backend.take("alegra:user-a", 150)
    _learn(backend, "alegra:user-b", 150, 0)  # spent
    ctx = SimpleNamespace(settings=SimpleNamespace(redis_url=None), _rate_backend=backend)
    families = {f.name: f for f in RateWindowCollector(ctx).collect()}
    windows = {s.labels["status"]: s.value for s in families["connector_erp_rate_windows"].samples}
    assert windows == {"running": 2, "spent": 1}
    assert families["connector_erp_rate_window_max_used_ratio"].samples[0].value == 1.0
    assert not any("user" in str(s.labels) for f in families.values() for s in f.samples)


@pytest.mark.redis
def test_rate_windows_are_read_from_redis():
    prefix = f"connector:test-ratelimit:{uuid.uuid4().hex}:"
    backend = RedisBackend(redis.Redis.from_url(REDIS_URL), prefix=prefix)
    try:
        _learn(backend, "alegra:user-a", 150, 100)
        now, states = backend.windows()
        assert len(states) == 1 and states[0].used == 50 and states[0].limit == 150 and states[0].end > now
    finally:
        for name in backend.client.scan_iter(match=f"{prefix}*"):
            backend.client.delete(name)


def test_marker_searches_that_fell_back_to_a_scan_are_counted_per_api():
    api = f"ERP {uuid.uuid4().hex[:6]}"
    count_marker_scan(api)
    count_marker_scan(api)
    family = next(iter(MarkerScanCollector().collect()))
    assert family.name == "connector_marker_search_scans"
    assert {s.labels["api"]: s.value for s in family.samples if s.name.endswith("_total")}[api] == 2
