"""Sales invoices in the Siigo sandbox: ``POST /v1/invoices`` checked the way Siigo documents it (items by
code, totals by its rounding formula, payments that must add up, the ``Idempotency-Key``, the DIAN's
answer when ``stamp.send``), and the list and read endpoints with their documented filters."""

from __future__ import annotations

import copy
import hashlib
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask import Flask, jsonify, request

from sandbox.catalog import BOGOTA
from sandbox.knobs import Knobs, faulty_write
from sandbox.siigo_http import SiigoError, cents, json_body, money, number, paged
from sandbox.siigo_products import lower_stock

if TYPE_CHECKING:
    from sandbox.siigo import SiigoState

OBSERVATIONS_LIMIT = 4000
CHARGED_TAX_TYPES = {"IVA", "Impoconsumo", "AdValorem"}


def priced_items(state: SiigoState, raw_items: Any, *, discount_by_value: bool) -> list[dict[str, Any]]:
    """Items as Siigo stores them, each with its total by the documented formula:
    ``base = round(quantity × price − discount, 2)``, ``tax = round(base × rate / 100, 2)``."""
    if not isinstance(raw_items, list) or not raw_items:
        raise SiigoError(400, "parameter_required", "The field items is required", ["items"])
    if len(raw_items) > 500:
        raise SiigoError(400, "invalid_array", "At most 500 items", ["items"])
    items = []
    for index, raw in enumerate(raw_items):
        if not isinstance(raw, dict):
            raise SiigoError(400, "invalid_type", f"items[{index}] must be an object", ["items"])
        product = state.products.get(str(raw.get("code") or ""))
        if product is None or not product["active"]:
            raise SiigoError(400, "invalid_reference", f"The product code {raw.get('code')} does not exist",
                             ["items.code"])
        quantity = number(raw.get("quantity"), "items.quantity", places=2)
        price = number(raw.get("price"), "items.price", places=6)
        if quantity <= 0 or price < 0:
            raise SiigoError(400, "invalid_value", "quantity must be positive and price not negative",
                             ["items.quantity"])
        given = number(raw.get("discount") or 0, "items.discount", places=2)
        gross = quantity * price
        discount = given if discount_by_value else cents(gross * given / 100)
        if not 0 <= discount <= gross:
            raise SiigoError(400, "invalid_amount", "The discount cannot exceed the item's value", ["items.discount"])
        base = cents(gross - discount)
        taxes = []
        for ref in raw.get("taxes") or []:
            tax = next((t for t in state.taxes if isinstance(ref, dict) and t["id"] == ref.get("id")), None)
            if tax is None or not tax["active"]:
                raise SiigoError(400, "invalid_reference", f"The tax {ref} does not exist", ["items.taxes.id"])
            if tax["type"] not in CHARGED_TAX_TYPES:
                raise SiigoError(400, "invalid_array", "Retentions go in retentions, not in items", ["items.taxes"])
            if any(t["type"] == tax["type"] for t in taxes):
                raise SiigoError(400, "invalid_array", "Two taxes of one type in an item", ["items.taxes"])
            taxes.append({**{k: tax[k] for k in ("id", "name", "type", "percentage")},
                          "value": money(cents(base * Decimal(str(tax["percentage"])) / 100))})
        total = base + sum((Decimal(str(t["value"])) for t in taxes), Decimal(0))
        items.append({"id": product["id"], "code": product["code"],
                      "description": raw.get("description") or product["name"], "quantity": money(quantity),
                      "price": money(price), "discount": {"percentage": money(cents(discount / gross * 100)) if gross
                                                          else 0, "value": money(discount)},
                      "taxes": taxes, "total": money(total), "_total": total})
    return items


def read_payments(state: SiigoState, raw: Any, total: Decimal, *, what: str = "invoice") -> list[dict[str, Any]]:
    """``payments [{id, value, due_date}]``: known forms, one only when it is a credit, adding up to ``total``."""
    if not isinstance(raw, list) or not raw:
        raise SiigoError(400, "parameter_required", "The field payments is required", ["payments"])
    payments = []
    for entry in raw:
        form = next((p for p in state.payment_types if isinstance(entry, dict) and p["id"] == entry.get("id")), None)
        if form is None or not form["active"]:
            raise SiigoError(400, "invalid_reference", f"The payment type {entry} does not exist", ["payments.id"])
        value = number(entry.get("value"), "payments.value", places=2)
        if form["due_date"] and not entry.get("due_date"):
            raise SiigoError(400, "parameter_required", "The field payments.due_date is required",
                             ["payments.due_date"])
        payments.append({"id": form["id"], "name": form["name"], "value": money(value),
                         **({"due_date": entry["due_date"]} if form["due_date"] else {}), "_credit": form["due_date"]})
    if len(payments) > 1 and any(p["_credit"] for p in payments):
        raise SiigoError(400, "invalid_payment", "Only one payment type when one has a due date", ["payments"])
    paid = sum((Decimal(str(p["value"])) for p in payments), Decimal(0))
    if paid != total:
        raise SiigoError(400, "invalid_total_payments",
                         f"The total payments ({paid}) must equal the total of the {what} ({total})", ["payments"])
    return payments


