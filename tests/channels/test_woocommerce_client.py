"""WooCommerce over HTTP (respx, strict): page-number pagination, auth, the error table, redirects,
the SSRF guard for the user-supplied store address, and the webhook checks (incl. the set-up ping)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import respx

from channels.base import ChannelOptions, hmac_sha256_base64
from channels.woocommerce.adapter import WooCommerceAdapter
from channels.woocommerce.client import GuardedTransport, is_public_address, normalise_store_url
from connector.errors import (
    ConfigurationError,
    InvalidCredentials,
    NotFound,
    PermanentRejection,
    RateLimited,
    TransientError,
    WebhookRejected,
)
from tests.channels.conftest import PUBLIC_IP, fixture

STORE = "https://tiendacafetera.example"
BASE = f"{STORE}/wp-json"
KEY, SECRET, HOOK_SECRET = "ck_never_shown_0123", "cs_never_shown_0123", "woo-hook-secret"
CREDENTIALS = {"store_url": STORE, "consumer_key": KEY, "consumer_secret": SECRET, "webhook_secret": HOOK_SECRET}


class Resolver:
    def __init__(self, *addresses: str):
        self.addresses = list(addresses) or [PUBLIC_IP]
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return self.addresses


def make(credentials=None, resolver=None, sleeps=None, **options) -> WooCommerceAdapter:
    return WooCommerceAdapter(dict(credentials or CREDENTIALS), ChannelOptions(**options),
                              sleep=(sleeps.append if sleeps is not None else (lambda _: None)),
                              resolve=resolver or Resolver(), transport=httpx.HTTPTransport())


@pytest.fixture
def api():
    with respx.mock(base_url=BASE, assert_all_called=True, assert_all_mocked=True) as router:
        yield router


def test_pages_by_number_until_the_last_page_with_the_modified_cursor(api):
    route = api.get("/wc/v3/orders").mock(side_effect=[
        httpx.Response(200, json=fixture("woocommerce", f"orders-page-{n}.json"),
                       headers={"X-WP-Total": "3", "X-WP-TotalPages": "2"}) for n in (1, 2)])
    since = datetime(2026, 11, 5, 7, 30, tzinfo=timezone(timedelta(hours=-5)))

    pulled = list(make(page_size=2).pull_orders(since))

    params = [dict(call.request.url.params) for call in route.calls]
    assert params == [{"page": str(n), "per_page": "2", "orderby": "date", "order": "asc",
                       "modified_after": "2026-11-05T12:30:00", "dates_are_gmt": "true"} for n in (1, 2)]
    assert [p.external_id for p in pulled] == ["7401", "7402", "7403"]  # as listed (by creation date)
    expected = "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    assert route.calls.last.request.headers["Authorization"] == expected


def listed_order(order_id: int) -> dict:
    """A listed order as documented (the first page's first order) with its own id."""
    return fixture("woocommerce", "orders-page-1.json")[0] | {"id": order_id, "number": str(order_id)}


def pages_of(*pages: list[int]) -> list[httpx.Response]:
    return [httpx.Response(200, json=[listed_order(order_id) for order_id in ids],
                           headers={"X-WP-Total": str(sum(map(len, pages))), "X-WP-TotalPages": str(len(pages))})
            for ids in pages]


def test_each_page_is_yielded_before_the_next_page_is_fetched(api):
    route = api.get("/wc/v3/orders").mock(side_effect=pages_of([7401, 7402], [7403, 7404], [7405]))
    pulled = make(page_size=2).pull_orders(None)

    assert [next(pulled).external_id, next(pulled).external_id] == ["7401", "7402"]
    assert route.call_count == 1
    assert next(pulled).external_id == "7403"
    assert route.call_count == 2
    assert [p.external_id for p in pulled] == ["7404", "7405"]
    assert route.call_count == 3


def test_an_order_pushed_onto_the_next_page_is_yielded_once(api):
    # An order changed during the pull entered page 1, so 7402 moved down and opens page 2 again.
    api.get("/wc/v3/orders").mock(side_effect=pages_of([7401, 7402], [7402, 7403], [7404]))
    assert [p.external_id for p in make(page_size=2).pull_orders(None)] == ["7401", "7402", "7403", "7404"]


def test_only_the_previous_page_is_remembered(api):
    # Memory stays one page: a repeat from two pages back (more than a page of orders entered the
    # listing between two requests) is yielded again, and the core stores it as unchanged.
    api.get("/wc/v3/orders").mock(side_effect=pages_of([7401, 7402], [7403, 7404], [7401, 7405]))
    assert [p.external_id for p in make(page_size=2).pull_orders(None)] == ["7401", "7402", "7403", "7404",
                                                                            "7401", "7405"]


def test_query_string_auth_for_hosts_that_drop_the_authorization_header(api):
    route = api.get("/wc/v3/orders/7342").respond(200, json=fixture("woocommerce", "order-processing-with-coupon-and-"
                                                                                   "variation.json"))
    make({**CREDENTIALS, "auth_method": "query"}).fetch_order("7342")
    request = route.calls.last.request
    assert request.url.params["consumer_key"] == KEY and "Authorization" not in request.headers


def test_validate_reads_one_order_and_the_site_name(api):
    orders = api.get("/wc/v3/orders").respond(200, json=[], headers={"X-WP-TotalPages": "0"})
    api.get("/").respond(200, json=fixture("woocommerce", "site-index.json"))
    info = make().validate_credentials()
    assert orders.calls.last.request.url.params["per_page"] == "1"
    assert (info.remote_id, info.display_name) == ("tiendacafetera.example", "Tienda Cafetera")


def test_an_address_that_is_not_a_woocommerce_store_is_a_configuration_error(api):
    api.get("/wc/v3/orders").respond(404, json=fixture("woocommerce", "error-no-route.json"))
    with pytest.raises(ConfigurationError, match="no responde como una tienda WooCommerce"):
        make().validate_credentials()


@pytest.mark.parametrize(("status", "body", "error", "words"), [
    (401, fixture("woocommerce", "error-cannot-view.json"), InvalidCredentials, "no puedes listar"),
    (403, {"code": "woocommerce_rest_cannot_view", "message": "Sin permiso", "data": {"status": 403}},
     InvalidCredentials, "Sin permiso"),
    (404, fixture("woocommerce", "error-invalid-order-id.json"), NotFound, "ID no válido"),
    (400, {"code": "rest_invalid_param", "message": "Parámetro no válido", "data": {"status": 400}},
     PermanentRejection, "Parámetro no válido"),
    (500, {"code": "internal", "message": "Error crítico", "data": {"status": 500}}, TransientError, "no está disponible"),
])
def test_each_status_becomes_the_right_error(api, status, body, error, words):
    api.get("/wc/v3/orders/7342").respond(status, json=body)
    with pytest.raises(error) as raised:
        make().fetch_order("7342")
    assert words in raised.value.user_message
    for secret in (KEY, SECRET):
        assert secret not in f"{raised.value.user_message} {raised.value.detail}"


def test_429_waits_retry_after(api):
    sleeps: list[float] = []
    api.get("/wc/v3/orders/7342").respond(429, json={"code": "too_many", "message": "Despacio"},
                                          headers={"Retry-After": "3"})
    with pytest.raises(RateLimited):
        make(sleeps=sleeps).fetch_order("7342")
    assert sleeps and all(3 <= s < 3.3 for s in sleeps)


def test_redirects_are_not_followed(api):
    route = api.get("/wc/v3/orders").respond(301, headers={"Location": "http://169.254.169.254/latest/meta-data"})
    with pytest.raises(ConfigurationError) as error:
        make().validate_credentials()
    assert route.call_count == 1 and "169.254.169.254" in error.value.user_message
    assert "no se siguen" in error.value.user_message


# -- the SSRF guard ------------------------------------------------------------------------------


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.0.0.5", "172.16.3.4", "192.168.1.10", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "224.0.0.1", "240.0.0.1", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "::",
])
def test_a_store_that_resolves_to_a_private_address_is_refused_before_any_request(address):
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        with pytest.raises(ConfigurationError, match="red privada o local"):
            make(resolver=Resolver(address)).validate_credentials()
    assert not router.calls
    assert not is_public_address(address)


