"""A loopback WooCommerce store: ``/wp-json/`` and REST v3 orders with consumer-key auth, and webhooks.

Each :class:`~sandbox.catalog.SaleSpec` is rendered into a documented REST v3 order. Faithful
details the adapter must cope with: amounts are strings and line ``subtotal``/``total`` are
**before tax** (taxes in ``subtotal_tax``/``total_tax``), ``total`` after coupons; a 10 % coupon on
some orders (``coupon_lines``), shipping and fee lines (a cash-on-delivery surcharge, which the
connector does not invoice, and a negative "cash discount" fee); variation attributes in the line's
``meta_data``; the buyer's document in the order's ``meta_data`` (``_billing_cedula`` /
``_billing_nit``, as Colombian checkout plugins store it); page-number pagination with
``X-WP-Total``/``X-WP-TotalPages``; ``per_page`` ≤ 100. Webhooks (``order.created``,
``order.updated``) are signed with the webhook's secret; :meth:`WooCommerceState.ping` sends the
unsigned set-up ping WooCommerce sends when a webhook is saved. Refunds (:mod:`sandbox.refunds`,
rendered by :mod:`sandbox.woocommerce_refunds`) come over time or on demand
(:meth:`WooCommerceState.refund`) and are served at ``GET /orders/{id}/refunds``.
"""

from __future__ import annotations

import copy
import threading
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from flask import Flask, jsonify, request

from sandbox.backlog import ListingCache, gc_paused
from sandbox.catalog import SaleLine, SaleSpec
from sandbox.knobs import Knobs, install_fault_hooks
from sandbox.listings import ListingStore
from sandbox.refunds import RefundingStore, install_refund_routes, line_units
from sandbox.shopify import cents, money, sku_tax_rate, stable_id, tax_part
from sandbox.webhooks import Subscription, WebhookSender, json_body, woocommerce_headers
from sandbox.woocommerce_products import install_product_routes
from sandbox.woocommerce_refunds import new_refund, summarise

STORE_TZ = timezone(timedelta(hours=-5))
ORDER_ID_BASE = 7000
MAX_PER_PAGE = 100
COUPON = Decimal("0.10")  # "BIENVENIDA10" on orders whose number % 4 == 1
COD_FEE = Decimal("3000")  # "Pago contra entrega" on paid orders whose number % 5 == 2
CASH_DISCOUNT = Decimal("-2000")  # "Descuento pago en efectivo" on paid orders whose number % 7 == 3
ORDER_TOPICS = ("order.created", "order.updated")


def _local(moment: datetime) -> str:
    return moment.astimezone(STORE_TZ).replace(tzinfo=None).isoformat(timespec="seconds")


