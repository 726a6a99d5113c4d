"""Contract kits: what the shared contract suite (test_contract.py) needs to drive each channel's
adapter over respx — credentials, the documented answers to mock, a signed webhook and sample
orders with what the buyer paid. Adding a channel adds a kit here; the suite fails until it has one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from channels.base import ChannelOptions, hmac_sha256_base64
from channels.registry import CHANNELS, channel_class
from connector.canonical import PulledOrder

FIXTURES = Path(__file__).parent / "fixtures"
PUBLIC_IP = "151.101.1.195"  # what the WooCommerce store's name "resolves" to in unit tests


def fixture(channel: str, name: str) -> Any:
    return json.loads((FIXTURES / channel / name).read_text(encoding="utf-8"))


@dataclass
class InvariantCase:
    """A raw order, what the buyer paid for what gets invoiced, and each line's ERP tax rate."""

    name: str
    pulled: PulledOrder
    paid: Decimal
    line_rates: tuple[Decimal, ...]
    shipping_rate: Decimal = Decimal("19")


class ContractKit:
    kind: str
    base: str

    def __init__(self):
        self.sleeps: list[float] = []

    def credentials(self) -> dict[str, Any]:
        raise NotImplementedError

    def make(self, credentials: dict[str, Any] | None = None, **options):
        cls = channel_class(self.kind)
        return cls(dict(credentials or self.credentials()), ChannelOptions(**options), sleep=self.sleeps.append,
                   **self.extra_kwargs())

    def extra_kwargs(self) -> dict[str, Any]:
        return {}

    def secrets(self) -> list[str]:
        cls = channel_class(self.kind)
        creds = self.credentials()
        return [str(creds[f.name]) for f in cls.credential_fields if f.secret and creds.get(f.name)]


# -- Mercado Libre -----------------------------------------------------------------------------


class MercadoLibreKit(ContractKit):
    kind = "mercadolibre"
    base = "https://api.mercadolibre.com"
    page_size = 2

    def credentials(self):
        return {"client_id": "5501234567890123", "client_secret": "ml-secret-never-shown", "refresh_token": "TG-1",
                "access_token": "APP_USR-valid", "user_id": "187654321",
                "access_token_expires_at": (datetime.now(UTC) + timedelta(hours=5)).isoformat(),
                "webhook_secret": "ml-url-secret-0123456789"}

    def mock_validate_ok(self, router):
        router.post("/oauth/token").respond(200, json=fixture("mercadolibre", "token-refresh.json"))
        router.get("/users/me").respond(200, json=fixture("mercadolibre", "users-me.json"))

    def mock_validate_refused(self, router):
        router.post("/oauth/token").respond(400, json=fixture("mercadolibre", "error-invalid-grant.json"))

    def mock_pages(self, router) -> list[str]:
        pages = [fixture("mercadolibre", f"orders-search-page-{n}.json") for n in (1, 2, 3)]
        router.get("/orders/search").mock(side_effect=[httpx.Response(200, json=p) for p in pages])
        return [str(o["id"]) for p in pages for o in p["results"]]

    def mock_fetch(self, router, *, throttled: str | None = None) -> str:
        order = fixture("mercadolibre", "order-paid-with-variation.json")
        answers = [httpx.Response(200, json=order)]
        if throttled is not None:
            answers.insert(0, httpx.Response(429, json=fixture("mercadolibre", "error-too-many-requests.json")))
        router.get(f"/orders/{order['id']}").mock(side_effect=answers)
        router.get("/shipments/44112233445").respond(200, json=fixture("mercadolibre", "shipment-cross-docking-charged.json"))
        router.get("/orders/billing-info/MCO/677487519924852462").respond(
            200, json=fixture("mercadolibre", "billing-info-cc.json"))
        return str(order["id"])

    def mock_refunded_fetch(self, router, *, times: int) -> str:
        order = fixture("mercadolibre", "order-partially-refunded.json")
        router.get(f"/orders/{order['id']}").mock(side_effect=[httpx.Response(200, json=order)] * times)
        router.get(f"/shipments/{order['shipping']['id']}").mock(side_effect=[
            httpx.Response(200, json=fixture("mercadolibre", "shipment-cross-docking-charged.json"))] * times)
        return str(order["id"])

    def signed_webhook(self, credentials):
        body = json.dumps({"_id": "f3b2a1c0d9e8", "resource": "/orders/2000008123456", "user_id": 187654321,
                           "topic": "orders_v2", "application_id": 5501234567890123, "attempts": 1,
                           "sent": "2026-11-03T15:20:31.123Z", "received": "2026-11-03T15:20:31.100Z"}).encode()
        return {"Content-Type": "application/json"}, body, {"secret": credentials["webhook_secret"]}, "2000008123456"

    def without_signature(self, headers, query):
        return headers, {}

    def invariant_cases(self):
        order = fixture("mercadolibre", "order-paid-with-variation.json")
        shipment = fixture("mercadolibre", "shipment-cross-docking-charged.json")
        pulled = PulledOrder(external_id=str(order["id"]), raw={"order": order, "shipment": shipment,
                                                               "billing_info": None})
        paid = sum((Decimal(str(i["unit_price"])) * i["quantity"] for i in order["order_items"]), Decimal(0)) + \
            Decimal(str(shipment["shipping_option"]["cost"]))
        return [InvariantCase("paid-with-shipping", pulled, paid, (Decimal("19"),))]


