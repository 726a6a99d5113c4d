"""The Alegra sandbox after the invoice: stamping, the PDF link, e-mails, bank accounts and payments.

Routes (installed by :func:`install_document_routes` into :func:`sandbox.alegra.create_app`):

* ``POST /invoices/stamp {"ids"}`` — emits the e-invoice (see :mod:`sandbox.alegra_stamps`); an invoice
  already stamped and not rejected is refused with a 400 (the real service would not emit twice).
* ``GET /invoices/{id}?fields=pdf`` adds ``pdf``: a short-lived link on the sandbox's own host
  (``/storage/invoices/<token>.pdf``, no credentials, like a storage link) to a small real PDF.
* ``POST /invoices/{id}/email {"emails"}`` — recorded per invoice.
* ``GET /bank-accounts`` — Mercado Pago, Bancolombia Ahorros, Caja general.
* ``POST /payments`` (money in, open invoices only, never more than the balance) and inline
  ``payments`` on ``POST /invoices`` (:func:`read_inline_payments` / :func:`record_payment`).
* ``GET /_sandbox/records`` — the sandbox's own records for tests and the chaos oracle: stamps
  emitted, e-mails and payments per invoice (also in-process: ``AlegraState.records()``).

Every write runs under :func:`sandbox.knobs.faulty_write`, like invoice creation.
"""

from __future__ import annotations

import copy
import secrets
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request

from sandbox.alegra_http import (
    AlegraError,
    day_field,
    decimal_field,
    find_record,
    json_body,
    money,
    page_of,
    ref_id,
)
from sandbox.alegra_stamps import may_stamp
from sandbox.knobs import Knobs, faulty_write
from sandbox.pdf import minimal_pdf

if TYPE_CHECKING:
    from sandbox.alegra import AlegraState

API = "/api/v1"
MAX_STAMP_IDS = 10
PDF_LINK_SECONDS = 600.0  # Alegra's links are short-lived
PAYMENT_METHODS = ("cash", "check", "transfer", "deposit", "credit-card", "debit-card")
BANK_ACCOUNTS = [
    {"id": 1, "name": "Mercado Pago", "type": "bank", "status": "active", "description": "Recaudos de Mercado Libre"},
    {"id": 2, "name": "Bancolombia Ahorros", "type": "bank", "status": "active", "description": ""},
    {"id": 3, "name": "Caja general", "type": "cash", "status": "active", "description": ""},
]


# -- payments --------------------------------------------------------------------------------------


def read_payment_fields(state: AlegraState, raw: Any, *, account_key: str) -> dict[str, Any]:
    """A payment's date, account, method and amount, checked as Alegra does (400 in its envelope)."""
    if not isinstance(raw, dict):
        raise AlegraError(400, "El pago no es válido", 4001)
    account = find_record(state.bank_accounts, raw.get(account_key), "La cuenta bancaria")
    method = raw.get("paymentMethod")
    if method not in PAYMENT_METHODS:
        raise AlegraError(400, f"El método de pago debe ser uno de: {', '.join(PAYMENT_METHODS)}", 4002)
    return {"date": day_field(raw.get("date"), "date"), "account": account, "paymentMethod": method}


def _positive(value: Any) -> Decimal:
    amount = decimal_field(value, "amount")
    if amount <= 0:
        raise AlegraError(400, "El valor del pago debe ser mayor que cero", 4003)
    return amount