def document_day(raw: Any, *, electronic: bool) -> str:
    try:
        day = date.fromisoformat(str(raw))
    except ValueError:
        raise SiigoError(400, "invalid_date", "The date must be yyyy-MM-dd", ["date"]) from None
    if electronic and day < datetime.now(BOGOTA).date():
        raise SiigoError(400, "invalid_date", "Electronic documents cannot be dated before today", ["date"])
    return day.isoformat()


def store_invoice(state: SiigoState, body: dict[str, Any], knobs: Knobs, key: str | None) -> dict[str, Any]:
    """``POST /v1/invoices``: validate everything, then store the invoice (caller holds the lock)."""
    if key and key in state.idempotency:
        return state.document_by_id(state.idempotency[key])  # the one created before, as documented
    document = state.document_type((body.get("document") or {}).get("id"), "FV")
    electronic = document["electronic_type"] != "NoElectronic"
    issued = document_day(body.get("date"), electronic=electronic)
    customer = state.customer_for((body.get("customer") or {}).get("identification"))
    if not any(u["id"] == body.get("seller") and u["active"] for u in state.users_list):
        raise SiigoError(400, "invalid_reference", f"The seller {body.get('seller')} does not exist", ["seller"])
    observations = str(body.get("observations") or "")
    if len(observations) > OBSERVATIONS_LIMIT:
        raise SiigoError(400, "length_max", "observations: at most 4000 characters", ["observations"])
    items = priced_items(state, body.get("items"), discount_by_value=document["discount_type"] == "Value")
    total = sum((i.pop("_total") for i in items), Decimal(0))
    payments = read_payments(state, body.get("payments"), total)
    lower_stock(state, body["items"])  # the last check: nothing moves for a refused invoice
    owed = sum((Decimal(str(p["value"])) for p in payments if p.pop("_credit")), Decimal(0))
    number_ = document["consecutive"]
    document["consecutive"] += 1
    invoice_id = hashlib.sha1(f"invoice-{len(state.invoices)}-{number_}".encode()).hexdigest()
    invoice_id = f"{invoice_id[:8]}-{invoice_id[8:12]}-{invoice_id[12:16]}-{invoice_id[16:20]}-{invoice_id[20:32]}"
    invoice = {
        "id": invoice_id, "document": {"id": document["id"]}, "number": number_,
        "name": f"FV-{document['code']}-{number_}", "date": issued,
        "customer": {"id": customer["id"], "identification": customer["identification"], "branch_office": 0},
        "cost_center": body.get("cost_center"), "total": money(total), "balance": money(owed),
        "seller": body["seller"], "observations": observations, "items": items, "payments": payments,
        "stamp": {"status": "Draft", "cufe": None, "observations": "", "errors": ""},
        "mail": {"status": "not_sent", "observations": ""},
        "public_url": f"{request.host_url}document?data={invoice_id[:12]}",
        "metadata": {"created": datetime.now(BOGOTA).isoformat(timespec="seconds"), "last_updated": None},
    }
    state.invoices.append(invoice)
    if key:
        state.idempotency[key] = invoice_id
    if (body.get("stamp") or {}).get("send") and electronic:
        state.send_to_dian(invoice, knobs)
    if (body.get("mail") or {}).get("send"):
        state.mail_document(invoice_id, [c["email"] for c in customer["contacts"] if c.get("email")][:1])
    return copy.deepcopy(invoice)


def idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and (not key.isalnum() or len(key) > 30):
        raise SiigoError(400, "invalid_idempotency-key", "Idempotency-Key: alphanumeric, at most 30 characters",
                         ["Idempotency-Key"])
    return key or None


def install_invoice_routes(app: Flask, state: SiigoState, knobs: Knobs) -> None:
    @app.post("/v1/invoices")
    def create_invoice():
        body, key = json_body(), idempotency_key()

        def commit():
            with state.lock:
                return jsonify(store_invoice(state, body, knobs, key)), 201

        return faulty_write(knobs, commit)

    @app.get("/v1/invoices")
    def list_invoices():
        args = request.args
        with state.lock:
            found = [inv for inv in state.invoices
                     if args.get("date_start", "") <= inv["date"] <= (args.get("date_end") or "9999")
                     and args.get("created_start", "") <= inv["metadata"]["created"][:10]
                     <= (args.get("created_end") or "9999")
                     and (not args.get("customer_identification")
                          or inv["customer"]["identification"] == args["customer_identification"])
                     and (not args.get("name") or inv["name"] == args["name"])
                     and (not args.get("document_id") or str(inv["document"]["id"]) == args["document_id"])]
            return jsonify(paged(copy.deepcopy(found), "invoices"))

    @app.get("/v1/invoices/<invoice_id>")
    def get_invoice(invoice_id: str):
        with state.lock:
            return jsonify(copy.deepcopy(state.invoice_record(invoice_id)))
