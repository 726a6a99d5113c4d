"""A loopback imitation of Siigo API v1 (Siigo Nube, Colombia), seeded from :mod:`sandbox.catalog`.

It speaks the documented wire format where the connector cares (``erp/siigo/API_FACTS.md``): a token
from ``POST /auth`` (``username`` + ``access_key``) that expires, the ``Partner-Id`` header on every
call, ``{"Status", "Errors": [{"Code", "Message", "Params", "Detail"}]}`` errors, a fixed window of 100
requests a minute per company answered with ``429 requests_limit`` (no rate-limit headers, as
documented), pages of 25 (``page``/``page_size``, ``pagination`` + ``results``), products named by
``code``, customers by ``identification``, invoices whose ``payments`` must add up to the total Siigo
computes, the ``Idempotency-Key`` header on document creation, and the faults of :mod:`sandbox.knobs`.

Siigo has no variant items: each variant of the shared catalog is a product of its own (code = the
variant's reference). Documents (invoices' PDF, e-mail, DIAN errors, cash receipts, credit notes) live in
:mod:`sandbox.siigo_documents`.
"""

from __future__ import annotations

import copy
import hmac
import math
import re
import secrets
import threading
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask import Flask, jsonify, request

from sandbox.catalog import FINAL_CONSUMER_ID, PRODUCTS, SHIPPING_PRODUCT
from sandbox.knobs import Knobs, faulty_write, install_fault_hooks
from sandbox.siigo_documents import SiigoDocuments, install_document_routes
from sandbox.siigo_http import SiigoError, json_body, paged
from sandbox.siigo_invoices import install_invoice_routes
from sandbox.siigo_products import install_product_routes
from sandbox.siigo_webhooks import SiigoWebhooks, install_webhook_routes

V1 = "/v1"
SIIGO_TAX_IDS = {1: 13156, 2: 13157, 3: 13158}  # the shared catalog's tax ids -> this company's Siigo ids
_PARTNER_ID = re.compile(r"^[A-Za-z0-9]{3,100}$")


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "-".join(plain.upper().split())


