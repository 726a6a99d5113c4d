"""Shopify over HTTP (respx, strict): Link-header cursors, the leaky bucket, 429 Retry-After, the error
table, the shop address and the webhook checks."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import respx

from channels.base import ChannelOptions, hmac_sha256_base64
from channels.shopify.adapter import ShopifyAdapter
from channels.shopify.client import LeakyBucket, normalise_shop
from connector.errors import (
    ConfigurationError,
    InvalidCredentials,
    InvalidPayload,
    NotFound,
    PermanentRejection,
    RateLimited,
    TransientError,
    WebhookRejected,
)
from tests.channels.conftest import fixture

BASE = "https://tienda-cafetera.myshopify.com/admin/api/2024-10"
TOKEN = "shpat_never_shown_0123"
SECRET = "shopify-webhook-secret"
CREDENTIALS = {"shop": "tienda-cafetera.myshopify.com", "access_token": TOKEN, "webhook_secret": SECRET}


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def api():
    with respx.mock(base_url=BASE, assert_all_called=True, assert_all_mocked=True) as router:
        yield router


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def adapter(clock):
    adapter = ShopifyAdapter(dict(CREDENTIALS), ChannelOptions(page_size=2), sleep=clock.sleep, clock=clock)
    yield adapter
    adapter.close()


def test_pages_follow_the_link_header_with_only_its_cursor(api, adapter):
    link = f'<{BASE}/orders.json?limit=2&page_info=abc123>; rel="next"'
    route = api.get("/orders.json").mock(side_effect=[
        httpx.Response(200, json=fixture("shopify", "orders-page-1.json"), headers={"Link": link}),
        httpx.Response(200, json=fixture("shopify", "orders-page-2.json"),
                       headers={"Link": f'<{BASE}/orders.json?limit=2&page_info=xyz>; rel="previous"'}),
    ])
    since = datetime(2026, 11, 5, 7, 30, tzinfo=timezone(timedelta(hours=-5)))

    pulled = list(adapter.pull_orders(since))

    first, second = (call.request.url.params for call in route.calls)
    assert dict(first) == {"status": "any", "limit": "2", "order": "updated_at asc",
                           "updated_at_min": "2026-11-05T07:30:00-05:00"}
    assert dict(second) == {"limit": "2", "page_info": "abc123"}  # no filter may go with page_info
    assert [p.external_id for p in pulled] == ["5100004601", "5100004602", "5100004603"]
    assert pulled[0].updated_at == datetime(2026, 11, 5, 9, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert all(call.request.headers["X-Shopify-Access-Token"] == TOKEN for call in route.calls)


def test_without_a_cursor_every_order_is_listed(api, adapter):
    route = api.get("/orders.json").respond(200, json={"orders": []})
    assert list(adapter.pull_orders(None)) == []
    assert "updated_at_min" not in route.calls.last.request.url.params


def test_the_bucket_waits_before_it_would_overflow(clock):
    bucket = LeakyBucket(sleep=clock.sleep, clock=clock)
    bucket.observe(httpx.Response(200, headers={"X-Shopify-Shop-Api-Call-Limit": "39/40"}))
    bucket.acquire()  # 39 + 1 > 38 (two kept free): wait for 1 request to leak at 2/s... and one more
    assert clock.sleeps == [pytest.approx(1.0)]
    clock.now += 30  # the bucket drained meanwhile
    bucket.acquire()
    assert clock.sleeps == [pytest.approx(1.0)]


def test_a_half_full_bucket_does_not_wait(clock):
    bucket = LeakyBucket(sleep=clock.sleep, clock=clock)
    bucket.observe(httpx.Response(200, headers={"X-Shopify-Shop-Api-Call-Limit": "20/40"}))
    for _ in range(10):
        bucket.acquire()
    assert clock.sleeps == []


def test_the_adapter_slows_down_when_shopify_says_the_bucket_is_full(api, adapter, clock):
    link = f'<{BASE}/orders.json?limit=2&page_info=abc>; rel="next"'
    api.get("/orders.json").mock(side_effect=[
        httpx.Response(200, json=fixture("shopify", "orders-page-1.json"),
                       headers={"Link": link, "X-Shopify-Shop-Api-Call-Limit": "40/40"}),
        httpx.Response(200, json=fixture("shopify", "orders-page-2.json"),
                       headers={"X-Shopify-Shop-Api-Call-Limit": "38/40"}),
    ])
    assert len(list(adapter.pull_orders(None))) == 3
    assert clock.sleeps and clock.sleeps[0] == pytest.approx(1.5)  # (40 + 1 - 38) / 2


def test_429_waits_retry_after_then_succeeds(api, adapter, clock):
    body = fixture("shopify", "order-paid-with-line-and-shipping-discounts.json")
    route = api.get("/orders/5100004521.json").mock(side_effect=[
        httpx.Response(429, json=fixture("shopify", "error-throttled.json"), headers={"Retry-After": "2.0"}),
        httpx.Response(200, json=body, headers={"X-Shopify-Shop-Api-Call-Limit": "3/40"}),
    ])
    assert adapter.fetch_order("5100004521").external_id == "5100004521"
    assert route.call_count == 2
    assert 2.0 <= clock.sleeps[-1] < 2.3


def test_429_forever_becomes_rate_limited(api, adapter):
    api.get("/orders/5100004521.json").respond(429, json=fixture("shopify", "error-throttled.json"),
                                               headers={"Retry-After": "1"})
    with pytest.raises(RateLimited) as error:
        adapter.fetch_order("5100004521")
    assert error.value.retry_after == 1.0


@pytest.mark.parametrize(("status", "body", "error", "words"), [
    (401, fixture("shopify", "error-invalid-access-token.json"), InvalidCredentials, "Invalid API key"),
    (402, {"errors": "Unavailable Shop"}, ConfigurationError, "Unavailable Shop"),
    (403, {"errors": "[API] This action requires merchant approval for read_orders scope."}, InvalidCredentials,
     "read_orders"),
    (404, {"errors": "Not Found"}, NotFound, "Not Found"),
    (422, {"errors": {"base": ["orden inválida"]}}, PermanentRejection, "base: orden inválida"),
    (423, {"errors": "Locked"}, ConfigurationError, "Locked"),
    (400, fixture("shopify", "error-validation.json"), PermanentRejection, "limit: must be less"),
    (503, {"errors": "Service Unavailable"}, TransientError, "no está disponible"),
])
def test_each_status_becomes_the_right_error(api, adapter, status, body, error, words):
    api.get("/shop.json").respond(status, json=body)
    with pytest.raises(error) as raised:
        adapter.validate_credentials()
    assert words in raised.value.user_message
    assert TOKEN not in f"{raised.value.user_message} {raised.value.detail}"


@pytest.mark.parametrize(("given", "expected"), [
    ("tienda-cafetera", "tienda-cafetera.myshopify.com"),
    ("Tienda-Cafetera.myshopify.com", "tienda-cafetera.myshopify.com"),
    ("https://tienda-cafetera.myshopify.com/admin", "tienda-cafetera.myshopify.com"),
])
def test_shop_names_are_normalised(given, expected):
    assert normalise_shop(given) == expected


@pytest.mark.parametrize("given", ["evil.example.com", "tienda.myshopify.com.evil.com", "127.0.0.1",
                                   "tienda cafetera", "-tienda"])
def test_anything_but_a_myshopify_name_is_refused(given):
    with pytest.raises(ConfigurationError, match="myshopify.com"):
        ShopifyAdapter({**CREDENTIALS, "shop": given})


def test_base_url_override_replaces_the_shop_address():
    adapter = ShopifyAdapter(dict(CREDENTIALS), ChannelOptions(base_url="http://127.0.0.1:9/"))
    assert str(adapter.client.api._client.base_url) == "http://127.0.0.1:9/admin/api/2024-10/"


def test_an_order_id_that_is_not_a_number_is_not_fetched(adapter):
    with respx.mock(assert_all_mocked=True):
        with pytest.raises(NotFound):
            adapter.fetch_order("../shop")


# -- webhooks ----------------------------------------------------------------------------------


def signed(body: bytes, topic: str = "orders/create", **extra) -> dict[str, str]:
    return {"X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": hmac_sha256_base64(SECRET, body),
            "X-Shopify-Shop-Domain": "tienda-cafetera.myshopify.com", "X-Shopify-Webhook-Id": "wh-1", **extra}


def test_headers_are_read_case_insensitively(adapter):
    body = json.dumps({"id": 5100004521}).encode()
    headers = {k.lower(): v for k, v in signed(body).items()}
    adapter.verify_webhook(headers, body)
    assert adapter.parse_webhook(headers, body).external_order_id == "5100004521"


def test_a_delivery_from_another_shop_is_rejected(adapter):
    body = json.dumps({"id": 1}).encode()
    with pytest.raises(WebhookRejected, match="otra tienda"):
        adapter.verify_webhook(signed(body, **{"X-Shopify-Shop-Domain": "otra.myshopify.com"}), body)


def test_topics_without_an_order_are_acknowledged_without_one(adapter):
    body = json.dumps({"id": 60123456789, "name": "Tienda Cafetera"}).encode()
    event = adapter.parse_webhook(signed(body, "app/uninstalled"), body)
    assert (event.topic, event.external_order_id, event.delivery_id) == ("app/uninstalled", None, "wh-1")


def test_an_order_topic_without_an_order_is_invalid(adapter):
    body = b"[]"
    with pytest.raises(InvalidPayload):
        adapter.parse_webhook(signed(body), body)


def test_a_refunds_create_webhook_points_at_its_order_not_at_the_refund():
    body = json.dumps(fixture("shopify", "webhook-refunds-create.json")).encode()
    headers = {"X-Shopify-Topic": "refunds/create", "X-Shopify-Webhook-Id": "w-1",
               "X-Shopify-Hmac-Sha256": hmac_sha256_base64("s3cr3t", body)}
    adapter = ShopifyAdapter({"shop": "tienda-cafetera", "access_token": "shpat_x", "webhook_secret": "s3cr3t"})
    adapter.verify_webhook(headers, body)
    event = adapter.parse_webhook(headers, body)
    assert (event.topic, event.external_order_id) == ("refunds/create", "5100004531")
    assert "refunds/create" in adapter.webhook_registration("https://c.example/w").topics
    adapter.close()
