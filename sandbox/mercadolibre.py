"""A loopback Mercado Libre: OAuth with rotating refresh tokens, orders, shipments and billing info.

Each :class:`~sandbox.catalog.SaleSpec` is rendered into the documented JSON of an order, its
shipment and (when the buyer gave a document) its billing info (:mod:`sandbox.mercadolibre_orders`).
Refunds show on the order's payments (:mod:`sandbox.mercadolibre_refunds`). Faithful details the adapter must
cope with: dates carry ``-04:00``; ``/orders/search`` sorts by *creation* date and refuses
``limit > 51``; the refresh token works once; ``/shipments/{id}`` answers the new format
(``logistic``, ``lead_time``) only with ``x-format-new: true``; 429s carry no headers. Fiscal documents
(the invoice attached to a pack) live in :mod:`sandbox.mercadolibre_documents`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from flask import Flask, jsonify, redirect, render_template_string, request

from sandbox.backlog import ListingCache, gc_paused
from sandbox.catalog import SaleSpec
from sandbox.countries import sandbox_country
from sandbox.knobs import Knobs, install_fault_hooks
from sandbox.mercadolibre_documents import FiscalDocumentStore, install_fiscal_document_routes
from sandbox.mercadolibre_orders import (  # noqa: F401  (re-exported: tests and the oracle use them)
    BILLING_INFO_ID_BASE,
    ML_TZ,
    ORDER_ID_BASE,
    PACK_ID_BASE,
    SHIPMENT_ID_BASE,
    _iso,
    localize_sale,
    new_format_shipment,
    render_sale,
)
from sandbox.mercadolibre_refunds import give_back
from sandbox.refunds import RefundingStore, install_refund_routes, line_units

ACCESS_TOKEN_SECONDS = 21600
MAX_LIMIT = 51
ORDER_STATUSES = {"confirmed", "payment_required", "payment_in_process", "partially_paid", "paid",
                  "cancelled", "invalid", "pending_cancel", "partially_refunded"}


def _error(status: int, error: str, message: str):
    return jsonify({"message": message, "error": error, "status": status, "cause": []}), status


class MercadoLibreState(RefundingStore):
    """One seller's Mercado Libre world, in memory and thread-safe. Refunds (:mod:`sandbox.refunds`,
    shown as :mod:`sandbox.mercadolibre_refunds` says) come over time or on demand (:meth:`refund`);
    ``refund_listeners`` are told each refunded order's id (the notifier sends ``orders_v2``)."""

    channel = "mercadolibre"

    def __init__(self, *, user_id: int, client_id: str, client_secret: str, refresh_token: str,
                 nickname: str = "TIENDACAFETERA", site_id: str | None = None, country: str | None = None):
        self.country = sandbox_country(country)
        self.user_id, self.nickname = int(user_id), nickname
        self.site_id = site_id or self.country.site_id
        self.client_id, self.client_secret, self.refresh_token = str(client_id), client_secret, refresh_token
        self.access_tokens: dict[str, float] = {}  # token -> expiry (epoch seconds)
        self.authorization_codes: dict[str, dict] = {}  # code -> client_id, redirect_uri, PKCE, expiry
        self.authorizations = 0
        self.token_grants = 0
        self.max_offset = 10_000
        self.orders: dict[int, dict] = {}
        self.shipments: dict[int, dict] = {}
        self.billing_infos: dict[str, dict] = {}
        self._clock = datetime(2000, 1, 1, tzinfo=ML_TZ)  # latest last_updated handed out
        self.fiscal_documents = FiscalDocumentStore()  # /packs/{id}/fiscal_documents, every upload kept
        self._listings = ListingCache()  # /orders/search listings; change orders through the methods below
        self._lock = threading.RLock()
        self.refund_listeners: list[Callable[[int], Any]] = []
        self._init_refunds()

    @classmethod
    def seeded(cls, sales: list[SaleSpec], *, user_id: int, client_id: str, client_secret: str,
               refresh_token: str, country: str | None = None) -> MercadoLibreState:
        state = cls(user_id=user_id, client_id=client_id, client_secret=client_secret, refresh_token=refresh_token,
                    country=country)
        with gc_paused():
            for spec in sales:
                state.add_sale(spec)
        return state

    # -- helpers for tests, the demo and the chaos suite ------------------------------------

    def add_sale(self, spec: SaleSpec) -> int:
        """Render and store one sale; returns the order id."""
        order, shipment, billing = render_sale(spec, user_id=self.user_id)
        localize_sale(order, shipment, billing, self.country)
        with self._lock:
            self.orders[order["id"]] = order
            self.shipments[shipment["id"]] = shipment
            if billing is not None:
                self.billing_infos[order["buyer"]["billing_info"]["id"]] = billing
            self._clock = max(self._clock, datetime.fromisoformat(order["last_updated"]))
            self._listings.forget()
        self.plan_refunds(order["id"], spec.refunds)
        return order["id"]

    def order_ids(self) -> list[int]:
        with self._lock:
            return sorted(self.orders)

    def order(self, order_id: int) -> dict:
        with self._lock:
            return copy.deepcopy(self.orders[int(order_id)])

    def update_status(self, order_id: int, status: str, *, shipment_status: str | None = None) -> dict:
        """Change an order's status (and optionally its shipment's); bumps ``last_updated`` past
        every other order's so a ``date_last_updated.from`` cursor sees exactly this change."""
        if status not in ORDER_STATUSES:
            raise ValueError(f"unknown Mercado Libre order status {status!r}")
        with self._lock:
            order = self.orders[int(order_id)]
            shipment = self.shipments.get(order["shipping"]["id"])
            self._clock = max(self._clock + timedelta(seconds=1), datetime.now(ML_TZ).replace(microsecond=0))
            order["status"], order["last_updated"] = status, _iso(self._clock)
            self._listings.forget()
            if status == "cancelled" and shipment is not None:
                shipment_status = shipment_status or "cancelled"
            if status == "paid" and not order["paid_amount"]:
                order["paid_amount"] = order["total_amount"] + (shipment or {}).get("shipping_option", {}).get("cost", 0)
                order["tags"] = ["paid" if t == "not_paid" else t for t in order["tags"]]
            if shipment is not None and shipment_status:
                shipment["status"], shipment["last_updated"] = shipment_status, order["last_updated"]
                if shipment_status == "delivered":
                    order["tags"] = ["delivered" if t == "not_delivered" else t for t in order["tags"]]
            return copy.deepcopy(order)

    def refund(self, order_id: int, *, lines=None, shipping: bool = False, full: bool = False, reason: str = "",
               notify: bool = True) -> dict | None:
        """Give money back (see :meth:`sandbox.refunds.RefundingStore.refund`) on the order's payments;
        ``last_updated`` moves past every other order's and the ``refund_listeners`` are told. The
        record's ``refund_id`` is ``payment-<id>`` (of the last payment touched) and its amount all
        this refund gave back."""
        with self._lock:
            order = self.orders[int(order_id)]
            shipment = self.shipments.get(order["shipping"]["id"]) or {}
            self._clock = max(self._clock + timedelta(seconds=1), datetime.now(ML_TZ).replace(microsecond=0))
            at = _iso(self._clock)
            given = give_back(order, Decimal(str(shipment.get("shipping_option", {}).get("cost", 0))),
                              lines=line_units(lines), shipping=shipping, full=full, at=at)
            if not given:
                return None
            order["last_updated"] = at
            self._listings.forget()
            records = [self._record_refund(refund_id=f"payment-{payment_id}", order_id=order["id"], amount=amount,
                                           full=order["status"] == "cancelled" and n == len(given) - 1, at=self._clock)
                       for n, (payment_id, amount) in enumerate(given)]
        if notify:
            for listener in list(self.refund_listeners):
                listener(int(order_id))
        return records[-1]

    def pack_orders(self, pack_id: str) -> list[dict]:
        """Copies of a pack's orders, or of the one order whose id stands for its pack (no ``pack_id``)."""
        with self._lock:
            found = [o for o in self.orders.values() if str(o.get("pack_id")) == str(pack_id)]
            if not found and str(pack_id).isdigit():
                order = self.orders.get(int(pack_id))
                found = [order] if order is not None and order.get("pack_id") is None else []
            return copy.deepcopy(found)

    def expire_access_tokens(self) -> None:
        """Make every issued access token invalid (the next call answers 401)."""
        with self._lock:
            self.access_tokens.clear()

    # -- API behaviour ------------------------------------------------------------------------

    def authorize(self, *, client_id: str, redirect_uri: str, code_challenge: str | None = None,
                  code_challenge_method: str | None = None) -> str | None:
        """The seller said "Permitir": a one-use code (10 minutes) bound to the client and redirect_uri."""
        with self._lock:
            if client_id != self.client_id or not redirect_uri:
                return None
            code = f"TG-{secrets.token_hex(12)}-{self.user_id}"
            self.authorization_codes[code] = {"client_id": client_id, "redirect_uri": redirect_uri,
                                              "code_challenge": code_challenge,
                                              "code_challenge_method": code_challenge_method or "plain",
                                              "expires_at": time.time() + 600}
            self.authorizations += 1
            return code

    def _code_is_valid(self, form: dict[str, str]) -> bool:
        issued = self.authorization_codes.pop(form.get("code") or "", None)  # one use, even when refused
        if issued is None or issued["expires_at"] < time.time():
            return False
        if form.get("client_id") != issued["client_id"] or form.get("redirect_uri") != issued["redirect_uri"]:
            return False
        if form.get("client_secret") != self.client_secret:
            return False
        if issued["code_challenge"]:
            verifier = form.get("code_verifier") or ""
            if issued["code_challenge_method"] == "S256":
                digest = hashlib.sha256(verifier.encode()).digest()
                verifier = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if not secrets.compare_digest(verifier, issued["code_challenge"]):
                return False
        return True

    def grant(self, form: dict[str, str]) -> dict | None:
        """A token answer for a valid refresh-token or authorization-code grant (a new refresh token
        every time: the previous one stops working), else None."""
        with self._lock:
            if form.get("grant_type") == "authorization_code":
                if not self._code_is_valid(form):
                    return None
            elif (form.get("grant_type") != "refresh_token" or form.get("client_id") != self.client_id
                    or form.get("client_secret") != self.client_secret
                    or not form.get("refresh_token") or form.get("refresh_token") != self.refresh_token):
                return None
            access = f"APP_USR-{self.client_id}-{secrets.token_hex(12)}-{self.user_id}"
            self.refresh_token = f"TG-{secrets.token_hex(12)}-{self.user_id}"
            self.access_tokens[access] = time.time() + ACCESS_TOKEN_SECONDS
            self.token_grants += 1
            return {"access_token": access, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_SECONDS,
                    "scope": "offline_access read write", "user_id": self.user_id,
                    "refresh_token": self.refresh_token}

    def token_is_valid(self, token: str) -> bool:
        with self._lock:
            return self.access_tokens.get(token, 0) > time.time()

    def search(self, *, offset: int, limit: int, sort: str, filters: dict[str, datetime],
               status: str | None) -> dict:
        """One page of ``/orders/search``: the orders matching ``filters`` and ``status`` by creation
        date (``date_asc``/``date_desc``), with ``paging.total``."""
        query = (sort, status, tuple(sorted(filters.items())))
        with self._lock:
            ids = self._listings.ids(query, lambda: self._listing_ids(sort, filters, status))
            page = [copy.deepcopy(self.orders[order_id]) for order_id in ids[offset:offset + limit]]
            total = len(ids)
        return {"query": None, "results": page, "display": "complete",
                "sort": {"id": sort, "name": "Date ascending" if sort == "date_asc" else "Date descending"},
                "available_sorts": [{"id": s, "name": s} for s in ("date_asc", "date_desc") if s != sort],
                "filters": [], "paging": {"total": total, "offset": offset, "limit": limit}}

    def _listing_ids(self, sort: str, filters: dict[str, datetime], status: str | None) -> list[int]:
        orders = [o for o in self.orders.values() if _matches(o, filters, status)]
        orders.sort(key=lambda o: (o["date_created"], o["id"]), reverse=sort == "date_desc")
        return [o["id"] for o in orders]

    def find(self, collection: str, key: Any) -> dict | None:
        with self._lock:
            found = getattr(self, collection).get(key)
            return copy.deepcopy(found) if found is not None else None