@dataclass
class SiigoState(SiigoDocuments):
    """Everything the fake Siigo knows. Thread-safe: every access holds ``lock``.

    Tests read ``invoices``/``customers``/``credit_notes``/``vouchers`` (dicts as answered), ``requests``
    ("POST /v1/invoices" -> count), ``tokens_issued`` and use :meth:`invoices_for_marker`; the chaos
    oracle and the demo read :meth:`records`."""

    users: dict[str, str] = field(default_factory=dict)  # API username -> access key
    token_lifetime: float = 86400.0
    products: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> product
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)  # identification -> customer
    invoices: list[dict[str, Any]] = field(default_factory=list)
    requests: Counter = field(default_factory=Counter)
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict, repr=False)  # token -> (user, expiry)
    tokens_issued: int = 0
    webhooks: SiigoWebhooks = field(default_factory=SiigoWebhooks)  # product topics (sandbox.siigo_webhooks)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _windows: dict[str, list[float]] = field(default_factory=dict, repr=False)

    @classmethod
    def seeded(cls, users: dict[str, str]) -> SiigoState:
        state = cls(users=dict(users))
        # The invoices' sellers (``GET /v1/users``): the API user itself and a second one.
        state.users_list = [{"id": 629 + i, "username": name, "first_name": "Usuario", "last_name": f"API {i + 1}",
                             "email": name, "active": True, "identification": f"1383208{i}"}
                            for i, name in enumerate([*users, "ventas@tiendacafetera.co"])]
        for product in (*PRODUCTS, SHIPPING_PRODUCT):
            if product.kind == "variantParent":
                for options, barcode in product.variants:
                    state._add_product(code="-".join((product.reference, *map(_slug, options))),
                                       name=" / ".join((product.name, *options)), product=product, barcode=barcode)
            else:
                state._add_product(code=product.reference, name=product.name, product=product,
                                   barcode=product.barcode, kind="Service" if product.kind == "service" else "Product")
        state.customers[FINAL_CONSUMER_ID] = state._customer_record({
            "person_type": "Person", "id_type": "13", "identification": FINAL_CONSUMER_ID,
            "name": ["Consumidor", "final"], "address": {"address": "Sin dirección", "city": {
                "country_code": "Co", "state_code": "11", "city_code": "11001"}},
            "contacts": [{"first_name": "Consumidor", "last_name": "final"}]})
        return state

    def _add_product(self, *, code: str, name: str, product, barcode: str | None, kind: str = "Product") -> None:
        tax = next(t for t in self.taxes if t["id"] == SIIGO_TAX_IDS[product.tax_id])
        wholesale = float((product.price * Decimal("0.9")).quantize(Decimal("1")))
        self.products[code] = {
            "id": f"{len(self.products) + 1:08d}-4ebc-49de-bf75-6a6cc968a96d", "code": code, "name": name,
            "account_group": {"id": 1253, "name": "Productos"}, "type": kind, "stock_control": kind == "Product",
            "active": True, "tax_classification": "Taxed", "tax_included": False,
            "taxes": [{k: tax[k] for k in ("id", "name", "type", "percentage")}],
            "prices": [{"currency_code": "COP", "price_list": [
                {"position": 1, "name": "Precio de venta 1", "value": float(product.price)},
                {"position": 2, "name": "Mayorista", "value": wholesale}]}],
            "unit": {"code": "94", "name": "unidad"}, "unit_label": "unidad", "reference": code, "description": "",
            "additional_fields": {"barcode": barcode or "", "brand": "", "tariff": "", "model": ""},
            "available_quantity": 40 if kind == "Product" else 0,
            "warehouses": [{"id": 1270, "name": "Bodega principal", "quantity": 40}] if kind == "Product" else [],
            "metadata": {"created": "2026-01-15T13:00:00Z", "last_updated": None},
        }

    def _customer_record(self, body: dict[str, Any]) -> dict[str, Any]:
        names = body["name"]
        return {
            "id": f"{len(self.customers) + 1:08d}-b2eb-4b98-b3dd-26648a933c81", "type": body.get("type", "Customer"),
            "person_type": body["person_type"], "id_type": {"code": str(body["id_type"]), "name": ""},
            "identification": body["identification"], "check_digit": body.get("check_digit"),
            "name": list(names), "commercial_name": body.get("commercial_name", ""),
            "branch_office": int(body.get("branch_office") or 0), "active": body.get("active", True),
            "vat_responsible": bool(body.get("vat_responsible")),
            "fiscal_responsibilities": body.get("fiscal_responsibilities") or [{"code": "R-99-PN",
                                                                                "name": "No responsable"}],
            "address": copy.deepcopy(body["address"]), "phones": copy.deepcopy(body.get("phones") or []),
            "contacts": copy.deepcopy(body.get("contacts") or []), "comments": body.get("comments", ""),
            "metadata": {"created": _now_iso(), "last_updated": None},
        }

    # -- auth and the rate window ----------------------------------------------------------------

    def issue_token(self, username: str, access_key: str) -> str | None:
        expected = self.users.get(username)
        if expected is None or not hmac.compare_digest(access_key, expected):
            return None
        token = f"sandbox-siigo-{secrets.token_hex(16)}"
        with self.lock:
            self.tokens[token] = (username, time.monotonic() + self.token_lifetime)
            self.tokens_issued += 1
        return token

    def user_of(self, token: str) -> str | None:
        with self.lock:
            found = self.tokens.get(token)
            return found[0] if found and time.monotonic() < found[1] else None

    def expire_tokens(self) -> None:
        """Every token dies now (tests of the renewal on a 401)."""
        with self.lock:
            self.tokens.clear()

    def take_rate_slot(self, company: str, limit: int, window: float) -> tuple[bool, int]:
        """Count one request in the company's fixed window: (allowed, seconds to its end)."""
        now = time.monotonic()
        with self.lock:
            slot = self._windows.get(company)
            if slot is None or now >= slot[0] + window:
                slot = self._windows[company] = [now, 0]
            slot[1] += 1
            return slot[1] <= limit, max(1, math.ceil(slot[0] + window - now))

    def notify_product(self, topic: str, product: dict[str, Any]) -> int:
        """Deliver a product topic to its subscribers (the API user named in the delivery)."""
        return self.webhooks.notify_product(topic, product, next(iter(self.users), ""))

    def invoices_for_marker(self, marker: str) -> list[dict[str, Any]]:
        with self.lock:
            return [inv for inv in self.invoices if marker in (inv.get("observations") or "")]

    def count(self, endpoint: str) -> int:
        with self.lock:
            return self.requests[endpoint]


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _customer_body(body: dict[str, Any]) -> dict[str, Any]:
    """Siigo's checks on a customer (POST and PUT): the required fields and their documented forms."""
    for required in ("person_type", "id_type", "identification", "name", "address"):
        if body.get(required) in (None, "", []):
            raise SiigoError(400, "parameter_required", f"The field {required} is required", [required])
    if body["person_type"] not in ("Person", "Company"):
        raise SiigoError(400, "invalid_type", "person_type must be Person or Company", ["person_type"])
    if not re.fullmatch(r"[\dA-Za-z][\dA-Za-z-]+[\dA-Za-z]", str(body["identification"])):
        raise SiigoError(400, "invalid_identification", "Invalid identification", ["identification"])
    names = body["name"]
    if not isinstance(names, list) or not names or len(names) != (2 if body["person_type"] == "Person" else 1):
        raise SiigoError(400, "invalid_array", "Invalid name: Person takes two names, Company one", ["name"])
    city = body["address"].get("city") if isinstance(body["address"], dict) else None
    if not isinstance(city, dict) or not all(city.get(k) for k in ("country_code", "state_code", "city_code")):
        raise SiigoError(400, "parameter_required", "The field address.city is required", ["address.city"])
    if not body.get("contacts"):
        raise SiigoError(400, "parameter_required", "The field contacts is required", ["contacts"])
    return body


