"""A loopback imitation of Alegra's REST API v1, seeded from :mod:`sandbox.catalog`.

It behaves like the real thing where the connector cares: Basic auth, a fixed-window rate limit with
``X-Rate-Limit-*`` headers, ``start``/``limit`` (max 30) lists, contains-match contact search,
Alegra-style error envelopes, invoice totals computed the way Alegra does, and the faults of
:mod:`sandbox.knobs` (including "committed, then the answer never arrived").

Split along its seams: :mod:`sandbox.alegra_http` (error envelope, readers, lists),
:mod:`sandbox.alegra_master_data` (items, contacts, warehouses, price lists, taxes, numberings),
:mod:`sandbox.alegra_invoices` (creating an invoice), :mod:`sandbox.alegra_stamps` (the e-invoice and
the tax authority's answer) and :mod:`sandbox.alegra_documents` (stamp, PDF, e-mail, bank accounts,
payments, and the records the chaos oracle reads) and :mod:`sandbox.alegra_credit_notes` (credit notes).

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
import threading
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask import Flask, Response, g, jsonify, request

from sandbox.alegra_credit_notes import CreditNoteRecords, install_credit_note_routes
from sandbox.alegra_documents import (
    BANK_ACCOUNTS,
    AlegraRecords,
    install_document_routes,
    pdf_link,
)
from sandbox.alegra_http import (
    AlegraError,
    find_record,
    json_body,
    page_of,
    ref_id,
)
from sandbox.alegra_inventory import move_stock, warehouse_of
from sandbox.alegra_invoices import store_invoice
from sandbox.alegra_master_data import identification_of, install_master_data_routes
from sandbox.alegra_stamps import StampLedger
from sandbox.alegra_webhooks import AlegraWebhooks, ItemChanges, install_webhook_routes
from sandbox.catalog import (
    NUMBER_TEMPLATES,
    PRICE_LISTS,
    TAXES,
    WAREHOUSES,
    Product,
    products_for,
    shipping_product_for,
)
from sandbox.countries import sandbox_country
from sandbox.knobs import Knobs, faulty_write, install_fault_hooks

API = "/api/v1"
TEXT_LIMIT = 500
BARCODE_FIELD = {"id": 1, "name": "Código de barras", "key": "barcode", "dataType": "text"}
COMPANY = {
    "id": 1, "name": "Tienda Cafetera S.A.S.", "identification": "901234567", "dv": "7",
    "email": "facturacion@tiendacafetera.co", "regime": "COMMON_REGIME", "applicationVersion": "colombia",
    "currency": {"code": "COP", "symbol": "$"},
    "address": {"address": "Carrera 43A # 1-50", "city": "Medellín", "department": "Antioquia"},
}


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "-".join(plain.upper().split())


@dataclass
class AlegraState(ItemChanges, CreditNoteRecords, AlegraRecords):
    """Everything the fake Alegra knows. Thread-safe: every access holds ``lock``.

    Tests read ``invoices`` (dicts as answered), ``contacts``, ``requests`` ("GET /items" -> count) and
    ``emails_sent``, and use :meth:`invoices_for_marker` and :meth:`item_id_for_barcode`. The records of
    what happened after the invoice (for the chaos oracle): :meth:`stamp_count`, :meth:`emails_for`,
    :meth:`payments_for`, :meth:`invoice` (e-invoice status settled) and :meth:`records` (all of them,
    also served at ``GET /_sandbox/records``). Credit notes (:mod:`sandbox.alegra_credit_notes`):
    ``credit_notes`` (dicts as answered), :meth:`credit_notes_for`, :meth:`credit_notes_for_marker`,
    :meth:`credit_note`, :meth:`credit_note_stamp_count` and ``records()["credit_notes"]``.
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
    emails_sent: list[dict[str, Any]] = field(default_factory=list)  # {"invoice_id", "emails"} per e-mail
    bank_accounts: list[dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(BANK_ACCOUNTS))
    payments: list[dict[str, Any]] = field(default_factory=list)  # as POST /payments answers them
    stamps: StampLedger = field(default_factory=StampLedger)
    credit_notes: list[dict[str, Any]] = field(default_factory=list)  # as POST /credit-notes answers them
    credit_note_stamps: StampLedger = field(default_factory=StampLedger)  # notes have ids of their own
    pdf_links: dict[str, tuple[int, float]] = field(default_factory=dict, repr=False)  # token -> (invoice, expiry)
    # Webhook subscriptions and deliveries (sandbox/alegra_webhooks.py): every change below is delivered.
    webhooks: AlegraWebhooks = field(default_factory=AlegraWebhooks)
    stock_changes: int = 0  # invoices and credit notes that moved stock (sandbox.alegra_inventory)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _windows: dict[str, list[float]] = field(default_factory=dict, repr=False)  # user -> [start, count]
    country: str = "CO"  # the account's country (sandbox.countries)

    @classmethod
    def seeded(cls, users: dict[str, str], country: str | None = None) -> AlegraState:
        """The catalog of :mod:`sandbox.catalog` as Alegra items, plus the "Consumidor final" contact, as an
        Alegra account of ``country`` serves them (:mod:`sandbox.countries`; default Colombia): its taxes,
        its prices, its number templates, its final consumer."""
        place = sandbox_country(country)
        state = cls(users=dict(users), taxes=copy.deepcopy(list(place.taxes)))
        state.country = place.code
        if place.number_templates:
            state.number_templates = copy.deepcopy(list(place.number_templates))
        state.company["currency"] = {"code": place.currency, "symbol": "$"}
        state.company["applicationVersion"] = {"CO": "colombia", "MX": "mexico", "PE": "peru",
                                               "PA": "panama"}[place.code]
        for product in (*products_for(place), shipping_product_for(place)):
            state._add_product(product)
        id_type, number = place.final_consumer
        state.add_contact({
            "name": "Consumidor final", "nameObject": {"firstName": "Consumidor", "lastName": "final"},
            "identificationObject": {"type": id_type, "number": number},
            "kindOfPerson": "PERSON_ENTITY", "type": ["client"],
            **({"regime": "SIMPLIFIED_REGIME"} if place.code == "CO" else {}),
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
            return self.replace_contact(max(self.contacts, default=0) + 1, payload)

    def replace_contact(self, contact_id: int, payload: dict[str, Any]) -> dict[str, Any]:
        """Store ``payload`` as contact ``contact_id`` (a new one, or ``PUT /contacts/{id}``); a copy back.
        Subscribers of ``new-client``/``edit-client`` are told."""
        with self.lock:
            event = "edit-client" if contact_id in self.contacts else "new-client"
            contact = {"status": "active", **copy.deepcopy(payload), "id": contact_id}
            number = identification_of(contact)
            contact.setdefault("identificationObject", {"number": number})
            contact["identification"] = number
            self.contacts[contact_id] = contact
            self.webhooks.notify(event, "client", contact)
            return copy.deepcopy(contact)

    def delete_contact(self, contact_id: int) -> bool:
        with self.lock:
            contact = self.contacts.pop(int(contact_id), None)
            if contact is not None:
                self.webhooks.notify("delete-client", "client", {"id": contact["id"]})
            return contact is not None

    def invoices_for_marker(self, marker: str) -> list[dict[str, Any]]:
        """Every stored invoice whose ``observations`` contain ``marker`` (exactly-once checks)."""
        with self.lock:
            return [inv for inv in self.invoices if marker in (inv.get("observations") or "")]

    def open_invoice(self, invoice: dict[str, Any], knobs: Knobs, *, stamp: bool) -> None:
        """Give a draft its number (as Alegra does when it leaves draft) and, with ``stamp`` on an
        electronic numbering, emit its e-invoice (:mod:`sandbox.alegra_stamps`). Caller holds the lock."""
        template = find_record(self.number_templates, invoice["numberTemplate"], "La numeración")
        if invoice["status"] == "draft":
            # Leaving draft is when Alegra moves the stock: the invoice's warehouse gives the units.
            move_stock(self, invoice["items"], warehouse_of(self, invoice.get("warehouse")), -1)
            number = template["nextInvoiceNumber"]
            template["nextInvoiceNumber"] = number + 1
            invoice["status"] = "open"
            invoice["numberTemplate"].update(number=str(number), fullNumber=f"{template['prefix']}{number}")
        if stamp and template["isElectronic"]:
            self.stamps.emit(invoice, self.contacts.get(invoice["client"]["id"]),
                             answer_delay=knobs.stamp_answer_delay, reject_share=knobs.stamp_reject_share)

    def settle_stamps(self) -> None:
        """Apply the authority's answers that are due (they show on the next read)."""
        with self.lock:
            self.stamps.settle(self.invoices)

    def invoice(self, invoice_id: int) -> dict[str, Any] | None:
        """A copy of one invoice as ``GET /invoices/{id}`` would answer it now."""
        with self.lock:
            self.settle_stamps()
            found = next((inv for inv in self.invoices if inv["id"] == int(invoice_id)), None)
            return copy.deepcopy(found) if found is not None else None

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

    @app.get(f"{API}/company")
    def company():
        return jsonify(state.company)

    @app.post(f"{API}/invoices")
    def create_invoice():
        body = json_body()

        def commit():
            with state.lock:
                invoice = store_invoice(state, body, knobs)
                state.webhooks.notify("new-invoice", "invoice", invoice)
                return jsonify(copy.deepcopy(invoice)), 201

        return faulty_write(knobs, commit)

    @app.get(f"{API}/invoices")
    def list_invoices():
        day, client_id = request.args.get("date"), ref_id(request.args.get("client_id"))
        status = request.args.get("status")
        with state.lock:
            state.settle_stamps()
            found = [inv for inv in state.invoices
                     if (not day or inv["date"] == day) and (client_id is None or inv["client"]["id"] == client_id)
                     and (not status or inv["status"] == status)]
            return jsonify(page_of(found, newest_first=True))

    @app.get(f"{API}/invoices/<int:invoice_id>")
    def get_invoice(invoice_id: int):
        with state.lock:
            invoice = state.invoice(invoice_id)
            if invoice is None:
                raise AlegraError(404, "La factura no existe", 404)
            if "pdf" in request.args.get("fields", "").split(","):
                invoice["pdf"] = pdf_link(state, invoice_id)
            return jsonify(invoice)

    install_master_data_routes(app, state, knobs)
    install_webhook_routes(app, state.webhooks, API, knobs)
    install_document_routes(app, state, knobs)
    install_credit_note_routes(app, state, knobs)
    return app