# -- Shopify -----------------------------------------------------------------------------------


class ShopifyKit(ContractKit):
    kind = "shopify"
    base = "https://tienda-cafetera.myshopify.com/admin/api/2024-10"
    page_size = 2

    def credentials(self):
        return {"shop": "tienda-cafetera", "access_token": "shpat_never_shown_0123",
                "webhook_secret": "shopify-webhook-secret-never-shown"}

    def mock_validate_ok(self, router):
        router.get("/shop.json").respond(200, json=fixture("shopify", "shop.json"),
                                          headers={"X-Shopify-Shop-Api-Call-Limit": "1/40"})

    def mock_validate_refused(self, router):
        router.get("/shop.json").respond(401, json=fixture("shopify", "error-invalid-access-token.json"))

    def mock_pages(self, router) -> list[str]:
        pages = [fixture("shopify", "orders-page-1.json"), fixture("shopify", "orders-page-2.json")]
        link = f'<{self.base}/orders.json?limit=2&page_info=eyJwIjoyfQ>; rel="next"'
        router.get("/orders.json").mock(side_effect=[
            httpx.Response(200, json=pages[0], headers={"Link": link, "X-Shopify-Shop-Api-Call-Limit": "1/40"}),
            httpx.Response(200, json=pages[1], headers={"X-Shopify-Shop-Api-Call-Limit": "2/40"})])
        return [str(o["id"]) for p in pages for o in p["orders"]]

    def mock_fetch(self, router, *, throttled: str | None = None) -> str:
        body = fixture("shopify", "order-paid-with-line-and-shipping-discounts.json")
        answers = [httpx.Response(200, json=body)]
        if throttled is not None:
            answers.insert(0, httpx.Response(429, json=fixture("shopify", "error-throttled.json"),
                                             headers={"Retry-After": throttled}))
        router.get(f"/orders/{body['order']['id']}.json").mock(side_effect=answers)
        return str(body["order"]["id"])

    def mock_refunded_fetch(self, router, *, times: int) -> str:
        body = fixture("shopify", "order-refunded-twice-then-in-full.json")
        router.get(f"/orders/{body['order']['id']}.json").mock(side_effect=[httpx.Response(200, json=body)] * times)
        return str(body["order"]["id"])

    def signed_webhook(self, credentials):
        body = json.dumps(fixture("shopify", "order-paid-with-line-and-shipping-discounts.json")["order"]).encode()
        headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/updated",
                   "X-Shopify-Hmac-Sha256": hmac_sha256_base64(credentials["webhook_secret"], body),
                   "X-Shopify-Shop-Domain": "tienda-cafetera.myshopify.com", "X-Shopify-API-Version": "2024-10",
                   "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"}
        return headers, body, {}, "5100004521"

    def without_signature(self, headers, query):
        return {k: v for k, v in headers.items() if k != "X-Shopify-Hmac-Sha256"}, query

    def invariant_cases(self):
        discounted = fixture("shopify", "order-paid-with-line-and-shipping-discounts.json")["order"]
        excluded = fixture("shopify", "order-fulfilled-taxes-excluded-nit-buyer.json")["order"]
        return [
            InvariantCase("discounts-on-lines-and-shipping", PulledOrder(external_id="1", raw={"order": discounted}),
                          Decimal(discounted["total_price"]), (Decimal("5"), Decimal("19"))),
            InvariantCase("taxes-excluded", PulledOrder(external_id="2", raw={"order": excluded}),
                          Decimal(excluded["total_price"]), (Decimal("19"),)),
        ]


# -- WooCommerce -------------------------------------------------------------------------------


