"""A loopback imitation of Alegra's REST API v1, seeded from :mod:`sandbox.catalog`.

It behaves like the real thing where the connector cares: Basic auth, a fixed-window rate limit with
``X-Rate-Limit-*`` headers, ``start``/``limit`` (max 30) lists, contains-match contact search,
Alegra-style error envelopes, invoice totals computed the way Alegra does, and the faults of
:mod:`sandbox.knobs` (including "committed, then the answer never arrived").

Item shapes (the adapter's parser also accepts other readings, see ``erp/alegra/parsing.py``)::

    simple   {"id", "type": "product", "reference": "CAF-HUI-500",
              "customFields": [{"id": 1, "name": "Código de barras", "value": "<ean>"}], "price", "tax", ...}
    parent   {"id", "type": "variantParent", "variantAttributes": [{"id", "name", "options": [{"id", "value"}]}],
              "itemVariants": [{"id", "name", "reference", "variantAttributes", "status"}], ...}
    variant  {"id", "type": "variant", "name": "Camiseta algodón pima / Blanco / M", "idItemParent": <parent id>,
              "reference": "CAM-PIM-BLANCO-M", "variantAttributes": [{"name": "Color", "value": "Blanco"}, ...],
              "customFields": [{"id": 1, "name": "Código de barras", "value": "<ean>"}], price/tax as the parent}
"""

from __future__ import annotations

import copy
import hmac
import math
import secrets
import socket
import threading
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from flask import Flask, Response, g, jsonify, request

from sandbox.catalog import (
    BOGOTA,
    FINAL_CONSUMER_ID,
    NUMBER_TEMPLATES,
    PRICE_LISTS,
    PRODUCTS,
    SHIPPING_PRODUCT,
    TAXES,
    WAREHOUSES,
    Product,
)
from sandbox.knobs import Knobs, install_fault_hooks

API = "/api/v1"
MAX_LIMIT = 30
TEXT_LIMIT = 500
BARCODE_FIELD = {"id": 1, "name": "Código de barras", "key": "barcode", "dataType": "text"}
COMPANY = {
    "id": 1, "name": "Tienda Cafetera S.A.S.", "identification": "901234567", "dv": "8",
    "email": "facturacion@tiendacafetera.co", "regime": "COMMON_REGIME", "applicationVersion": "colombia",
    "currency": {"code": "COP", "symbol": "$"},
    "address": {"address": "Carrera 43A # 1-50", "city": "Medellín", "department": "Antioquia"},
}