def create_app(state: SiigoState, knobs: Knobs) -> Flask:
    """The Flask app serving ``/auth`` and ``/v1`` over ``state``, with ``knobs``' faults installed."""
    app = Flask("sandbox.siigo")

    @app.before_request
    def _count_request():
        rule = request.url_rule.rule if request.url_rule else request.path
        with state.lock:
            state.requests[f"{request.method} {rule}"] += 1

    install_fault_hooks(app, knobs, maintenance_body={"Status": 503, "Errors": [{
        "Code": "service_unavailable", "Message": "Siigo API no está disponible: mantenimiento programado.",
        "Params": [], "Detail": ""}]})

    @app.before_request
    def _partner_token_and_window():
        if request.path.startswith("/_sandbox"):
            return None
        partner = request.headers.get("Partner-Id")
        if not partner:
            raise SiigoError(400, "header_required", "The header Partner-Id is required", ["Partner-Id"])
        if not _PARTNER_ID.match(partner):
            raise SiigoError(400, "invalid_partner_id", "Partner-Id: 3 to 100 alphanumeric characters",
                             ["Partner-Id"])
        if request.path == "/auth":
            company = "auth"
        else:
            header = request.headers.get("Authorization", "")
            company = state.user_of(header[7:] if header.startswith("Bearer ") else header)
            if company is None:
                raise SiigoError(401, "unauthorized", "El token de acceso es inválido o está vencido.", [])
        limit = knobs.rate_limit_per_minute
        if limit > 0 and company != "auth":
            allowed, reset = state.take_rate_slot(company, limit, knobs.rate_window_seconds)
            if not allowed:
                # *Unconfirmed*: Siigo documents no header on a 429. The sandbox sends Retry-After (what API
                # gateways commonly send) so a run with a compressed window is not read as 60-s windows;
                # the adapter honours it when present and assumes a whole minute otherwise.
                raise SiigoError(429, "requests_limit", "Too many requests: 100 per minute per company.", [],
                                 retry_after=reset)
        if knobs.chance(knobs.burst_429_rate, "burst_429_rate"):
            raise SiigoError(429, "requests_limit", "Too many requests, try again later.", [], retry_after=1)
        return None

    @app.post("/auth")
    def auth():
        body = json_body()
        token = state.issue_token(str(body.get("username") or ""), str(body.get("access_key") or ""))
        if token is None:
            raise SiigoError(401, "invalid_credentials", "El usuario o la access key no son válidos.", [])
        return jsonify({"access_token": token, "expires_in": int(state.token_lifetime), "token_type": "Bearer",
                        "scope": "SiigoAPI"}), 201

    # -- catalogs (plain arrays) ------------------------------------------------------------------

    for path, attribute in (("taxes", "taxes"), ("price-lists", "price_lists"), ("warehouses", "warehouses"),
                            ("users", "users_list"), ("cost-centers", "cost_centers")):
        def list_catalog(attribute: str = attribute):
            with state.lock:
                return jsonify(copy.deepcopy(getattr(state, attribute)))

        app.add_url_rule(f"{V1}/{path}", f"list_{attribute}", list_catalog, methods=["GET"])

    @app.get(f"{V1}/document-types")
    def document_types():
        wanted = request.args.get("type", "FV")
        with state.lock:
            return jsonify([copy.deepcopy(d) for d in state.document_types if d["type"] == wanted])

    @app.get(f"{V1}/payment-types")
    def payment_types():
        if not request.args.get("document_type"):
            raise SiigoError(400, "parameter_required", "The query parameter document_type is required",
                             ["document_type"])
        with state.lock:
            return jsonify(copy.deepcopy(state.payment_types))

    # -- products and customers -------------------------------------------------------------------

    @app.get(f"{V1}/products")
    def list_products():
        code = request.args.get("code")
        with state.lock:
            found = [p for p in reversed(list(state.products.values())) if not code or p["code"] == code]
            return jsonify(paged(found, "products"))

    @app.get(f"{V1}/products/<product_id>")
    def get_product(product_id: str):
        with state.lock:
            found = next((p for p in state.products.values() if p["id"] == product_id), None)
            if found is None:
                raise SiigoError(404, "not_found", "Resource not found", [])
            return jsonify(copy.deepcopy(found))

    @app.get(f"{V1}/customers")
    def list_customers():
        # *Unconfirmed* whether Siigo matches by contains: the sandbox does (the harder reading).
        wanted = request.args.get("identification", "")
        with state.lock:
            found = [c for c in state.customers.values() if wanted in c["identification"]]
            return jsonify(paged(found, "customers"))

    @app.get(f"{V1}/customers/<customer_id>")
    def get_customer(customer_id: str):
        with state.lock:
            found = next((c for c in state.customers.values() if c["id"] == customer_id), None)
            if found is None:
                raise SiigoError(404, "not_found", "Resource not found", [])
            return jsonify(copy.deepcopy(found))

    @app.post(f"{V1}/customers")
    def create_customer():
        body = _customer_body(json_body())

        def commit():
            with state.lock:
                if body["identification"] in state.customers:
                    raise SiigoError(400, "already_exists", "The customer already exists", ["identification"])
                state.customers[body["identification"]] = record = state._customer_record(body)
                return jsonify(copy.deepcopy(record)), 201

        return faulty_write(knobs, commit)

    @app.put(f"{V1}/customers/<customer_id>")
    def update_customer(customer_id: str):
        body = _customer_body(json_body())

        def commit():
            with state.lock:
                old = next((c for c in state.customers.values() if c["id"] == customer_id), None)
                if old is None:
                    raise SiigoError(404, "not_found", "Resource not found", [])
                if body["identification"] != old["identification"]:
                    raise SiigoError(400, "non_editable", "The identification cannot change", ["identification"])
                record = state._customer_record(body) | {"id": old["id"], "metadata": old["metadata"]}
                state.customers[old["identification"]] = record
                return jsonify(copy.deepcopy(record))

        return faulty_write(knobs, commit)

    @app.errorhandler(SiigoError)
    def _siigo_error(exc: SiigoError):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}
        return jsonify(exc.body()), exc.status, headers

    @app.errorhandler(404)
    def _not_found(_exc):
        return jsonify(SiigoError(404, "not_found", "Resource not found", []).body()), 404

    @app.errorhandler(405)
    def _not_allowed(_exc):
        return jsonify(SiigoError(405, "invalid_type", "Method not allowed", []).body()), 405

    install_invoice_routes(app, state, knobs)
    install_product_routes(app, state, knobs)
    install_webhook_routes(app, state.webhooks, knobs)
    install_document_routes(app, state, knobs)
    return app
