"""A loopback Shopify Admin REST API: ``shop.json``, ``orders.json`` and webhooks, with its rate limit.

Each :class:`~sandbox.catalog.SaleSpec` is rendered into a documented Admin REST order
(:mod:`sandbox.shopify_orders`: amounts as strings, ``taxes_included``, discounts in
``discount_allocations``). Faithful details the adapter must cope with: ``orders.json`` pages with ``Link`` headers whose ``page_info`` refuses any other filter;
``status`` defaults to ``open``; a **leaky bucket** of 40 requests draining 2/s answers
``X-Shopify-Shop-Api-Call-Limit`` and, when full, 429 with ``Retry-After``. Webhooks
(``orders/create``, ``orders/updated``, and for refunds ``refunds/create`` and ``orders/cancelled``)
are signed with the subscription's secret. Refunds (:mod:`sandbox.refunds`, rendered by
:mod:`sandbox.shopify_refunds`) come over time or on demand (:meth:`ShopifyState.refund`).
"""

from __future__ import annotations

import base64
import copy
import json
import math
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, jsonify, request

from sandbox.backlog import ListingCache, gc_paused
from sandbox.catalog import SaleSpec
from sandbox.knobs import Knobs, install_fault_hooks
from sandbox.listings import ListingStore
from sandbox.refunds import RefundingStore, install_refund_routes, line_units
from sandbox.shopify_inventory import install_inventory_routes
from sandbox.shopify_orders import (  # noqa: F401  (re-exported: the WooCommerce sandbox, tests and the oracle)
    CENT,
    ORDER_ID_BASE,
    SHOP_TZ,
    _iso,
    cents,
    money,
    render_sale,
    sku_tax_rate,
    stable_id,
    tax_part,
)
from sandbox.shopify_refunds import add_refund
from sandbox.webhooks import Subscription, WebhookSender, json_body, shopify_headers

MAX_LIMIT = 250
ORDER_TOPICS = ("orders/create", "orders/updated", "orders/cancelled", "refunds/create")