# IPv6 forms that carry an IPv4 address inside: each is judged by the IPv4 it embeds.
@pytest.mark.parametrize("address", [
    "::ffff:10.0.0.1", "::ffff:169.254.169.254",  # IPv4-mapped
    "::127.0.0.1", "::10.1.2.3", "::ffff:0:127.0.0.1",  # IPv4-compatible, IPv4-translated
    "2002:7f00:1::1", "2002:a00:1::", "2002:a9fe:a9fe::1", "2002:c0a8:0101::5",  # 6to4
    # Teredo: the client IPv4 is the bitwise NOT of the last 32 bits (80ff:fffe -> 127.0.0.1)
    "2001:0:4136:e378:8000:63bf:80ff:fffe", "2001:0:4136:e378:8000:63bf:f5ff:fffa",
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::c0a8:101",  # NAT64 well-known prefix
    "64:ff9b:1::1", "64:ff9b:1:7f00:1::",  # NAT64 local-use prefix (RFC 8215)
])
def test_ipv6_forms_embedding_a_private_or_loopback_ipv4_are_refused(address):
    assert not is_public_address(address)
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        with pytest.raises(ConfigurationError, match="red privada o local"):
            make(resolver=Resolver(address)).validate_credentials()
    assert not router.calls


@pytest.mark.parametrize("address", [PUBLIC_IP, "2606:4700:4700::1111", "2002:0808:0808::1",
                                     "64:ff9b::808:808", "2a00:1450:4001:82b::200e"])