_DATE_FILTERS = {"order.date_last_updated.from": ("last_updated", 1), "order.date_last_updated.to": ("last_updated", -1),
                 "order.date_created.from": ("date_created", 1), "order.date_created.to": ("date_created", -1)}


def _matches(order: dict, filters: dict[str, datetime], status: str | None) -> bool:
    if status and order["status"] != status:
        return False
    for name, bound in filters.items():
        field, direction = _DATE_FILTERS[name]
        value = datetime.fromisoformat(order[field])
        if (direction == 1 and value < bound) or (direction == -1 and value > bound):
            return False
    return True


def create_app(state: MercadoLibreState, knobs: Knobs | None = None) -> Flask:
    """The Flask app serving ``state`` at the root, like ``https://api.mercadolibre.com``."""
    knobs = knobs or Knobs(rate_limit_per_minute=0)
    app = Flask("sandbox.mercadolibre")
    install_fault_hooks(app, knobs, maintenance_body={
        "message": "Service temporarily unavailable", "error": "service_unavailable", "status": 503, "cause": []})
    recent: deque[float] = deque()
    recent_lock = threading.Lock()

    @app.before_request
    def _throttle_and_authenticate():
        if request.path.startswith("/_sandbox"):
            return None
        if knobs.chance(knobs.burst_429_rate) or _over_rate_limit(knobs, recent, recent_lock):
            return _error(429, "too_many_requests", "Too Many Requests")  # no headers, as documented
        if request.path in ("/oauth/token", "/authorization"):
            return None
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not token or not state.token_is_valid(token):
            return _error(401, "unauthorized", "invalid access token")
        return None

    @app.route("/authorization", methods=["GET", "POST"])
    def authorization():
        """Mercado Libre's consent page, reduced to "Permitir" / "Cancelar"."""
        params = request.values
        client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
        if params.get("response_type") != "code" or client_id != state.client_id or not redirect_uri:
            return render_template_string(_AUTHORIZATION_ERROR_PAGE), 400
        if request.method == "GET":
            return render_template_string(_AUTHORIZATION_PAGE, params=params, nickname=state.nickname)
        back = {"state": params["state"]} if params.get("state") else {}
        if params.get("decision") != "allow":
            return redirect(_with_query(redirect_uri, error="access_denied",
                                        error_description="The user denied the authorization", **back))
        code = state.authorize(client_id=client_id, redirect_uri=redirect_uri,
                               code_challenge=params.get("code_challenge"),
                               code_challenge_method=params.get("code_challenge_method"))
        return redirect(_with_query(redirect_uri, code=code, **back))

    @app.post("/oauth/token")
    def oauth_token():
        form = {**request.args.to_dict(), **request.form.to_dict()}
        answer = state.grant(form)
        if answer is None:
            return _error(400, "invalid_grant", "Error validating grant. Your authorization code or refresh "
                                                "token may be expired or it was already used")
        return jsonify(answer)

    @app.get("/users/me")
    def users_me():
        return jsonify({"id": state.user_id, "nickname": state.nickname, "site_id": state.site_id,
                        "country_id": state.country.code, "user_type": "normal", "tags": ["normal", "eshop"],
                        "permalink": f"http://perfil.mercadolibre.com.co/{state.nickname}",
                        "seller_reputation": {"level_id": "5_green", "power_seller_status": "gold"}})

    @app.get("/orders/search")
    def orders_search():
        args = request.args
        if args.get("seller") is None:
            return _error(400, "bad_request", "The seller or buyer param is required")
        if args.get("seller") != str(state.user_id):
            return _error(403, "forbidden", "Caller is not allowed to see the orders of this seller")
        try:
            offset, limit = int(args.get("offset", 0)), int(args.get("limit", MAX_LIMIT))
            filters = {name: _parse_filter(args[name]) for name in _DATE_FILTERS if name in args}
        except ValueError as exc:
            return _error(400, "bad_request", f"Invalid parameter: {exc}")
        sort = args.get("sort", "date_asc")
        if limit > MAX_LIMIT or limit < 1:
            return _error(400, "bad_request", f"Limit must be a lower or equal than {MAX_LIMIT}.")
        if offset < 0 or offset > state.max_offset:
            return _error(400, "bad_request", f"Offset must be between 0 and {state.max_offset}.")
        if sort not in ("date_asc", "date_desc"):
            return _error(400, "bad_request", f"Invalid sort {sort}")
        return jsonify(state.search(offset=offset, limit=limit, sort=sort, filters=filters,
                                    status=args.get("order.status")))

    @app.get("/orders/<int:order_id>")
    def get_order(order_id: int):
        order = state.find("orders", order_id)
        return jsonify(order) if order else _error(404, "not_found", f"Order {order_id} not found")

    @app.get("/orders/billing-info/<site_id>/<billing_info_id>")
    def get_billing_info(site_id: str, billing_info_id: str):
        billing = state.find("billing_infos", billing_info_id)
        if billing is None or site_id != billing["site_id"]:
            return _error(404, "not_found", "Billing info not found")
        return jsonify(billing)

    @app.get("/shipments/<int:shipment_id>")
    def get_shipment(shipment_id: int):
        shipment = state.find("shipments", shipment_id)
        if shipment is None:
            return _error(404, "not_found", f"Shipment {shipment_id} not found")
        new_format = request.headers.get("x-format-new", "").lower() == "true"
        return jsonify(new_format_shipment(shipment) if new_format else shipment)

    install_fiscal_document_routes(app, state, knobs)
    install_refund_routes(app, state)
    return app