class AlegraError(Exception):
    """An Alegra-style error answer: ``{"message", "code"}`` with an HTTP status."""

    def __init__(self, status: int, message: str, code: int | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code or status


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "-".join(plain.upper().split())


def _decimal(value: Any, what: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise AlegraError(400, f"El valor de {what} no es un número válido", 3010) from None
    if not number.is_finite():
        raise AlegraError(400, f"El valor de {what} no es un número válido", 3010)
    return number


def _money(value: Decimal) -> float:
    """Alegra answers amounts as JSON numbers, rounded to 2 decimals."""
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@dataclass
class AlegraState:
    """Everything the fake Alegra knows. Thread-safe: every access holds ``lock``.

    Tests read ``invoices`` (dicts as answered), ``contacts``, ``requests`` ("GET /items" -> count) and
    ``emails_sent``, and use :meth:`invoices_for_marker` and :meth:`item_id_for_barcode`.
    """

    users: dict[str, str]
    items: dict[int, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    taxes: list[dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(TAXES))
    warehouses: list[dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(WAREHOUSES))
    price_lists: list[dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(PRICE_LISTS))
    number_templates: list[dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(NUMBER_TEMPLATES))
    company: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(COMPANY))
    requests: Counter = field(default_factory=Counter)
    emails_sent: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _windows: dict[str, list[float]] = field(default_factory=dict, repr=False)  # user -> [start, count]

    @classmethod
    def seeded(cls, users: dict[str, str]) -> AlegraState:
        """The catalog of :mod:`sandbox.catalog` as Alegra items, plus the "Consumidor final" contact."""
        state = cls(users=dict(users))
        for product in (*PRODUCTS, SHIPPING_PRODUCT):
            state._add_product(product)
        state.add_contact({
            "name": "Consumidor final", "nameObject": {"firstName": "Consumidor", "lastName": "final"},
            "identificationObject": {"type": "CC", "number": FINAL_CONSUMER_ID},
            "kindOfPerson": "PERSON_ENTITY", "regime": "SIMPLIFIED_REGIME", "type": ["client"],
        })
        return state

    # -- seeding ---------------------------------------------------------------------------------

    def _base_item(self, product: Product, *, name: str, reference: str, kind: str) -> dict[str, Any]:
        tax = next(copy.deepcopy(t) for t in self.taxes if t["id"] == product.tax_id)
        wholesale = (product.price * Decimal("0.9")).quantize(Decimal("1"), rounding=ROUND_HALF_UP)
        item: dict[str, Any] = {
            "id": len(self.items) + 1, "name": name, "description": "", "reference": reference, "type": kind,
            "status": "active", "tax": [tax], "customFields": [],
            "price": [{"idPriceList": 1, "name": "General", "price": product.price},
                      {"idPriceList": 2, "name": "Mayorista", "price": wholesale}],
        }
        if kind in ("product", "variant"):
            item["inventory"] = {"unit": "unit", "availableQuantity": 40, "unitCost": product.price * Decimal("0.6"),
                                 "warehouses": [{"id": 1, "name": "Bodega principal", "availableQuantity": 40}]}
        self.items[item["id"]] = item
        return item

    def _add_product(self, product: Product) -> None:
        kind = product.kind
        parent = self._base_item(product, name=product.name, reference=product.reference, kind=kind)
        if product.barcode:
            parent["customFields"] = [{**BARCODE_FIELD, "value": product.barcode}]
        if kind != "variantParent":
            return
        parent["variantAttributes"] = [
            {"id": i + 1, "name": attribute,
             "options": [{"id": j + 1, "value": v} for j, v in enumerate(
                 dict.fromkeys(options[i] for options, _ in product.variants))]}
            for i, attribute in enumerate(product.attributes)
        ]
        parent["itemVariants"] = []
        for options, barcode in product.variants:
            variant = self._base_item(
                product, name=" / ".join((product.name, *options)), kind="variant",
                reference="-".join((product.reference, *map(_slug, options))),
            )
            variant["idItemParent"] = parent["id"]
            variant["variantAttributes"] = [{"name": a, "value": v}
                                            for a, v in zip(product.attributes, options, strict=True)]
            variant["customFields"] = [{**BARCODE_FIELD, "value": barcode}]
            parent["itemVariants"].append({k: variant[k] for k in
                                           ("id", "name", "reference", "variantAttributes", "status")})

    # -- helpers for tests and routes ------------------------------------------------------------

    def add_contact(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            contact = {"status": "active", **copy.deepcopy(payload), "id": len(self.contacts) + 1}
            number = _identification_of(contact)
            contact.setdefault("identificationObject", {"number": number})
            contact["identification"] = number
            self.contacts[contact["id"]] = contact
            return contact

    def invoices_for_marker(self, marker: str) -> list[dict[str, Any]]:
        """Every stored invoice whose ``observations`` contain ``marker`` (exactly-once checks)."""
        with self.lock:
            return [inv for inv in self.invoices if marker in (inv.get("observations") or "")]

    def item_id_for_barcode(self, barcode: str) -> int | None:
        with self.lock:
            for item in self.items.values():
                if any(f.get("value") == barcode for f in item.get("customFields", [])):
                    return item["id"]
        return None

    def count(self, endpoint: str) -> int:
        """Requests received for ``"POST /invoices"``-style keys (rules keep ``<id>`` placeholders)."""
        with self.lock:
            return self.requests[endpoint]

    def take_rate_slot(self, user: str, limit: int, window: float) -> tuple[bool, int, int]:
        """Count one request in ``user``'s fixed window: (allowed, remaining, seconds to reset)."""
        now = time.monotonic()
        with self.lock:
            slot = self._windows.get(user)
            if slot is None or now >= slot[0] + window:
                slot = self._windows[user] = [now, 0]
            slot[1] += 1
            reset = max(0, math.ceil(slot[0] + window - now))
            return slot[1] <= limit, max(0, limit - int(slot[1])), reset


def _identification_of(contact: dict[str, Any]) -> str | None:
    for key in ("identificationObject", "identification"):
        value = contact.get(key)
        if isinstance(value, dict):
            value = value.get("number")
        if value not in (None, ""):
            return str(value).strip()
    return None


# -- request helpers ------------------------------------------------------------------------------


def _page(records: list[dict[str, Any]], *, newest_first: bool = False) -> Any:
    """One ``start``/``limit`` page ordered by id (``order_direction`` ASC|DESC), maybe with metadata."""
    try:
        start = int(request.args.get("start", 0))
        limit = int(request.args.get("limit", MAX_LIMIT))
    except ValueError:
        raise AlegraError(400, "Los parámetros start y limit deben ser números", 1003) from None
    if limit > MAX_LIMIT:
        raise AlegraError(400, f"El límite de elementos por consulta no puede ser mayor a {MAX_LIMIT}", 1004)
    if start < 0 or limit < 0:
        raise AlegraError(400, "Los parámetros start y limit deben ser positivos", 1003)
    direction = request.args.get("order_direction", "DESC" if newest_first else "ASC").upper()
    records = sorted(records, key=lambda r: r["id"], reverse=direction == "DESC")
    data = copy.deepcopy(records[start:start + limit])
    if request.args.get("metadata", "").lower() == "true":
        return {"metadata": {"total": len(records)}, "data": data}
    return data


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise AlegraError(400, "El cuerpo de la petición debe ser un objeto JSON", 1001)
    return body


def _ref_id(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("id")
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _find(records: list[dict[str, Any]], ref: Any, what: str) -> dict[str, Any]:
    wanted = _ref_id(ref)
    for record in records:
        if record["id"] == wanted:
            return record
    raise AlegraError(400, f"{what} no existe", 3004)


def _day(value: Any, what: str) -> str:
    if not value:
        raise AlegraError(400, f"El campo {what} es obligatorio", 3001)
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise AlegraError(400, f"El campo {what} debe tener el formato yyyy-mm-dd", 3002) from None


def _drop_connection() -> Response:
    """Close the socket under the running request: the client sees the connection die, no answer.

    Werkzeug puts the connection in ``environ["werkzeug.socket"]``; after ``shutdown`` its own write
    fails with a broken pipe, which it treats as a client that went away. Without a socket (Flask's test
    client) the client gets an empty 200, which is just as ambiguous for a write.
    """
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    return Response(b"", status=200)


# -- invoices -------------------------------------------------------------------------------------


def _invoice_line(state: AlegraState, raw: Any, index: int) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise AlegraError(400, f"El ítem {index} de la factura no es válido", 3005)
    item = state.items.get(_ref_id(raw.get("id")) or -1)
    if item is None:
        raise AlegraError(400, f"El ítem con id {raw.get('id')} no existe", 3006)
    if item["type"] == "variantParent":
        raise AlegraError(400, f"El ítem {item['name']} tiene variantes: selecciona una de ellas", 3007)
    quantity = _decimal(raw.get("quantity"), "quantity")
    price = _decimal(raw.get("price", item["price"][0]["price"]), "price")
    discount = _decimal(raw.get("discount") or 0, "discount")
    if quantity <= 0:
        raise AlegraError(400, "La cantidad de los ítems debe ser mayor que cero", 3008)
    if price < 0:
        raise AlegraError(400, "El precio de los ítems no puede ser negativo", 3009)
    if not 0 <= discount <= 100:
        raise AlegraError(400, "El descuento debe estar entre 0 y 100", 3011)
    # An explicit "tax" list is used as sent (even empty); without the key the item's own taxes apply.
    taxes = [_find(state.taxes, t, "El impuesto") for t in raw["tax"]] if "tax" in raw else item["tax"]
    subtotal = price * quantity
    discount_value = subtotal * discount / 100
    tax_value = (subtotal - discount_value) * sum(Decimal(str(t["percentage"])) for t in taxes) / 100
    return {
        "id": item["id"], "name": item["name"], "description": raw.get("description") or item["description"],
        "reference": raw.get("reference") or item["reference"], "price": float(price), "discount": float(discount),
        "quantity": float(quantity), "tax": copy.deepcopy(taxes), "_subtotal": subtotal,
        "_discount": discount_value, "_tax": tax_value, "total": _money(subtotal - discount_value + tax_value),
    }


def _create_invoice(state: AlegraState, body: dict[str, Any]) -> dict[str, Any]:
    issued, due = _day(body.get("date"), "date"), _day(body.get("dueDate"), "dueDate")
    status = body.get("status", "draft")
    if status not in ("open", "draft"):
        raise AlegraError(400, "El estado de la factura debe ser open o draft", 3012)
    for key in ("observations", "anotation"):
        if len(str(body.get(key) or "")) > TEXT_LIMIT:
            raise AlegraError(400, f"El campo {key} no puede tener más de {TEXT_LIMIT} caracteres", 3013)
    client = state.contacts.get(_ref_id(body.get("client")) or -1)
    if client is None:
        raise AlegraError(400, "El cliente indicado no existe", 3003)
    raw_items = body.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise AlegraError(400, "La factura debe tener al menos un ítem", 3005)
    lines = [_invoice_line(state, raw, i + 1) for i, raw in enumerate(raw_items)]
    template = (_find(state.number_templates, body["numberTemplate"], "La numeración")
                if body.get("numberTemplate") else next(t for t in state.number_templates if t["isDefault"]))
    warehouse = _find(state.warehouses, body["warehouse"], "La bodega") if body.get("warehouse") else None
    price_list = _find(state.price_lists, body["priceList"], "La lista de precios") if body.get("priceList") else None
    wants_stamp = isinstance(body.get("stamp"), dict) and bool(body["stamp"].get("generateStamp"))
    if wants_stamp and status == "open" and not template["isElectronic"]:
        raise AlegraError(400, "La numeración seleccionada no es de facturación electrónica", 3014)
    invoice = {
        "id": len(state.invoices) + 1, "date": issued, "dueDate": due,
        "datetime": datetime.now(BOGOTA).strftime("%Y-%m-%d %H:%M:%S"), "status": status,
        "client": {k: client.get(k) for k in ("id", "name", "identification")},
        "observations": body.get("observations") or "", "anotation": body.get("anotation") or "",
        "paymentForm": body.get("paymentForm"), "paymentMethod": body.get("paymentMethod"),
        "warehouse": {"id": warehouse["id"], "name": warehouse["name"]} if warehouse else None,
        "priceList": {"id": price_list["id"], "name": price_list["name"]} if price_list else None,
        "currency": {"code": "COP", "symbol": "$"}, "stamp": None,
        "numberTemplate": {"id": str(template["id"]), "prefix": template["prefix"], "number": None,
                           "fullNumber": None, "isElectronic": template["isElectronic"]},
    }
    subtotal = sum((line.pop("_subtotal") for line in lines), Decimal("0"))
    discount = sum((line.pop("_discount") for line in lines), Decimal("0"))
    tax = sum((line.pop("_tax") for line in lines), Decimal("0"))
    total = (subtotal - discount + tax).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    invoice.update(items=lines, subtotal=_money(subtotal), discount=_money(discount), tax=_money(tax),
                   total=float(total), totalPaid=0, balance=float(total))
    if status == "open":
        _open_invoice(invoice, template, stamp=wants_stamp)
    state.invoices.append(invoice)
    return invoice


def _open_invoice(invoice: dict[str, Any], template: dict[str, Any], *, stamp: bool) -> None:
    """Give the invoice its number (and its CUFE when stamped), as Alegra does when it leaves draft."""
    number = template["nextInvoiceNumber"]
    template["nextInvoiceNumber"] = number + 1
    invoice["status"] = "open"
    invoice["numberTemplate"].update(number=str(number), fullNumber=f"{template['prefix']}{number}")
    if stamp and template["isElectronic"]:
        invoice["stamp"] = {"legalStatus": "STAMPED_AND_ACCEPTED", "cufe": secrets.token_hex(48),
                            "date": datetime.now(BOGOTA).strftime("%Y-%m-%d %H:%M:%S")}


# -- the app --------------------------------------------------------------------------------------


def create_app(state: AlegraState, knobs: Knobs) -> Flask:
    """The Flask app serving ``/api/v1`` over ``state``, with ``knobs``' faults installed."""
    app = Flask("sandbox.alegra")

    @app.before_request
    def _count_request():
        rule = request.url_rule.rule if request.url_rule else request.path
        if rule.startswith(API):
            with state.lock:
                state.requests[f"{request.method} {rule[len(API):] or '/'}"] += 1

    install_fault_hooks(app, knobs)

    @app.before_request
    def _authenticate_and_limit():
        if not request.path.startswith(API):
            return None
        auth = request.authorization
        user, token = (auth.username, auth.password) if auth and auth.type == "basic" else (None, None)
        expected = state.users.get(user or "")
        if expected is None or not hmac.compare_digest(str(token or ""), expected):
            return jsonify({"message": "Las credenciales no son válidas", "code": 401}), 401
        limit = knobs.rate_limit_per_minute
        if limit > 0:
            allowed, remaining, reset = state.take_rate_slot(user, limit, knobs.rate_window_seconds)
            g.rate_headers = {"X-Rate-Limit-Limit": str(limit), "X-Rate-Limit-Remaining": str(remaining),
                              "X-Rate-Limit-Reset": str(reset)}
            if not allowed:
                return jsonify({"message": "Has superado el límite de peticiones por minuto. "
                                           "Intenta de nuevo en unos segundos.", "code": 429}), 429
        if knobs.chance(knobs.burst_429_rate, "burst_429_rate"):
            g.rate_headers = getattr(g, "rate_headers", None) or {"Retry-After": "1"}
            return jsonify({"message": "Demasiadas peticiones, intenta más tarde.", "code": 429}), 429
        return None

    @app.after_request
    def _rate_headers(response: Response) -> Response:
        response.headers.update(getattr(g, "rate_headers", {}))
        return response

    @app.errorhandler(AlegraError)
    def _alegra_error(exc: AlegraError):
        return jsonify({"message": exc.message, "code": exc.code}), exc.status

    @app.errorhandler(404)
    def _not_found(_exc):
        return jsonify({"message": "El recurso solicitado no existe", "code": 404}), 404

    @app.errorhandler(405)
    def _not_allowed(_exc):
        return jsonify({"message": "Método no permitido", "code": 405}), 405

    def _one(records: dict[int, dict[str, Any]], record_id: int, what: str):
        with state.lock:
            record = records.get(record_id)
            if record is None:
                raise AlegraError(404, f"{what} no existe", 404)
            return jsonify(copy.deepcopy(record))

    @app.get(f"{API}/company")
    def company():
        return jsonify(state.company)

    @app.get(f"{API}/items")
    def list_items():
        query = request.args.get("query", "").casefold()
        with state.lock:
            found = [i for i in state.items.values()
                     if not query or query in i["name"].casefold() or query in (i["reference"] or "").casefold()]
            return jsonify(_page(found))

    @app.get(f"{API}/items/<int:item_id>")
    def get_item(item_id: int):
        return _one(state.items, item_id, "El ítem")

    for path, attribute in (("warehouses", "warehouses"), ("price-lists", "price_lists"), ("taxes", "taxes"),
                            ("number-templates", "number_templates")):
        def list_settings(attribute: str = attribute):
            with state.lock:
                return jsonify(_page(getattr(state, attribute)))

        app.add_url_rule(f"{API}/{path}", f"list_{attribute}", list_settings, methods=["GET"])

    @app.get(f"{API}/contacts")
    def list_contacts():
        identification = request.args.get("identification", "").strip()
        query = request.args.get("query", "").casefold()
        with state.lock:
            found = [c for c in state.contacts.values()
                     if identification in (_identification_of(c) or "")
                     and (not query or query in c["name"].casefold())]
            return jsonify(_page(found))

    @app.get(f"{API}/contacts/<int:contact_id>")
    def get_contact(contact_id: int):
        return _one(state.contacts, contact_id, "El contacto")

    @app.post(f"{API}/contacts")
    def create_contact():
        body = _json_body()
        name_object = body.get("nameObject") if isinstance(body.get("nameObject"), dict) else {}
        name = str(body.get("name") or " ".join(str(v) for v in name_object.values() if v)).strip()
        if not name:
            raise AlegraError(400, "El nombre del contacto es obligatorio", 2001)
        if not _identification_of(body):
            raise AlegraError(400, "La identificación del contacto es obligatoria", 2002)
        return jsonify(state.add_contact({**body, "name": name})), 201

    @app.post(f"{API}/invoices")
    def create_invoice():
        body = _json_body()
        if knobs.chance(knobs.reset_before_commit_rate, "reset_before_commit_rate"):
            return _drop_connection()
        with state.lock:
            invoice = copy.deepcopy(_create_invoice(state, body))
        if knobs.chance(knobs.reset_after_commit_rate, "reset_after_commit_rate"):
            return _drop_connection()
        if knobs.chance(knobs.timeout_after_commit_rate, "timeout_after_commit_rate"):
            time.sleep(knobs.commit_stall_seconds)
        return jsonify(invoice), 201

    @app.get(f"{API}/invoices")
    def list_invoices():
        day, client_id = request.args.get("date"), _ref_id(request.args.get("client_id"))
        status = request.args.get("status")
        with state.lock:
            found = [inv for inv in state.invoices
                     if (not day or inv["date"] == day) and (client_id is None or inv["client"]["id"] == client_id)
                     and (not status or inv["status"] == status)]
            return jsonify(_page(found, newest_first=True))

    @app.get(f"{API}/invoices/<int:invoice_id>")
    def get_invoice(invoice_id: int):
        with state.lock:
            return _one({inv["id"]: inv for inv in state.invoices}, invoice_id, "La factura")

    @app.post(f"{API}/invoices/stamp")
    def stamp_invoices():
        ids = _json_body().get("ids")
        if not isinstance(ids, list) or not ids:
            raise AlegraError(400, "Debes indicar los ids de las facturas a emitir", 3020)
        if len(ids) > 10:
            raise AlegraError(400, "Puedes emitir máximo 10 facturas por petición", 3021)
        with state.lock:
            by_id = {inv["id"]: inv for inv in state.invoices}
            chosen = [by_id.get(_ref_id(i) or -1) for i in ids]
            if any(inv is None for inv in chosen):
                raise AlegraError(400, "Alguna de las facturas indicadas no existe", 3022)
            for invoice in chosen:
                template = _find(state.number_templates, invoice["numberTemplate"], "La numeración")
                if not template["isElectronic"]:
                    raise AlegraError(400, "La numeración de la factura no es electrónica", 3014)
                if invoice["status"] == "draft":
                    _open_invoice(invoice, template, stamp=True)
                elif invoice["stamp"] is None:
                    invoice["stamp"] = {"legalStatus": "STAMPED_AND_ACCEPTED", "cufe": secrets.token_hex(48)}
            return jsonify(copy.deepcopy(chosen))

    @app.post(f"{API}/invoices/<int:invoice_id>/email")
    def email_invoice(invoice_id: int):
        emails = _json_body().get("emails")
        if not isinstance(emails, list) or not emails or not all("@" in str(e) for e in emails):
            raise AlegraError(400, "Debes indicar al menos un correo válido", 3030)
        with state.lock:
            if not any(inv["id"] == invoice_id for inv in state.invoices):
                raise AlegraError(404, "La factura no existe", 404)
            state.emails_sent.append({"invoice_id": invoice_id, "emails": list(emails)})
        return jsonify({"code": 200, "message": "La factura fue enviada por correo"})

    return app