def test_public_ipv6_and_public_embedded_ipv4_stay_allowed(address):
    assert is_public_address(address)


def test_one_private_address_among_public_ones_is_enough_to_refuse():
    with pytest.raises(ConfigurationError):
        make(resolver=Resolver(PUBLIC_IP, "10.1.2.3")).fetch_order("1")


def test_the_host_is_resolved_once(api):
    resolver = Resolver()
    api.get("/wc/v3/orders/7342").respond(200, json=fixture("woocommerce", "order-processing-with-coupon-and-"
                                                                           "variation.json"))
    adapter = make(resolver=resolver)
    adapter.fetch_order("7342")
    adapter.fetch_order("7342")
    assert resolver.calls == [("tiendacafetera.example", 443)]


def test_a_dns_failure_is_transient():
    def failing(host, port):
        raise OSError("Name or service not known")

    with pytest.raises(TransientError, match="DNS"):
        WooCommerceAdapter(dict(CREDENTIALS), resolve=failing, sleep=lambda _: None).fetch_order("1")


def test_connections_are_pinned_to_the_checked_address_keeping_the_name():
    seen: list[httpx.Request] = []
    inner = httpx.MockTransport(lambda request: seen.append(request) or httpx.Response(200, json={}))
    transport = GuardedTransport("tiendacafetera.example", 443, inner=inner, pin=True, resolve=Resolver())
    with httpx.Client(transport=transport) as client:
        client.get(f"{BASE}/wc/v3/orders/1")
    [request] = seen
    assert request.url.host == PUBLIC_IP and request.headers["Host"] == "tiendacafetera.example"
    assert request.extensions["sni_hostname"] == "tiendacafetera.example"


def test_a_request_to_another_host_is_refused():
    transport = GuardedTransport("tiendacafetera.example", 443, inner=httpx.MockTransport(lambda r: None),
                                 pin=True, resolve=Resolver())
    with httpx.Client(transport=transport) as client, pytest.raises(ConfigurationError):
        client.get("https://otro.example/")


