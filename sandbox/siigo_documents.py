"""The Siigo sandbox's catalogs and what follows an invoice: the DIAN's answer and its errors, the PDF
(base64), e-mail, cash receipts (``/v1/vouchers``) and credit notes (``/v1/credit-notes``), plus the
records the chaos oracle and the demo read (:meth:`SiigoDocuments.records`)."""

from __future__ import annotations

import base64
import copy
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask import Flask, jsonify, request

from sandbox.catalog import BOGOTA
from sandbox.knobs import Knobs, faulty_write
from sandbox.pdf import minimal_pdf
from sandbox.siigo_http import SiigoError, json_body, money, number, paged

if TYPE_CHECKING:
    from sandbox.siigo import SiigoState

TAXES = [
    {"id": 13156, "name": "IVA 19%", "type": "IVA", "percentage": 19.0, "active": True},
    {"id": 13157, "name": "IVA 5%", "type": "IVA", "percentage": 5.0, "active": True},
    {"id": 13158, "name": "IVA Exento 0%", "type": "IVA", "percentage": 0.0, "active": True},
    {"id": 34072, "name": "ReteIVA 15%", "type": "ReteIVA", "percentage": 15.0, "active": True},
]
PRICE_LISTS = [{"id": 2766, "name": "Precio de venta 1", "active": True, "position": 1},
               {"id": 2767, "name": "Mayorista", "active": True, "position": 2}]
WAREHOUSES = [{"id": 1270, "name": "Bodega principal", "active": True, "has_movements": True},
              {"id": 1271, "name": "Bodega Bogotá", "active": True, "has_movements": False}]
COST_CENTERS = [{"id": 25732, "code": "13-1", "name": "Principal", "active": True}]
_DOC = {"active": True, "seller_by_item": False, "cost_center": False, "cost_center_mandatory": False,
        "automatic_number": True, "decimals": True}
DOCUMENT_TYPES = [
    {**_DOC, "id": 24446, "code": "1", "name": "Factura electrónica", "description": "Factura electrónica de venta",
     "type": "FV", "consecutive": 1001, "discount_type": "Value", "electronic_type": "Electronicvoice"},
    {**_DOC, "id": 24447, "code": "2", "name": "Factura POS", "description": "Factura de venta por computador",
     "type": "FV", "consecutive": 1, "discount_type": "Value", "electronic_type": "NoElectronic"},
    {**_DOC, "id": 7714, "code": "1", "name": "Recibo de caja", "description": "Recepción de pago", "type": "RC",
     "consecutive": 1},
    {**_DOC, "id": 77775, "code": "1", "name": "Nota crédito", "description": "Nota crédito electrónica",
     "type": "NC", "consecutive": 1, "electronic_type": "Electronicvoice"},
]
PAYMENT_TYPES = [
    {"id": 5636, "name": "Crédito", "type": "Cartera", "active": True, "due_date": True},
    {"id": 5638, "name": "Efectivo", "type": "Cartera", "active": True, "due_date": False},
    {"id": 5640, "name": "Transferencia bancaria", "type": "Cartera", "active": True, "due_date": False},
    {"id": 5642, "name": "Mercado Pago", "type": "Cartera", "active": True, "due_date": False},
]


