"""The shared requestor's waits: ``Retry-After`` honoured only up to a cap, a total deadline per call,
every retry logged without secrets, and malformed addresses refused as configuration errors."""

from __future__ import annotations

import logging

import httpx
import pytest
import respx

from connector.errors import ConfigurationError, RateLimited, TransientError
from connector.http import Requestor

BASE = "https://api.tienda.example/v1"
SECRET = "tok-0123456789-never-logged"


class FakeTime:
    """A clock that only moves when the requestor sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make(time: FakeTime, **kwargs) -> Requestor:
    return Requestor(service="Tienda", base_url=BASE, sleep=time.sleep, clock=time.clock, jitter=lambda: 0.0,
                     auth=httpx.BasicAuth("usuario", SECRET), **kwargs)


@pytest.fixture
def api():
    with respx.mock(base_url=BASE, assert_all_called=True, assert_all_mocked=True) as router:
        yield router


def test_a_retry_after_beyond_the_cap_is_raised_at_once_for_the_caller_to_wait_in_the_database(api):
    time = FakeTime()
    route = api.get("/orders/1").respond(429, headers={"Retry-After": "3600"})
    with pytest.raises(RateLimited) as raised:
        make(time, max_retry_after=30).get("/orders/1")
    assert raised.value.retry_after == 3600
    assert time.sleeps == [] and route.call_count == 1


def test_the_cap_holds_for_a_policy_that_waits_for_the_window_itself(api):
    class WindowPolicy:
        waits_for_window = True
        acquired = 0

        def acquire(self) -> None:
            self.acquired += 1

        def observe(self, response) -> None:
            return None

    time, policy = FakeTime(), WindowPolicy()
    route = api.post("/invoices").respond(429, headers={"Retry-After": "3600"})
    with pytest.raises(RateLimited) as raised:
        make(time, rate_limit=policy).post("/invoices", json={})
    assert raised.value.retry_after == 3600 and route.call_count == 1 and policy.acquired == 1


def test_a_retry_after_within_the_cap_is_waited_in_place(api):
    time = FakeTime()
    api.get("/orders/1").mock(side_effect=[httpx.Response(429, headers={"Retry-After": "5"}),
                                           httpx.Response(200, json={"id": 1})])
    assert make(time, max_retry_after=30).get("/orders/1").json() == {"id": 1}
    assert time.sleeps == [5.0]


def test_the_cap_is_a_setting_of_the_requestor(api):
    time = FakeTime()
    api.get("/orders/1").respond(429, headers={"Retry-After": "5"})
    with pytest.raises(RateLimited):
        make(time, max_retry_after=2).get("/orders/1")
    assert time.sleeps == []


def test_every_retry_fits_in_the_call_deadline(api):
    time = FakeTime()
    route = api.get("/orders").respond(503)
    with pytest.raises(TransientError):
        make(time, max_attempts=50, backoff_base=4, backoff_cap=20, deadline=45).get("/orders")
    assert sum(time.sleeps) <= 45
    assert 2 <= route.call_count < 50


def test_a_retry_after_that_would_pass_the_deadline_is_not_waited(api):
    time = FakeTime()
    route = api.get("/orders").respond(429, headers={"Retry-After": "20"})
    with pytest.raises(RateLimited) as raised:
        make(time, max_retry_after=30, deadline=30).get("/orders")
    assert sum(time.sleeps) <= 30 and route.call_count == 2
    assert raised.value.retry_after == 20


def test_each_attempt_is_given_no_more_than_what_is_left_of_the_deadline(api):
    time = FakeTime()
    seen: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"]["read"])
        return httpx.Response(503) if len(seen) == 1 else httpx.Response(200, json=[])

    api.get("/orders").mock(side_effect=answer)
    make(time, timeout=20, backoff_base=8, deadline=25).get("/orders")
    assert seen[0] == 20 and seen[1] <= 25 - time.sleeps[0]


def test_every_retry_is_logged_with_method_host_status_and_wait_but_no_secret(api, caplog):
    time = FakeTime()
    api.get("/orders").mock(side_effect=[httpx.Response(503), httpx.Response(429, headers={"Retry-After": "2"}),
                                         httpx.Response(200, json=[])])
    caplog.set_level(logging.DEBUG)
    make(time).get("/orders", params={"access_token": SECRET, "page": 2})
    retries = [r for r in caplog.records if r.name == "connector.http" and r.levelno >= logging.INFO]
    assert len(retries) == 2
    text = "\n".join(r.getMessage() for r in retries)
    assert "GET" in text and "api.tienda.example" in text and "503" in text and "429" in text
    assert "2.0 s" in text
    assert SECRET not in text and "access_token" not in text  # the query string stays out
    assert "usuario" not in text and "Basic" not in text


@pytest.mark.parametrize("base_url", ["https://\x00.com", "https://" + "a" * 300 + ".com",
                                      "https://tienda\u202e.example"])
def test_a_malformed_address_is_a_configuration_error_not_a_crash(base_url):
    time = FakeTime()  # the real transport: each address fails before any name is looked up
    with pytest.raises(ConfigurationError):
        Requestor(service="Tienda", base_url=base_url, sleep=time.sleep, clock=time.clock).get("/orders")


def test_the_settings_reach_every_api_client(tmp_path):
    from connector.context import AppContext
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'c.sqlite3'}", max_retry_after_seconds=7,
                             http_deadline_seconds=50)
    ctx = AppContext.from_settings(settings)
    adapter = ctx.new_channel_adapter("shopify", {"shop": "tienda.myshopify.com", "access_token": "x" * 20}, None)
    erp = ctx.new_erp_adapter("alegra", {"email": "a@b.co", "token": "t" * 20}, None)
    for requestor in (adapter.client.api, erp.requestor):
        assert (requestor.max_retry_after, requestor.deadline) == (7, 50)
    adapter.close()
    ctx.close()