def _gmt(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def _status(spec: SaleSpec) -> str:
    if spec.status == "cancelled":
        return "refunded" if spec.number % 2 else "cancelled"
    if spec.status != "paid":
        return "on-hold" if spec.number % 2 else "pending"
    return "completed" if spec.shipped else "processing"


def _line(spec: SaleSpec, index: int, line: SaleLine) -> tuple[dict, Decimal, Decimal, Decimal]:
    """A line item, its coupon discount before tax and its tax, and what the buyer paid (tax included)."""
    rate = sku_tax_rate(line.sku)
    gross = line.unit_price * line.quantity
    subtotal_tax = tax_part(gross, rate)
    subtotal = gross - subtotal_tax
    paid = gross - (cents(gross * COUPON) if spec.number % 4 == 1 else Decimal("0"))
    total_tax = tax_part(paid, rate)
    total = paid - total_tax
    variation_id = stable_id(line.sku or line.title, 300, 10**5) if line.variation else 0
    meta = [{"id": stable_id(f"{spec.number}{name}", 10_000, 10**6), "key": f"pa_{name.lower()}",
             "value": value.lower(), "display_key": name, "display_value": value}
            for name, value in line.variation.items()]
    base_title = line.title.removesuffix(" " + " ".join(line.variation.values())) if line.variation else line.title
    item = {
        "id": spec.number * 10 + index + 1, "name": f"{base_title} - {', '.join(line.variation.values())}"
        if line.variation else base_title, "product_id": stable_id(base_title, 100, 10**5),
        "variation_id": variation_id, "quantity": line.quantity, "tax_class": "" if rate == 19 else "tarifa-reducida",
        "subtotal": money(subtotal), "subtotal_tax": money(subtotal_tax), "total": money(total),
        "total_tax": money(total_tax),
        "taxes": [{"id": 1 if rate == 19 else 2, "total": money(total_tax), "subtotal": money(subtotal_tax)}],
        "meta_data": meta, "sku": line.sku or "", "price": float(cents(total / line.quantity)),
        "image": {"id": "", "src": ""}, "parent_name": base_title if line.variation else None,
    }
    return item, subtotal - total, subtotal_tax - total_tax, paid


def render_sale(spec: SaleSpec, *, home: str) -> dict[str, Any]:
    """The REST v3 order of one sale."""
    order_id = ORDER_ID_BASE + spec.number
    created = spec.created_at
    status = _status(spec)
    modified = created + {"completed": timedelta(hours=30), "cancelled": timedelta(minutes=45),
                          "refunded": timedelta(hours=2)}.get(status, timedelta(minutes=3))
    lines = [_line(spec, i, line) for i, line in enumerate(spec.lines)]
    shipping = spec.shipping_cost
    ship_tax = tax_part(shipping, Decimal("19"))
    shipping_lines = [{"id": order_id * 10, "method_title": "Envío a domicilio" if shipping else "Envío gratis",
                       "method_id": "flat_rate" if shipping else "free_shipping", "instance_id": "1",
                       "total": money(shipping - ship_tax), "total_tax": money(ship_tax),
                       "taxes": [{"id": 1, "total": money(ship_tax), "subtotal": ""}] if ship_tax else [],
                       "meta_data": []}]
    paid_order = spec.status == "paid"
    fees = []
    if paid_order and spec.number % 5 == 2:
        fees.append({"id": order_id * 10 + 1, "name": "Pago contra entrega", "tax_class": "", "tax_status": "none",
                     "amount": money(COD_FEE), "total": money(COD_FEE), "total_tax": "0.00", "taxes": [],
                     "meta_data": []})
    if paid_order and spec.number % 7 == 3:
        fees.append({"id": order_id * 10 + 2, "name": "Descuento pago en efectivo", "tax_class": "",
                     "tax_status": "none", "amount": money(CASH_DISCOUNT), "total": money(CASH_DISCOUNT),
                     "total_tax": "0.00", "taxes": [], "meta_data": []})
    discount = sum((d for _, d, _, _ in lines), Decimal("0"))
    discount_tax = sum((t for _, _, t, _ in lines), Decimal("0"))
    cart_tax = sum((Decimal(item["total_tax"]) for item, _, _, _ in lines), Decimal("0"))
    total = sum((paid for _, _, _, paid in lines), Decimal("0")) + shipping + sum(
        (Decimal(f["total"]) for f in fees), Decimal("0"))
    buyer = spec.buyer
    legal = buyer.id_type == "NIT"
    meta = [{"id": order_id * 100 + 1, "key": "is_vat_exempt", "value": "no"}]
    if buyer.id_type:
        meta.append({"id": order_id * 100 + 2, "key": "_billing_nit" if legal else "_billing_cedula",
                     "value": buyer.id_number})
    paid_at = created + timedelta(minutes=2) if paid_order or spec.status == "cancelled" else None
    return {
        "id": order_id, "parent_id": 0, "number": str(order_id), "order_key": f"wc_order_{order_id:x}",
        "created_via": "checkout", "version": "9.4.2", "status": status, "currency": "COP",
        "date_created": _local(created), "date_created_gmt": _gmt(created),
        "date_modified": _local(modified), "date_modified_gmt": _gmt(modified),
        "discount_total": money(discount), "discount_tax": money(discount_tax),
        "shipping_total": money(shipping - ship_tax), "shipping_tax": money(ship_tax), "cart_tax": money(cart_tax),
        "total": money(total), "total_tax": money(cart_tax + ship_tax), "prices_include_tax": True,
        "customer_id": stable_id(buyer.nickname, 1, 10**5), "customer_ip_address": "",
        "customer_note": "",
        "billing": {"first_name": buyer.first_name or buyer.nickname.title(), "last_name": buyer.last_name or "",
                    "company": buyer.first_name if legal else "", "address_1": buyer.street, "address_2": "",
                    "city": buyer.city, "state": buyer.department, "postcode": "", "country": "CO",
                    "email": f"{buyer.nickname.lower()}@correo.example", "phone": buyer.phone or "3005550101"},
        "shipping": {"first_name": buyer.first_name or "", "last_name": buyer.last_name or "", "company": "",
                     "address_1": buyer.street, "address_2": "", "city": buyer.city, "state": buyer.department,
                     "postcode": "", "country": "CO", "phone": ""},
        "payment_method": "cod" if any(f["name"] == "Pago contra entrega" for f in fees) else "bacs",
        "payment_method_title": "Pago contra entrega" if any(f["name"] == "Pago contra entrega" for f in fees)
        else "Transferencia bancaria", "transaction_id": "",
        "date_paid": _local(paid_at) if paid_at else None, "date_paid_gmt": _gmt(paid_at) if paid_at else None,
        "date_completed": _local(modified) if status == "completed" else None,
        "date_completed_gmt": _gmt(modified) if status == "completed" else None,
        "cart_hash": "", "meta_data": meta, "line_items": [item for item, _, _, _ in lines],
        "tax_lines": [{"id": order_id * 10 + 5, "rate_code": "CO-IVA-1", "rate_id": 1, "label": "IVA",
                       "compound": False, "tax_total": money(cart_tax), "shipping_tax_total": money(ship_tax),
                       "rate_percent": 19}],
        "shipping_lines": shipping_lines, "fee_lines": fees,
        "coupon_lines": [{"id": order_id * 10 + 3, "code": "bienvenida10", "discount": money(discount),
                          "discount_tax": money(discount_tax), "meta_data": []}] if discount else [],
        "refunds": [], "set_paid": False, "is_editable": status in ("pending", "on-hold"),
        "needs_payment": status in ("pending", "on-hold"), "needs_processing": True,
        "_links": {"self": [{"href": f"{home}/wp-json/wc/v3/orders/{order_id}"}],
                   "collection": [{"href": f"{home}/wp-json/wc/v3/orders"}]},
    }


class WooCommerceState(RefundingStore):
    """One WooCommerce store, in memory and thread-safe, with its webhooks and refunds."""

    channel = "woocommerce"

    def __init__(self, *, consumer_key: str, consumer_secret: str, name: str = "Tienda Cafetera",
                 home: str = "https://tiendacafetera.example"):
        self.consumer_key, self.consumer_secret, self.name, self.home = consumer_key, consumer_secret, name, home
        self.orders: dict[int, dict] = {}
        self.refunds: dict[int, list[dict]] = {}  # order id -> its refunds, oldest first
        self.subscriptions: list[Subscription] = []
        self.sender = WebhookSender()
        self._clock = datetime(2000, 1, 1, tzinfo=UTC)
        self._listings = ListingCache()  # /orders listings; change orders through the methods below
        self._lock = threading.RLock()
        self.stock_listings = ListingStore.seeded(first_id=501, variation_first_id=901)
        self._init_refunds()

    @classmethod
    def seeded(cls, sales: list[SaleSpec], **kwargs) -> WooCommerceState:
        state = cls(**kwargs)
        with gc_paused():
            for spec in sales:
                state.add_sale(spec, notify=False)
        return state

    # -- helpers for tests, the demo and the chaos suite ------------------------------------

    def add_sale(self, spec: SaleSpec, *, notify: bool = True) -> int:
        order = render_sale(spec, home=self.home)
        with self._lock:
            self.orders[order["id"]] = order
            self._clock = max(self._clock, datetime.fromisoformat(order["date_modified_gmt"]).replace(tzinfo=UTC))
            self._listings.forget()
        self.plan_refunds(order["id"], spec.refunds)
        if notify:
            self.deliver("order.created", order["id"])
        return order["id"]

    def order(self, order_id: int) -> dict:
        with self._lock:
            return copy.deepcopy(self.orders[int(order_id)])

    def update_status(self, order_id: int, status: str, *, notify: bool = True) -> dict:
        """Change an order's status; bumps ``date_modified`` past every other order's and delivers
        ``order.updated``."""
        with self._lock:
            order = self.orders[int(order_id)]
            self._clock = max(self._clock + timedelta(seconds=1), datetime.now(UTC).replace(microsecond=0))
            order["status"] = status
            order["date_modified_gmt"] = _gmt(self._clock)
            order["date_modified"] = _local(self._clock)
            if status == "completed":
                order["date_completed_gmt"], order["date_completed"] = order["date_modified_gmt"], order["date_modified"]
            self._listings.forget()
        if notify:
            self.deliver("order.updated", int(order_id))
        return self.order(order_id)

    def refund(self, order_id: int, *, lines=None, shipping: bool = False, full: bool = False, reason: str = "",
               notify: bool = True) -> dict | None:
        """Give money back (see :meth:`sandbox.refunds.RefundingStore.refund`): a refund kept for
        ``GET /orders/{id}/refunds``, the order's summary and status, ``date_modified`` past every
        other order's, and ``order.updated`` delivered."""
        with self._lock:
            order = self.orders[int(order_id)]
            self._clock = max(self._clock + timedelta(seconds=1), datetime.now(UTC).replace(microsecond=0))
            refunds = self.refunds.setdefault(order["id"], [])
            refund = new_refund(order, refunds, lines=line_units(lines), shipping=shipping, full=full, reason=reason,
                                local=_local(self._clock), gmt=_gmt(self._clock))
            if refund is None:
                return None
            refunds.append(refund)
            in_full = summarise(order, refunds)
            order["date_modified_gmt"], order["date_modified"] = _gmt(self._clock), _local(self._clock)
            self._listings.forget()
            record = self._record_refund(refund_id=str(refund["id"]), order_id=order["id"],
                                         amount=Decimal(refund["amount"]), full=in_full, at=self._clock)
        if notify:
            self.deliver("order.updated", int(order_id))
        return record

    def order_refunds(self, order_id: int) -> list[dict] | None:
        """``GET /orders/{id}/refunds``: the order's refunds, newest first; None for an unknown order."""
        with self._lock:
            if int(order_id) not in self.orders:
                return None
            return copy.deepcopy(list(reversed(self.refunds.get(int(order_id), []))))

    def subscribe(self, url: str, secret: str, topics: tuple[str, ...] = ORDER_TOPICS) -> Subscription:
        subscription = Subscription(url, secret, topics, webhook_id=len(self.subscriptions) + 11)
        with self._lock:
            self.subscriptions.append(subscription)
        return subscription

    def deliver(self, topic: str, order_id: int) -> list:
        body = json_body(self.order(order_id))
        deliveries = []
        for subscription in list(self.subscriptions):
            if subscription.wants(topic):
                headers = woocommerce_headers(secret=subscription.secret or "", body=body, topic=topic,
                                              source=f"{self.home}/", webhook_id=subscription.webhook_id)
                deliveries.append(self.sender.post(subscription.url, body, headers))
        return deliveries

    def ping(self, subscription: Subscription):
        """The unsigned ping WooCommerce sends when a webhook is saved (it must be answered 200)."""
        return self.sender.post(subscription.url, f"webhook_id={subscription.webhook_id}".encode(),
                                {"User-Agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)",
                                 "Content-Type": "application/x-www-form-urlencoded"})

    # -- API behaviour ------------------------------------------------------------------------

    def authorized(self) -> bool:
        auth = request.authorization
        if auth is not None and auth.type == "basic":
            key, secret = auth.username, auth.password
        else:
            key, secret = request.args.get("consumer_key"), request.args.get("consumer_secret")
        return key == self.consumer_key and secret == self.consumer_secret

    def listing_page(self, *, status: str, modified_after: datetime | None, orderby: str, order: str, page: int,
                     per_page: int) -> tuple[list[dict], int]:
        """One page of ``/orders`` (``page`` from 1) and how many orders the whole listing has."""
        query = (status, modified_after, orderby, order)
        with self._lock:
            ids = self._listings.ids(query, lambda: self._listing_ids(status, modified_after, orderby, order))
            start = (page - 1) * per_page
            return [copy.deepcopy(self.orders[order_id]) for order_id in ids[start:start + per_page]], len(ids)

    def _listing_ids(self, status: str, modified_after: datetime | None, orderby: str, order: str) -> list[int]:
        orders = [o for o in self.orders.values() if (o["status"] != "trash" if status == "any"
                                                      else o["status"] in status.split(","))]
        if modified_after is not None:
            orders = [o for o in orders
                      if datetime.fromisoformat(o["date_modified_gmt"]).replace(tzinfo=UTC) > modified_after]
        key = {"date": "date_created_gmt", "modified": "date_modified_gmt", "id": "id"}.get(orderby, "date_created_gmt")
        orders.sort(key=lambda o: (o[key], o["id"]), reverse=order == "desc")
        return [o["id"] for o in orders]


def _error(status: int, code: str, message: str, **headers: str):
    response = jsonify({"code": code, "message": message, "data": {"status": status}})
    response.status_code = status
    response.headers.update(headers)
    return response


def create_app(state: WooCommerceState, knobs: Knobs | None = None) -> Flask:
    """The Flask app serving ``state`` like a WordPress site (REST under ``/wp-json``)."""
    knobs = knobs or Knobs(rate_limit_per_minute=0)
    app = Flask("sandbox.woocommerce")
    install_fault_hooks(app, knobs, maintenance_body={"code": "maintenance", "message": "Mantenimiento programado.",
                                                      "data": {"status": 503}})
    install_refund_routes(app, state)
    install_product_routes(app, state.stock_listings, knobs)

    @app.before_request
    def _throttle_and_authenticate():
        if request.path.startswith("/_sandbox") or request.path.rstrip("/") == "/wp-json":
            return None
        if knobs.chance(knobs.burst_429_rate):
            return _error(429, "too_many_requests", "Demasiadas peticiones.", **{"Retry-After": "1"})
        if not state.authorized():
            return _error(401, "woocommerce_rest_cannot_view", "Lo siento, no puedes ver los recursos.")
        return None

    @app.get("/wp-json/")
    @app.get("/wp-json")
    def index():
        return jsonify({"name": state.name, "description": "Café, panela y artesanías de Colombia",
                        "url": state.home, "home": state.home, "gmt_offset": "-5",
                        "timezone_string": "America/Bogota", "namespaces": ["oembed/1.0", "wp/v2", "wc/v3"],
                        "authentication": [], "routes": {}})

    @app.get("/wp-json/wc/v3/orders")
    def orders():
        args = request.args
        try:
            page, per_page = int(args.get("page", 1)), int(args.get("per_page", 10))
            modified_after = args.get("modified_after")
            since = datetime.fromisoformat(modified_after) if modified_after else None
        except ValueError:
            return _error(400, "rest_invalid_param", "Parámetro(s) no válido(s): page, per_page, modified_after")
        if since is not None and since.tzinfo is None:
            gmt = args.get("dates_are_gmt", "false").lower() in ("true", "1")
            since = since.replace(tzinfo=UTC if gmt else STORE_TZ)
        if not 1 <= per_page <= MAX_PER_PAGE or page < 1:
            return _error(400, "rest_invalid_param", "Parámetro(s) no válido(s): per_page")
        listed, total = state.listing_page(status=args.get("status", "any"), modified_after=since,
                                           orderby=args.get("orderby", "date"), order=args.get("order", "desc"),
                                           page=page, per_page=per_page)
        pages = max(1, -(-total // per_page))
        response = jsonify(listed)
        response.headers["X-WP-Total"] = str(total)
        response.headers["X-WP-TotalPages"] = str(pages)
        base = f"{request.host_url.rstrip('/')}{request.path}"
        links = []
        if page > 1:
            links.append(f'<{base}?page={page - 1}&per_page={per_page}>; rel="prev"')
        if page < pages:
            links.append(f'<{base}?page={page + 1}&per_page={per_page}>; rel="next"')
        if links:
            response.headers["Link"] = ", ".join(links)
        return response

    @app.get("/wp-json/wc/v3/orders/<int:order_id>/refunds")
    def order_refunds(order_id: int):
        found = state.order_refunds(order_id)
        if found is None:
            return _error(404, "woocommerce_rest_shop_order_invalid_id", "ID no válido.")
        response = jsonify(found)
        response.headers["X-WP-Total"], response.headers["X-WP-TotalPages"] = str(len(found)), "1"
        return response

    @app.get("/wp-json/wc/v3/orders/<int:order_id>")
    def order(order_id: int):
        with state._lock:
            found = copy.deepcopy(state.orders.get(order_id))
        return jsonify(found) if found else _error(404, "woocommerce_rest_shop_order_invalid_id", "ID no válido.")

    return app