def _uuid(seed: str) -> str:
    h = hashlib.sha1(seed.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


@dataclass
class SiigoDocuments:
    """The company's catalogs and documents (a mixin of :class:`sandbox.siigo.SiigoState`)."""

    taxes: list[dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(TAXES))
    price_lists: list[dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(PRICE_LISTS))
    warehouses: list[dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(WAREHOUSES))
    cost_centers: list[dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(COST_CENTERS))
    document_types: list[dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(DOCUMENT_TYPES))
    payment_types: list[dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(PAYMENT_TYPES))
    users_list: list[dict[str, Any]] = field(default_factory=list)
    credit_notes: list[dict[str, Any]] = field(default_factory=list)
    vouchers: list[dict[str, Any]] = field(default_factory=list)
    emails_sent: list[dict[str, Any]] = field(default_factory=list)  # {"invoice_id", "emails"}
    stamps_emitted: Counter = field(default_factory=Counter)  # document id -> times sent to the DIAN
    stamp_errors: dict[str, list[str]] = field(default_factory=dict)
    idempotency: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> document id
    stamp_reject_share: float = 0.0

    # -- lookups (callers hold the lock) ---------------------------------------------------------

    def document_type(self: SiigoState, ref: Any, kind: str) -> dict[str, Any]:
        found = next((d for d in self.document_types if d["id"] == ref and d["type"] == kind), None)
        if found is None or not found["active"]:
            raise SiigoError(400, "invalid_document", f"The document type {ref} is not a {kind}", ["document.id"])
        return found

    def customer_for(self: SiigoState, identification: Any) -> dict[str, Any]:
        found = self.customers.get(str(identification or ""))
        if found is None or not found["active"]:
            raise SiigoError(400, "invalid_reference", f"The customer {identification} does not exist",
                             ["customer.identification"])
        if not found["contacts"]:
            raise SiigoError(400, "customer_settings", "The customer has no contacts", ["customer"])
        return found

    def invoice_record(self: SiigoState, invoice_id: str) -> dict[str, Any]:
        found = next((inv for inv in self.invoices if inv["id"] == invoice_id), None)
        if found is None:
            raise SiigoError(404, "not_found", "Resource not found", [])
        return found

    def document_by_id(self: SiigoState, document_id: str) -> dict[str, Any]:
        for records in (self.invoices, self.credit_notes, self.vouchers):
            found = next((d for d in records if d["id"] == document_id), None)
            if found is not None:
                return copy.deepcopy(found)
        raise SiigoError(404, "not_found", "Resource not found", [])

    def send_to_dian(self: SiigoState, document: dict[str, Any], knobs: Knobs) -> None:
        """The DIAN answers at once here: accepted, or (``stamp_reject_share`` of the documents, by id)
        rejected with its reasons (``GET /v1/invoices/{id}/stamp/errors``)."""
        self.stamps_emitted[document["id"]] += 1
        share = knobs.stamp_reject_share or self.stamp_reject_share
        code_key = "cude" if document["id"] in {n["id"] for n in self.credit_notes} else "cufe"
        if code_key == "cufe" and share and int(document["id"][:8], 16) % 1000 < share * 1000:
            self.stamp_errors[document["id"]] = ["Rechazo FAD06: el número de la factura no está en el rango "
                                                 "de numeración autorizado."]
            document["stamp"] = {"status": "Rejected", code_key: None, "observations": "",
                                 "errors": self.stamp_errors[document["id"]][0]}
            return
        document["stamp"] = {"status": "Accepted", code_key: hashlib.sha384(document["id"].encode()).hexdigest(),
                             "observations": "", "errors": ""}

    def mail_document(self: SiigoState, document_id: str, emails: list[str]) -> None:
        if emails:
            self.emails_sent.append({"invoice_id": document_id, "emails": list(emails)})

    def records(self: SiigoState) -> dict[str, Any]:
        """What happened after the invoices, keyed by invoice id (the chaos oracle and the demo read it)."""
        with self.lock:
            emails: dict[str, list[list[str]]] = {}
            for sent in self.emails_sent:
                emails.setdefault(sent["invoice_id"], []).append(list(sent["emails"]))
            payments: dict[str, list[dict[str, Any]]] = {}
            for voucher in self.vouchers:
                payments.setdefault(voucher["_invoice_id"], []).append(copy.deepcopy(voucher))
            for invoice in self.invoices:  # paid at creation: the invoice's own non-credit forms
                if not Decimal(str(invoice["balance"])) and invoice["id"] not in payments:
                    payments[invoice["id"]] = [copy.deepcopy(p) for p in invoice["payments"]]
            legal = {inv["id"]: inv["stamp"]["status"] for inv in self.invoices}
            notes: dict[str, list[dict[str, Any]]] = {}
            for note in self.credit_notes:
                notes.setdefault(note["invoice"]["id"], []).append(copy.deepcopy(note))
            return {"stamps_emitted": dict(self.stamps_emitted), "legal_status": legal, "emails": emails,
                    "payments": payments, "credit_notes": notes}


def _day_now() -> str:
    return datetime.now(BOGOTA).isoformat(timespec="seconds")


def install_document_routes(app: Flask, state: SiigoState, knobs: Knobs) -> None:
    from sandbox.siigo_invoices import document_day, idempotency_key, priced_items, read_payments

    @app.get("/v1/invoices/<invoice_id>/pdf")
    def invoice_pdf(invoice_id: str):
        with state.lock:
            invoice = state.invoice_record(invoice_id)
            content = minimal_pdf([f"Factura de venta {invoice['name']}", f"Total: {invoice['total']} COP",
                                   f"Cliente: {invoice['customer']['identification']}"])
        return jsonify({"id": invoice_id, "base64": base64.b64encode(content).decode()})

    @app.get("/v1/invoices/<invoice_id>/stamp/errors")
    def stamp_errors(invoice_id: str):
        with state.lock:
            state.invoice_record(invoice_id)
            return jsonify({"id": invoice_id, "errors": [{"message": m} for m in state.stamp_errors.get(invoice_id, [])]})

    @app.post("/v1/invoices/<invoice_id>/mail")
    def mail_invoice(invoice_id: str):
        body = json_body()
        to = [str(body.get("mail_to") or "").strip()] + [
            a.strip() for a in str(body.get("copy_to") or "").split(";") if a.strip()]
        if not to[0] or len(to) > 5 or any("@" not in a for a in to):
            raise SiigoError(400, "invalid_email", "mail_to is required; at most 5 valid addresses", ["mail_to"])

        def commit():
            with state.lock:
                state.invoice_record(invoice_id)
                state.mail_document(invoice_id, to)
                return jsonify({"status": "sent", "observations": ""}), 201

        return faulty_write(knobs, commit)

    @app.post("/v1/vouchers")
    def create_voucher():
        body, key = json_body(), idempotency_key()

        def commit():
            with state.lock:
                if key and key in state.idempotency:
                    return jsonify(_public(state.document_by_id(state.idempotency[key]))), 201
                voucher = _store_voucher(state, body)
                if key:
                    state.idempotency[key] = voucher["id"]
                return jsonify(_public(voucher)), 201

        return faulty_write(knobs, commit)

    @app.get("/v1/vouchers")
    def list_vouchers():
        with state.lock:
            return jsonify(paged([_public(v) for v in state.vouchers], "vouchers"))

    @app.post("/v1/credit-notes")
    def create_credit_note():
        body, key = json_body(), idempotency_key()

        def commit():
            with state.lock:
                if key and key in state.idempotency:
                    return jsonify(state.document_by_id(state.idempotency[key])), 201
                document = state.document_type((body.get("document") or {}).get("id"), "NC")
                electronic = document.get("electronic_type", "NoElectronic") != "NoElectronic"
                invoice = state.invoice_record(str(body.get("invoice") or ""))
                if electronic and invoice["stamp"]["status"] != "Accepted":
                    raise SiigoError(400, "invalid_document", "The invoice has not been accepted by the DIAN",
                                     ["invoice"])
                if electronic and str(body.get("reason")) not in {"1", "2", "3", "4", "5", "6", "7"}:
                    raise SiigoError(400, "parameter_required", "The field reason is required", ["reason"])
                items = priced_items(state, body.get("items"), discount_by_value=False)
                total = sum((i.pop("_total") for i in items), Decimal(0))
                payments = read_payments(state, body.get("payments"), total, what="credit note")
                for p in payments:
                    p.pop("_credit")
                number_ = document["consecutive"]
                document["consecutive"] += 1
                note = {"id": _uuid(f"nc-{len(state.credit_notes)}-{number_}"), "document": {"id": document["id"]},
                        "number": number_, "name": f"NC-{document['code']}-{number_}",
                        "date": document_day(body.get("date"), electronic=electronic),
                        "invoice": {"id": invoice["id"], "name": invoice["name"]}, "customer": dict(invoice["customer"]),
                        "total": money(total), "reason": body.get("reason"),
                        "observations": str(body.get("observations") or "")[:4000], "items": items,
                        "payments": payments, "stamp": {"status": "Draft", "cude": None},
                        "metadata": {"created": _day_now(), "last_updated": None}}
                state.credit_notes.append(note)
                invoice["balance"] = money(max(Decimal(0), Decimal(str(invoice["balance"])) - total))
                if key:
                    state.idempotency[key] = note["id"]
                if (body.get("stamp") or {}).get("send") and electronic:
                    state.send_to_dian(note, knobs)
                return jsonify(copy.deepcopy(note)), 201

        return faulty_write(knobs, commit)

    @app.get("/v1/credit-notes")
    def list_credit_notes():
        args = request.args
        with state.lock:
            found = [n for n in state.credit_notes if args.get("created_start", "") <= n["metadata"]["created"][:10]
                     <= (args.get("created_end") or "9999")]
            return jsonify(paged(copy.deepcopy(found), "credit-notes"))

    @app.get("/v1/credit-notes/<note_id>")
    def get_credit_note(note_id: str):
        with state.lock:
            found = next((n for n in state.credit_notes if n["id"] == note_id), None)
            if found is None:
                raise SiigoError(404, "not_found", "Resource not found", [])
            return jsonify(copy.deepcopy(found))


def _public(voucher: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in voucher.items() if not k.startswith("_")}


def _store_voucher(state: SiigoState, body: dict[str, Any]) -> dict[str, Any]:
    """A ``DebtPayment`` cash receipt paying instalment 1 of an invoice named by prefix and consecutive."""
    document = state.document_type((body.get("document") or {}).get("id"), "RC")
    if body.get("type") != "DebtPayment":
        raise SiigoError(400, "invalid_type", "The sandbox takes DebtPayment receipts only", ["type"])
    customer = state.customer_for((body.get("customer") or {}).get("identification"))
    items = body.get("items")
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
        raise SiigoError(400, "invalid_array", "One item (the instalment paid) is required", ["items"])
    due = items[0].get("due") or {}
    name = f"{due.get('prefix')}-{due.get('consecutive')}"
    invoice = next((inv for inv in state.invoices if inv["name"] == name), None)
    if invoice is None or invoice["customer"]["identification"] != customer["identification"]:
        raise SiigoError(400, "invalid_reference", f"The due {name} does not exist for this customer", ["items.due"])
    payment = body.get("payment") or {}
    form = next((p for p in state.payment_types if p["id"] == payment.get("id") and not p["due_date"]), None)
    if form is None:
        raise SiigoError(400, "invalid_payment", "The payment type is not valid for a cash receipt", ["payment.id"])
    value = number(payment.get("value"), "payment.value", places=2)
    if value <= 0 or value > Decimal(str(invoice["balance"])):
        raise SiigoError(400, "invalid_amount", "The value cannot exceed the instalment's balance", ["payment.value"])
    number_ = document["consecutive"]
    document["consecutive"] += 1
    voucher = {"id": _uuid(f"rc-{len(state.vouchers)}-{number_}"), "document": {"id": document["id"]},
               "number": number_, "name": f"RC-{document['code']}-{number_}", "date": str(body.get("date")),
               "type": "DebtPayment", "customer": {"id": customer["id"], "identification": customer["identification"],
                                                   "branch_office": 0},
               "items": copy.deepcopy(items), "payment": {"id": form["id"], "name": form["name"], "value": money(value)},
               "observations": str(body.get("observations") or "")[:4000],
               "metadata": {"created": _day_now(), "last_updated": None}, "_invoice_id": invoice["id"]}
    state.vouchers.append(voucher)
    invoice["balance"] = money(Decimal(str(invoice["balance"])) - value)
    return voucher