_AUTHORIZATION_PAGE = """<!doctype html><html lang="es"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Autorizar aplicación</title></head>
<body style="font-family: sans-serif; max-width: 28rem; margin: 3rem auto; padding: 0 1rem">
<h1 style="font-size: 1.3rem">Mercado Libre (sandbox)</h1>
<p>Hola, <strong>{{ nickname }}</strong>. La aplicación <strong>{{ params.client_id }}</strong> quiere acceder a
tus ventas para facturarlas.</p>
<form method="post">
{% for key in ("response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method") %}
{% if params.get(key) %}<input type="hidden" name="{{ key }}" value="{{ params[key] }}">{% endif %}{% endfor %}
<button name="decision" value="allow">Permitir</button> <button name="decision" value="deny">Cancelar</button>
</form></body></html>"""
_AUTHORIZATION_ERROR_PAGE = """<!doctype html><html lang="es"><head><meta charset="utf-8"><title>Error</title></head>
<body><h1>La aplicación no es válida</h1><p>Revisa el client_id y el redirect_uri.</p></body></html>"""


def _with_query(url: str, **params: str) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def _parse_filter(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.strip().replace(" ", "+"))  # an unencoded '+' arrives as ' '
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ML_TZ)


def _over_rate_limit(knobs: Knobs, recent: deque[float], lock: threading.Lock) -> bool:
    """ML limits per application; ``rate_limit_per_minute <= 0`` turns the limit off."""
    if knobs.rate_limit_per_minute <= 0:
        return False
    now = time.monotonic()
    with lock:
        while recent and now - recent[0] > knobs.rate_window_seconds:
            recent.popleft()
        if len(recent) >= knobs.rate_limit_per_minute:
            return True
        recent.append(now)
        return False