def test_sandbox_and_dev_mode_allow_private_stores_over_http():
    resolver = Resolver("127.0.0.1")
    with respx.mock(base_url="http://127.0.0.1:8704/wp-json", assert_all_called=True) as router:
        router.get("/wc/v3/orders/1").respond(200, json={**fixture("woocommerce", "orders-page-2.json")[0], "id": 1})
        adapter = WooCommerceAdapter({**CREDENTIALS, "store_url": "http://127.0.0.1:8704"},
                                     ChannelOptions(allow_private_network=True), resolve=resolver)
        assert adapter.fetch_order("1").external_id == "1"
    assert resolver.calls == []


@pytest.mark.parametrize("url", ["ftp://tienda.example", "https://yo:clave@tienda.example",
                                 "https://tienda.example/?x=1", "https://tienda.example/#a", "https://", "http://tienda.example"])
def test_store_urls_that_are_not_plain_https_addresses_are_refused(url):
    with pytest.raises(ConfigurationError):
        normalise_store_url(url, allow_http=False)


def test_store_urls_are_normalised():
    assert normalise_store_url("TiendaCafetera.example/tienda/", allow_http=False) == "https://tiendacafetera.example/tienda"


# -- webhooks ----------------------------------------------------------------------------------


def test_the_unsigned_set_up_ping_is_acknowledged_without_an_order():
    adapter = make()
    adapter.verify_webhook({"Content-Type": "application/x-www-form-urlencoded"}, b"webhook_id=12")
    event = adapter.parse_webhook({}, b"webhook_id=12")
    assert (event.topic, event.external_order_id, event.delivery_id) == ("ping", None, None)


def test_anything_else_unsigned_is_rejected():
    with pytest.raises(WebhookRejected):
        make().verify_webhook({}, b'{"id": 7342}')
    with pytest.raises(WebhookRejected):  # a ping-shaped body with a wrong signature is not a ping
        make().verify_webhook({"X-WC-Webhook-Signature": "bm9wZQ=="}, b"webhook_id=12")


def test_non_order_topics_carry_no_order():
    body = json.dumps({"id": 93, "name": "Camiseta"}).encode()
    headers = {"X-WC-Webhook-Signature": hmac_sha256_base64(HOOK_SECRET, body), "X-WC-Webhook-Topic": "product.updated",
               "X-WC-Webhook-Delivery-ID": "d1"}
    adapter = make()
    adapter.verify_webhook(headers, body)
    assert adapter.parse_webhook(headers, body).external_order_id is None


def test_refunds_are_fetched_only_for_orders_whose_summary_lists_some(api):
    listed = [fixture("woocommerce", "order-refunded-partially-with-shipping.json"),
              fixture("woocommerce", "order-processing-with-coupon-and-variation.json")]
    api.get("/wc/v3/orders").respond(200, json=listed, headers={"X-WP-Total": "2", "X-WP-TotalPages": "1"})
    refunds = api.get("/wc/v3/orders/7401/refunds").respond(
        200, json=fixture("woocommerce", "refunds-of-order-refunded-partially-with-shipping.json"))
    adapter = make()
    pulled = {p.external_id: p for p in adapter.pull_orders(None)}
    assert refunds.call_count == 1 and "refunds" not in pulled["7342"].raw
    order = adapter.parse_order(pulled["7401"])
    assert [r.refund_id for r in order.refunds] == ["7501"] and order.refunds[0].lines
    adapter.close()


def test_fetch_order_reads_its_refunds_too(api):
    api.get("/wc/v3/orders/7401").respond(200, json=fixture("woocommerce", "order-refunded-partially-with-shipping.json"))
    api.get("/wc/v3/orders/7401/refunds").respond(
        200, json=fixture("woocommerce", "refunds-of-order-refunded-partially-with-shipping.json"))
    adapter = make()
    assert adapter.parse_order(adapter.fetch_order("7401")).refunds[0].shipping > 0
    adapter.close()