class ShopifyState(RefundingStore):
    """One store's Shopify world, in memory and thread-safe, with its leaky bucket, webhooks and refunds."""

    channel = "shopify"

    def __init__(self, *, shop: str, access_token: str, shop_id: int = 60_123_456_789, name: str = "Tienda Cafetera",
                 taxes_included: bool = True, bucket_capacity: int = 40, leak_per_second: float = 2.0):
        self.shop, self.access_token, self.shop_id, self.name = shop, access_token, shop_id, name
        self.taxes_included = taxes_included
        self.bucket_capacity, self.leak_per_second = bucket_capacity, leak_per_second
        self.orders: dict[int, dict] = {}
        self.specs: dict[int, SaleSpec] = {}
        self.subscriptions: list[Subscription] = []
        self.sender = WebhookSender()
        self.api_version = "2024-10"
        self.requests = 0
        self.throttled = 0
        self._level, self._level_at = 0.0, time.monotonic()
        self._clock = datetime(2000, 1, 1, tzinfo=SHOP_TZ)
        self._listings = ListingCache()  # /orders.json listings; change orders through the methods below
        self._lock = threading.RLock()
        self.stock_listings = ListingStore.seeded(first_id=8_100_000_001, variation_first_id=45_100_000_001)
        self._init_refunds()

    @classmethod
    def seeded(cls, sales: list[SaleSpec], **kwargs) -> ShopifyState:
        state = cls(**kwargs)
        with gc_paused():
            for spec in sales:
                state.add_sale(spec, notify=False)
        return state

    # -- helpers for tests, the demo and the chaos suite ------------------------------------

    def add_sale(self, spec: SaleSpec, *, notify: bool = True) -> int:
        order = render_sale(spec, taxes_included=self.taxes_included)
        with self._lock:
            self.orders[order["id"]] = order
            self.specs[order["id"]] = spec
            self._clock = max(self._clock, datetime.fromisoformat(order["updated_at"]))
            self._listings.forget()
        self.plan_refunds(order["id"], spec.refunds)
        if notify:
            self.deliver("orders/create", order["id"])
        return order["id"]

    def order(self, order_id: int) -> dict:
        with self._lock:
            return copy.deepcopy(self.orders[int(order_id)])

    def order_ids(self) -> list[int]:
        with self._lock:
            return sorted(self.orders)

    def set_taxes_included(self, taxes_included: bool) -> None:
        """Switch the store's tax setting and render every seeded order again under it (refunds given
        so far are not rendered again: switch before giving any)."""
        with self._lock:
            self.taxes_included = taxes_included
            for order_id, spec in self.specs.items():
                self.orders[order_id] = render_sale(spec, taxes_included=taxes_included)
            self._listings.forget()

    def update_order(self, order_id: int, *, notify: bool = True, **changes: Any) -> dict:
        """Change fields of an order (e.g. ``financial_status``, ``fulfillment_status``); bumps
        ``updated_at`` past every other order's and delivers ``orders/updated``."""
        with self._lock:
            order = self.orders[int(order_id)]
            self._clock = max(self._clock + timedelta(seconds=1), datetime.now(SHOP_TZ).replace(microsecond=0))
            order.update(copy.deepcopy(changes))
            order["updated_at"] = _iso(self._clock)
            self._listings.forget()
        if notify:
            self.deliver("orders/updated", int(order_id))
        return self.order(order_id)

    def refund(self, order_id: int, *, lines=None, shipping: bool = False, full: bool = False, reason: str = "",
               notify: bool = True) -> dict | None:
        """Give money back (see :meth:`sandbox.refunds.RefundingStore.refund`): a refund object on the
        order, ``financial_status`` moved, ``updated_at`` past every other order's, and the webhooks
        ``refunds/create`` (the refund), ``orders/updated`` and, when it cancels the order, ``orders/cancelled``."""
        with self._lock:
            order = self.orders[int(order_id)]
            was_cancelled = bool(order.get("cancelled_at"))
            self._clock = max(self._clock + timedelta(seconds=1), datetime.now(SHOP_TZ).replace(microsecond=0))
            at = _iso(self._clock)
            added = add_refund(order, lines=line_units(lines), shipping=shipping, full=full, reason=reason, at=at,
                               shipped=order.get("fulfillment_status") == "fulfilled")
            if added is None:
                return None
            refund, amount, refunded_in_full = added
            order["updated_at"] = at
            self._listings.forget()
            cancelled = not was_cancelled and bool(order.get("cancelled_at"))
            record = self._record_refund(refund_id=str(refund["id"]), order_id=order["id"], amount=amount,
                                         full=refunded_in_full, at=self._clock)
            body = json_body(refund)
        if notify:
            self.deliver_body("refunds/create", body)
            self.deliver("orders/updated", int(order_id))
            if cancelled:
                self.deliver("orders/cancelled", int(order_id))
        return record

    def subscribe(self, url: str, secret: str, topics: tuple[str, ...] = ORDER_TOPICS) -> Subscription:
        subscription = Subscription(url, secret, topics, webhook_id=len(self.subscriptions) + 1)
        with self._lock:
            self.subscriptions.append(subscription)
        return subscription

    def deliver(self, topic: str, order_id: int) -> list:
        """Deliver ``topic`` for one order to every subscription that wants it (signed)."""
        return self.deliver_body(topic, json_body(self.order(order_id)))

    def deliver_body(self, topic: str, body: bytes) -> list:
        """Deliver ``topic`` with ``body`` (an order, or a refund for ``refunds/create``), signed."""
        deliveries = []
        for subscription in list(self.subscriptions):
            if subscription.wants(topic):
                headers = shopify_headers(secret=subscription.secret or "", body=body, topic=topic,
                                          shop_domain=self.shop, api_version=self.api_version)
                deliveries.append(self.sender.post(subscription.url, body, headers))
        return deliveries

    # -- API behaviour ------------------------------------------------------------------------

    def take_from_bucket(self) -> tuple[bool, int]:
        """One request into the bucket: (accepted, level after it)."""
        with self._lock:
            now = time.monotonic()
            self._level = max(0.0, self._level - (now - self._level_at) * self.leak_per_second)
            self._level_at = now
            self.requests += 1
            if self._level + 1 > self.bucket_capacity:
                self.throttled += 1
                return False, math.ceil(self._level)
            self._level += 1
            return True, math.ceil(self._level)

    def listing_page(self, *, status: str, updated_at_min: datetime | None, order: str, offset: int,
                     limit: int) -> tuple[list[dict], int]:
        """``limit`` orders of the listing from ``offset`` (a ``page_info`` cursor holds both) and
        how many orders the whole listing has."""
        query = (status, updated_at_min, order)
        with self._lock:
            ids = self._listings.ids(query, lambda: self._listing_ids(status, updated_at_min, order))
            return [copy.deepcopy(self.orders[order_id]) for order_id in ids[offset:offset + limit]], len(ids)

    def _listing_ids(self, status: str, updated_at_min: datetime | None, order: str) -> list[int]:
        orders = list(self.orders.values())
        if status == "open":
            orders = [o for o in orders if not o["cancelled_at"] and not o["closed_at"]]
        elif status == "closed":
            orders = [o for o in orders if o["closed_at"]]
        elif status == "cancelled":
            orders = [o for o in orders if o["cancelled_at"]]
        if updated_at_min is not None:
            orders = [o for o in orders if datetime.fromisoformat(o["updated_at"]) >= updated_at_min]
        field, _, direction = (order or "id asc").partition(" ")
        field = field if field in ("updated_at", "created_at", "id") else "id"
        orders.sort(key=lambda o: (str(o[field]) if field != "id" else o["id"], o["id"]),
                    reverse=direction.strip().lower() == "desc")
        return [o["id"] for o in orders]


