"""Every answer and failure the Requestor sees is counted by API and outcome (429s too), in this
process and, with Redis, in one place for every worker."""

from __future__ import annotations

import uuid

import httpx
import pytest
import redis

from connector.errors import ConnectorError
from connector.http import Requestor
from connector.metrics import HttpCallCollector, HttpCallCounts, http_calls, outcome_of
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