def read_inline_payments(state: AlegraState, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``payments`` of a ``POST /invoices`` body, checked before anything is written."""
    raw = body.get("payments")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise AlegraError(400, "Los pagos de la factura deben ser una lista", 4004)
    return [{**read_payment_fields(state, entry, account_key="account"), "amount": _positive(entry.get("amount"))}
            for entry in raw]


def check_payable(invoice: dict[str, Any], amount: Decimal) -> None:
    if invoice["status"] != "open":
        raise AlegraError(400, "Solo las facturas abiertas pueden recibir pagos", 4005)
    if amount > Decimal(str(invoice["balance"])):
        raise AlegraError(400, "El valor del pago supera el saldo de la factura", 4006)


def record_payment(state: AlegraState, invoice: dict[str, Any], fields: dict[str, Any], amount: Decimal, *,
                   observations: str = "") -> dict[str, Any]:
    """Store one payment against ``invoice`` and lower its balance (caller holds the lock, checked first)."""
    account = fields["account"]
    payment = {
        "id": len(state.payments) + 1, "number": str(len(state.payments) + 1), "date": fields["date"],
        "type": "in", "status": "open", "paymentMethod": fields["paymentMethod"], "observations": observations,
        "bankAccount": {k: account[k] for k in ("id", "name", "type")},
        "client": copy.deepcopy(invoice["client"]), "amount": money(amount),
        "invoices": [{"id": invoice["id"], "amount": money(amount)}],
    }
    balance = Decimal(str(invoice["balance"])) - amount
    invoice.update(balance=money(balance), totalPaid=money(Decimal(str(invoice["totalPaid"])) + amount))
    payment["invoices"][0]["balance"] = invoice["balance"]
    invoice.setdefault("payments", []).append({
        "id": payment["id"], "number": payment["number"], "date": payment["date"], "amount": payment["amount"],
        "paymentMethod": payment["paymentMethod"], "account": {"id": account["id"], "name": account["name"]},
    })
    state.payments.append(payment)
    return payment


# -- PDF links -------------------------------------------------------------------------------------


def pdf_link(state: AlegraState, invoice_id: int) -> str:
    """A fresh short-lived link to the invoice's PDF on this server's own host (no credentials needed)."""
    now = time.monotonic()
    if len(state.pdf_links) > 1000:  # long chaos runs: forget expired links rather than grow forever
        for stale in [t for t, (_, expires) in state.pdf_links.items() if expires < now]:
            del state.pdf_links[stale]
    token = secrets.token_urlsafe(18)
    state.pdf_links[token] = (invoice_id, now + PDF_LINK_SECONDS)
    return f"{request.host_url.rstrip('/')}/storage/invoices/{token}.pdf"


def invoice_pdf(state: AlegraState, invoice: dict[str, Any]) -> bytes:
    number = invoice["numberTemplate"].get("fullNumber") or f"Borrador {invoice['id']}"
    cufe = (invoice.get("stamp") or {}).get("cufe")
    lines = [f"Factura electronica de venta {number}", state.company["name"],
             f"Cliente: {invoice['client'].get('name') or ''}", f"Fecha: {invoice['date']}",
             f"Total: $ {invoice['total']:,.2f}"]
    if cufe:
        lines += [f"CUFE: {cufe[:48]}", f"      {cufe[48:]}"]
    return minimal_pdf(lines)


# -- the records tests and the chaos oracle read -------------------------------------------------------


class AlegraRecords:
    """What the sandbox did after each invoice, as :class:`sandbox.alegra.AlegraState` (which mixes this
    in) keeps it: stamps emitted, e-mails, payments. Also served at ``GET /_sandbox/records``."""

    lock: Any
    invoices: list[dict[str, Any]]
    emails_sent: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    stamps: Any

    def settle_stamps(self) -> None: ...  # provided by AlegraState

    def stamp_count(self, invoice_id: int) -> int:
        """How many fiscal documents were emitted for the invoice (the oracle expects at most one accepted)."""
        with self.lock:
            return self.stamps.emitted.get(int(invoice_id), 0)

    def emails_for(self, invoice_id: int) -> list[list[str]]:
        """Every ``POST /invoices/{id}/email`` that went through, oldest first (each a list of addresses)."""
        with self.lock:
            return [list(e["emails"]) for e in self.emails_sent if e["invoice_id"] == int(invoice_id)]

    def payments_for(self, invoice_id: int) -> list[dict[str, Any]]:
        """Every payment recorded against the invoice (inline or ``POST /payments``), oldest first."""
        with self.lock:
            return [copy.deepcopy(p) for p in self.payments if p["invoices"][0]["id"] == int(invoice_id)]

    def records(self) -> dict[str, Any]:
        """The sandbox's own records after the invoice, keyed by invoice id (text, as JSON keys are)."""
        with self.lock:
            self.settle_stamps()
            emails: dict[str, list[list[str]]] = {}
            for sent in self.emails_sent:
                emails.setdefault(str(sent["invoice_id"]), []).append(list(sent["emails"]))
            payments: dict[str, list[dict[str, Any]]] = {}
            for payment in self.payments:
                payments.setdefault(str(payment["invoices"][0]["id"]), []).append(copy.deepcopy(payment))
            legal = {str(inv["id"]): inv["stamp"]["legalStatus"] for inv in self.invoices if inv.get("stamp")}
            return {"stamps_emitted": {str(k): v for k, v in self.stamps.emitted.items()}, "legal_status": legal,
                    "emails": emails, "payments": payments}


# -- routes ----------------------------------------------------------------------------------------


def install_document_routes(app: Flask, state: AlegraState, knobs: Knobs) -> None:
    """Add the after-the-invoice routes to the Alegra sandbox app."""

    def _invoice(invoice_id: Any, *, status: int = 404) -> dict[str, Any]:
        wanted = ref_id(invoice_id)
        invoice = next((inv for inv in state.invoices if inv["id"] == wanted), None)
        if invoice is None:
            raise AlegraError(status, "La factura no existe" if status == 404 else
                              "Alguna de las facturas indicadas no existe", 404 if status == 404 else 3022)
        return invoice

    @app.post(f"{API}/invoices/stamp")
    def stamp_invoices():
        ids = json_body().get("ids")
        if not isinstance(ids, list) or not ids:
            raise AlegraError(400, "Debes indicar los ids de las facturas a emitir", 3020)
        if len(ids) > MAX_STAMP_IDS:
            raise AlegraError(400, f"Puedes emitir máximo {MAX_STAMP_IDS} facturas por petición", 3021)

        def commit():
            with state.lock:
                chosen = [_invoice(i, status=400) for i in ids]
                state.settle_stamps()
                for invoice in chosen:  # all checked before any is emitted: one refusal emits nothing
                    template = find_record(state.number_templates, invoice["numberTemplate"], "La numeración")
                    if not template["isElectronic"]:
                        raise AlegraError(400, "La numeración de la factura no es electrónica", 3014)
                    if not may_stamp(invoice):
                        number = invoice["numberTemplate"].get("fullNumber") or invoice["id"]
                        raise AlegraError(400, f"La factura {number} ya fue emitida ante la DIAN", 3023)
                for invoice in chosen:
                    state.open_invoice(invoice, knobs, stamp=True)
                    state.webhooks.notify("edit-invoice", "invoice", invoice)
                return jsonify(copy.deepcopy(chosen))

        return faulty_write(knobs, commit)

    @app.post(f"{API}/invoices/<int:invoice_id>/email")
    def email_invoice(invoice_id: int):
        emails = json_body().get("emails")
        if not isinstance(emails, list) or not emails or not all("@" in str(e) for e in emails):
            raise AlegraError(400, "Debes indicar al menos un correo válido", 3030)

        def commit():
            with state.lock:
                _invoice(invoice_id)
                state.emails_sent.append({"invoice_id": invoice_id, "emails": [str(e) for e in emails]})
            return jsonify({"code": 200, "message": "La factura fue enviada por correo"})

        return faulty_write(knobs, commit)

    @app.get(f"{API}/bank-accounts")
    def list_bank_accounts():
        with state.lock:
            return jsonify(page_of(state.bank_accounts))

    @app.post(f"{API}/payments")
    def create_payment():
        body = json_body()
        if body.get("type", "in") != "in":
            raise AlegraError(400, "Este tipo de pago no está disponible", 4007)

        def commit():
            with state.lock:
                fields = read_payment_fields(state, body, account_key="bankAccount")
                linked = body.get("invoices")
                if not isinstance(linked, list) or len(linked) != 1 or not isinstance(linked[0], dict):
                    raise AlegraError(400, "Indica la factura a la que se aplica el pago", 4008)
                invoice = _invoice(linked[0].get("id"), status=400)
                if ref_id(body.get("client")) != invoice["client"]["id"]:
                    raise AlegraError(400, "El cliente del pago no es el de la factura", 4009)
                amount = _positive(linked[0].get("amount"))
                check_payable(invoice, amount)
                payment = record_payment(state, invoice, fields, amount,
                                         observations=str(body.get("observations") or "")[:500])
                state.webhooks.notify("edit-invoice", "invoice", invoice)
                return jsonify(copy.deepcopy(payment)), 201

        return faulty_write(knobs, commit)

    @app.get("/storage/invoices/<token>.pdf")
    def invoice_pdf_file(token: str):
        """The storage link: no Alegra credentials (it is another host in reality); expires like one."""
        with state.lock:
            link = state.pdf_links.get(token)
            if link is None or time.monotonic() > link[1]:
                return Response(b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                                status=403, mimetype="application/xml")
            content = invoice_pdf(state, _invoice(link[0]))
        return Response(content, mimetype="application/pdf")

    @app.get("/_sandbox/records")
    def sandbox_records():
        return jsonify(state.records())


def payments_total(payments: list[dict[str, Any]]) -> Decimal:
    return sum((p["amount"] for p in payments), Decimal("0"))