def _errors(status: int, errors: Any, **headers: str):
    response = jsonify({"errors": errors})
    response.status_code = status
    response.headers.update(headers)
    return response


def _encode_cursor(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def create_app(state: ShopifyState, knobs: Knobs | None = None) -> Flask:
    """The Flask app serving ``state`` like ``https://{shop}`` (the API under ``/admin/api/{version}``)."""
    knobs = knobs or Knobs(rate_limit_per_minute=0)
    app = Flask("sandbox.shopify")
    install_fault_hooks(app, knobs, maintenance_body={"errors": "Service Unavailable"})
    install_refund_routes(app, state)
    state.inventory = install_inventory_routes(app, state.stock_listings, knobs)

    @app.before_request
    def _bucket_and_token():
        if request.path.startswith("/_sandbox"):
            return None
        if knobs.chance(knobs.burst_429_rate):
            return _errors(429, "Exceeded 2 calls per second for api client. Reduce request rates to resume "
                                "uninterrupted service.", **{"Retry-After": "1.0"})
        if request.headers.get("X-Shopify-Access-Token") != state.access_token:
            return _errors(401, "[API] Invalid API key or access token (unrecognized login or wrong password)")
        accepted, level = state.take_from_bucket()
        if not accepted:
            return _errors(429, "Exceeded 2 calls per second for api client. Reduce request rates to resume "
                                "uninterrupted service.", **{"Retry-After": "1.0"})
        request.environ["sandbox.bucket_level"] = level
        return None

    @app.after_request
    def _call_limit(response):
        level = request.environ.get("sandbox.bucket_level")
        if level is not None:
            response.headers["X-Shopify-Shop-Api-Call-Limit"] = f"{level}/{state.bucket_capacity}"
        return response

    @app.get("/admin/api/<version>/shop.json")
    def shop(version: str):
        return jsonify({"shop": {"id": state.shop_id, "name": state.name, "email": "hola@tiendacafetera.co",
                                 "domain": state.shop, "myshopify_domain": state.shop, "currency": "COP",
                                 "country_code": "CO", "iana_timezone": "America/Bogota",
                                 "taxes_included": state.taxes_included, "plan_name": "basic"}})

    @app.get("/admin/api/<version>/orders.json")
    def orders(version: str):
        args = request.args
        try:
            limit = int(args.get("limit", 50))
        except ValueError:
            return _errors(400, {"limit": ["is invalid"]})
        if not 1 <= limit <= MAX_LIMIT:
            return _errors(400, {"limit": [f"must be less than or equal to {MAX_LIMIT}"]})
        if "page_info" in args:
            extra = set(args) - {"page_info", "limit", "fields"}
            if extra:
                return _errors(400, {"page_info": [f"cannot be combined with {', '.join(sorted(extra))}"]})
            try:
                cursor = _decode_cursor(args["page_info"])
            except ValueError:
                return _errors(400, {"page_info": ["is invalid"]})
        else:
            cursor = {"offset": 0, "status": args.get("status", "open"), "order": args.get("order", "id asc"),
                      "updated_at_min": args.get("updated_at_min")}
        try:
            since = datetime.fromisoformat(cursor["updated_at_min"].replace(" ", "+")) if cursor["updated_at_min"] else None
        except ValueError:
            return _errors(400, {"updated_at_min": ["is invalid"]})
        offset = int(cursor["offset"])
        page, total = state.listing_page(status=cursor["status"], updated_at_min=since, order=cursor["order"],
                                         offset=offset, limit=limit)
        base = f"{request.host_url.rstrip('/')}{request.path}"
        links = []
        if offset > 0:
            links.append(f'<{base}?limit={limit}&page_info={_encode_cursor({**cursor, "offset": max(0, offset - limit)})}>; '
                         'rel="previous"')
        if offset + limit < total:
            links.append(f'<{base}?limit={limit}&page_info={_encode_cursor({**cursor, "offset": offset + limit})}>; '
                         'rel="next"')
        response = jsonify({"orders": page})
        if links:
            response.headers["Link"] = ", ".join(links)
        return response

    @app.get("/admin/api/<version>/orders/<int:order_id>.json")
    def order(version: str, order_id: int):
        with state._lock:
            found = state.orders.get(order_id)
            found = copy.deepcopy(found) if found else None
        return jsonify({"order": found}) if found else _errors(404, "Not Found")

    return app