class WooCommerceKit(ContractKit):
    kind = "woocommerce"
    base = "https://tiendacafetera.example/wp-json"
    page_size = 2

    def credentials(self):
        return {"store_url": "https://tiendacafetera.example", "consumer_key": "ck_never_shown_0123456789",
                "consumer_secret": "cs_never_shown_0123456789", "webhook_secret": "woo-webhook-secret-never-shown"}

    def extra_kwargs(self):
        # The store's name resolves to a public address; an injected transport is checked, not pinned.
        return {"resolve": lambda host, port: [PUBLIC_IP], "transport": httpx.HTTPTransport()}

    def mock_validate_ok(self, router):
        router.get("/wc/v3/orders").respond(200, json=fixture("woocommerce", "orders-page-2.json"),
                                            headers={"X-WP-Total": "1", "X-WP-TotalPages": "1"})
        router.get("/").respond(200, json=fixture("woocommerce", "site-index.json"))

    def mock_validate_refused(self, router):
        router.get("/wc/v3/orders").respond(401, json=fixture("woocommerce", "error-cannot-view.json"))

    def mock_pages(self, router) -> list[str]:
        pages = [fixture("woocommerce", "orders-page-1.json"), fixture("woocommerce", "orders-page-2.json")]
        router.get("/wc/v3/orders").mock(side_effect=[
            httpx.Response(200, json=page, headers={"X-WP-Total": "3", "X-WP-TotalPages": "2"}) for page in pages])
        return [str(o["id"]) for p in pages for o in p]

    def mock_fetch(self, router, *, throttled: str | None = None) -> str:
        order = fixture("woocommerce", "order-processing-with-coupon-and-variation.json")
        answers = [httpx.Response(200, json=order)]
        if throttled is not None:
            answers.insert(0, httpx.Response(429, json={"code": "too_many_requests", "message": "Too Many Requests",
                                                        "data": {"status": 429}}, headers={"Retry-After": throttled}))
        router.get(f"/wc/v3/orders/{order['id']}").mock(side_effect=answers)
        return str(order["id"])

    def mock_refunded_fetch(self, router, *, times: int) -> str:
        order = fixture("woocommerce", "order-refunded-in-two-steps.json")
        router.get(f"/wc/v3/orders/{order['id']}").mock(side_effect=[httpx.Response(200, json=order)] * times)
        router.get(f"/wc/v3/orders/{order['id']}/refunds").mock(side_effect=[
            httpx.Response(200, json=fixture("woocommerce", "refunds-of-order-refunded-in-two-steps.json"))] * times)
        return str(order["id"])

    def signed_webhook(self, credentials):
        body = json.dumps(fixture("woocommerce", "order-processing-with-coupon-and-variation.json")).encode()
        headers = {"Content-Type": "application/json", "X-WC-Webhook-Source": "https://tiendacafetera.example/",
                   "X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Resource": "order",
                   "X-WC-Webhook-Event": "updated",
                   "X-WC-Webhook-Signature": hmac_sha256_base64(credentials["webhook_secret"], body),
                   "X-WC-Webhook-ID": "12", "X-WC-Webhook-Delivery-ID": "3c9e0b7f5a1d4e2f8b6a0c1d2e3f4a5b"}
        return headers, body, {}, "7342"

    def without_signature(self, headers, query):
        return {k: v for k, v in headers.items() if k != "X-WC-Webhook-Signature"}, query

    def invariant_cases(self):
        coupon = fixture("woocommerce", "order-processing-with-coupon-and-variation.json")
        fees = fixture("woocommerce", "order-completed-with-fees-nit-buyer.json")
        positive_fees = sum((Decimal(f["total"]) for f in fees["fee_lines"] if Decimal(f["total"]) > 0), Decimal(0))
        return [
            InvariantCase("coupon-variation-shipping", PulledOrder(external_id="7342", raw={"order": coupon}),
                          Decimal(coupon["total"]), (Decimal("19"), Decimal("5"))),
            InvariantCase("fees", PulledOrder(external_id="7343", raw={"order": fees}),
                          Decimal(fees["total"]) - positive_fees, (Decimal("19"),)),
        ]


KITS: dict[str, type[ContractKit]] = {"mercadolibre": MercadoLibreKit, "shopify": ShopifyKit,
                                      "woocommerce": WooCommerceKit}


@pytest.fixture(params=sorted(CHANNELS))
def contract_kit(request) -> ContractKit:
    """One kit per registered channel; a channel without a kit fails the suite."""
    if request.param not in KITS:
        pytest.fail(f"channel {request.param!r} has no contract kit in tests/channels/conftest.py")
    return KITS[request.param]()


@pytest.fixture
def contract_api(contract_kit):
    with respx.mock(base_url=contract_kit.base, assert_all_called=True, assert_all_mocked=True) as router:
        yield router
