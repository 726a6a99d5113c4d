"""Credit notes (notas crédito) in the Alegra sandbox: ``POST /credit-notes``, ``GET /credit-notes`` and
``GET /credit-notes/{id}``, with Alegra's validation and the e-invoice lifecycle of
:mod:`sandbox.alegra_stamps`.

What a note must satisfy (else a 400 in Alegra's ``{"message", "code"}`` envelope, nothing written):

* a ``date``, a ``type`` of the Colombian list (the sandbox's company is Colombian), ``observations``
  of at most 500 characters, an existing ``client``;
* ``invoices: [{id, amount}]`` naming one invoice (the sandbox takes one per note; Alegra may take
  several) that exists, is not a draft, and belongs to that client;
* ``items`` that are items of that invoice, each in a quantity no larger than the invoice has of it
  minus what earlier notes of the invoice already credited;
* an ``amount`` (default: the note's total) above zero, not above the note's total, and not above the
  invoice's total minus what earlier notes took off it.

``stamp.generateStamp`` needs an invoice the authority accepted (the note references its CUFE), and
emits the note like an invoice (waiting for the authority, then its answer after
``Knobs.stamp_answer_delay``; no random numbering rejection for notes). Numbers are ``NC-1``, ``NC-2``...
Every write runs under :func:`sandbox.knobs.faulty_write`. The notes are kept in
``AlegraState.credit_notes``; :class:`CreditNoteRecords` gives tests and the chaos oracle their view.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from flask import Flask, jsonify, request

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
from sandbox.alegra_invoices import TEXT_LIMIT, invoice_line
from sandbox.alegra_stamps import ACCEPTED, ACCEPTED_WITH_OBSERVATIONS, StampLedger
from sandbox.catalog import BOGOTA
from sandbox.countries import sandbox_country
from sandbox.knobs import Knobs, faulty_write

if TYPE_CHECKING:
    from sandbox.alegra import AlegraState

API = "/api/v1"
NUMBER_PREFIX = "NC-"
CENT = Decimal("0.01")
# Alegra Colombia's credit-note types (DIAN's correction concepts); PARTIALL_DEVOLUTION is Alegra's spelling.
CREDIT_NOTE_TYPES = ("VOID_ELECTRONIC_INVOICE", "PARTIALL_DEVOLUTION", "REDUCTION_DISCOUNT_PARTIAL_TOTAL",
                     "PRICE_ADJUSTMENT", "OTHER")


def _quantity(value: Any) -> Decimal:
    return Decimal(str(value))


def _credited_amount(notes: list[dict[str, Any]], invoice_id: int) -> Decimal:
    """What the notes took off the invoice (the amounts applied to it, not their totals)."""
    return sum((Decimal(str(link["amount"])) for note in notes for link in note["invoices"]
                if link["id"] == invoice_id), Decimal("0"))


# Notes that give goods back (a voided invoice, a return) use up the invoice's quantities; a reduction or
# a price adjustment lowers what was charged and returns nothing, so it is limited by amount only.
RETURN_TYPES = ("VOID_ELECTRONIC_INVOICE", "PARTIALL_DEVOLUTION")


def _credited_quantities(notes: list[dict[str, Any]], invoice_id: int,
                         return_types: tuple[str, ...] = RETURN_TYPES) -> dict[int, Decimal]:
    credited: dict[int, Decimal] = defaultdict(Decimal)
    for note in notes:
        if note.get("type") in return_types and any(link["id"] == invoice_id for link in note["invoices"]):
            for line in note["items"]:
                credited[line["id"]] += _quantity(line["quantity"])
    return credited


def _linked_invoice(state: AlegraState, body: dict[str, Any], client_id: int) -> tuple[dict[str, Any], Any]:
    """The one invoice the note credits, checked, and the ``amount`` as sent (None when absent)."""
    linked = body.get("invoices")
    if not isinstance(linked, list) or not linked or not all(isinstance(entry, dict) for entry in linked):
        raise AlegraError(400, "Indica la factura a la que se aplica la nota crédito", 5002)
    if len(linked) > 1:
        raise AlegraError(400, "La nota crédito solo puede aplicarse a una factura", 5003)
    wanted = ref_id(linked[0].get("id"))
    invoice = next((inv for inv in state.invoices if inv["id"] == wanted), None)
    if invoice is None:
        raise AlegraError(400, f"La factura con id {linked[0].get('id')} no existe", 5004)
    if invoice["client"]["id"] != client_id:
        raise AlegraError(400, "La factura no pertenece al cliente de la nota crédito", 5005)
    if invoice["status"] == "draft":  # a draft is no fiscal document yet: there is nothing to correct
        raise AlegraError(400, "No se pueden hacer notas crédito a facturas en borrador", 5006)
    return invoice, linked[0].get("amount")


def _check_stampable_against(state: AlegraState, invoice: dict[str, Any]) -> None:
    """An electronic note references the CUFE of an e-invoice the authority accepted: a plain invoice, one
    still waiting for its answer, or a rejected one cannot take an electronic note."""
    state.settle_stamps()
    legal_status = (invoice.get("stamp") or {}).get("legalStatus")
    if legal_status not in (ACCEPTED, ACCEPTED_WITH_OBSERVATIONS):
        number = invoice["numberTemplate"].get("fullNumber") or invoice["id"]
        why = "no es una factura electrónica" if legal_status is None else "no ha sido aceptada por la DIAN"
        raise AlegraError(400, f"La factura {number} {why}: no se puede emitir su nota crédito electrónica", 5012)


def _check_items_of_invoice(invoice: dict[str, Any], lines: list[dict[str, Any]],
                            notes: list[dict[str, Any]], note_type: str,
                            return_types: tuple[str, ...] = RETURN_TYPES) -> None:
    """Every line is an item of the invoice; a return, in no more than what was not returned yet."""
    invoiced: dict[int, Decimal] = defaultdict(Decimal)
    for line in invoice["items"]:
        invoiced[line["id"]] += _quantity(line["quantity"])
    credited = _credited_quantities(notes, invoice["id"], return_types)
    asked: dict[int, Decimal] = defaultdict(Decimal)
    for line in lines:
        asked[line["id"]] += _quantity(line["quantity"])
    number = invoice["numberTemplate"].get("fullNumber") or invoice["id"]
    for item_id, quantity in asked.items():
        if item_id not in invoiced:
            raise AlegraError(400, f"El ítem con id {item_id} no está en la factura {number}", 5007)
        left = invoiced[item_id] - credited[item_id]
        if note_type in return_types and quantity > left:
            raise AlegraError(400, f"La cantidad del ítem con id {item_id} supera la que queda por acreditar "
                                   f"de la factura {number} ({left.normalize():f})", 5008)


def _applied_amount(invoice: dict[str, Any], raw_amount: Any, total: Decimal, notes: list[dict[str, Any]]) -> Decimal:
    amount = total if raw_amount is None else decimal_field(raw_amount, "amount").quantize(CENT, ROUND_HALF_UP)
    if amount <= 0:
        raise AlegraError(400, "El valor de la nota crédito debe ser mayor que cero", 5009)
    if amount > total:
        raise AlegraError(400, "El valor aplicado a la factura supera el total de la nota crédito", 5010)
    # What limits a note is the invoice's total minus what earlier notes took off it — not the unpaid
    # balance: an invoice paid inline has balance 0 and can still be credited (the money goes back).
    creditable = Decimal(str(invoice["total"])) - _credited_amount(notes, invoice["id"])
    if amount > creditable:
        raise AlegraError(400, "El valor de la nota crédito supera el valor por acreditar de la factura "
                               f"({money(creditable):.2f})", 5011)
    return amount


def store_credit_note(state: AlegraState, body: dict[str, Any], knobs: Knobs) -> dict[str, Any]:
    """``POST /credit-notes``: validate everything, then store the note and apply it (caller holds the lock)."""
    issued = day_field(body.get("date"), "date")
    note_type = body.get("type")
    if not note_type:
        raise AlegraError(400, "El tipo de la nota crédito es obligatorio", 5000)
    place = sandbox_country(state.country)
    if note_type not in place.credit_note_types:
        raise AlegraError(400, f"El tipo de la nota crédito debe ser uno de: {', '.join(place.credit_note_types)}",
                          5001)
    if len(str(body.get("observations") or "")) > TEXT_LIMIT:
        raise AlegraError(400, f"El campo observations no puede tener más de {TEXT_LIMIT} caracteres", 3013)
    client = state.contacts.get(ref_id(body.get("client")) or -1)
    if client is None:
        raise AlegraError(400, "El cliente indicado no existe", 3003)
    invoice, raw_amount = _linked_invoice(state, body, client["id"])
    wants_stamp = isinstance(body.get("stamp"), dict) and bool(body["stamp"].get("generateStamp"))
    if wants_stamp:
        _check_stampable_against(state, invoice)
    raw_items = body.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise AlegraError(400, "La nota crédito debe tener al menos un ítem", 3005)
    lines = [invoice_line(state, raw, i + 1) for i, raw in enumerate(raw_items)]
    _check_items_of_invoice(invoice, lines, state.credit_notes, note_type, place.credit_note_return_types)
    warehouse = find_record(state.warehouses, body["warehouse"], "La bodega") if body.get("warehouse") else None
    subtotal = sum((line.pop("_subtotal") for line in lines), Decimal("0"))
    discount = sum((line.pop("_discount") for line in lines), Decimal("0"))
    tax = sum((line.pop("_tax") for line in lines), Decimal("0"))
    total = (subtotal - discount + tax).quantize(CENT, rounding=ROUND_HALF_UP)
    amount = _applied_amount(invoice, raw_amount, total, state.credit_notes)
    number = len(state.credit_notes) + 1  # notes are never deleted: the count is the last number
    note = {
        "id": number, "date": issued, "datetime": datetime.now(BOGOTA).strftime("%Y-%m-%d %H:%M:%S"),
        "status": "open", "type": note_type,
        "client": {k: client.get(k) for k in ("id", "name", "identification")},
        "items": lines, "subtotal": money(subtotal), "discount": money(discount), "tax": money(tax),
        "total": float(total), "balance": money(total - amount),
        "invoices": [{"id": invoice["id"], "number": invoice["numberTemplate"].get("fullNumber"),
                      "date": invoice["date"], "amount": money(amount)}],
        "observations": body.get("observations") or "",
        "warehouse": {"id": warehouse["id"], "name": warehouse["name"]} if warehouse else None,
        "numberTemplate": {"prefix": NUMBER_PREFIX, "number": str(number), "fullNumber": f"{NUMBER_PREFIX}{number}"},
        "stamp": None,
    }
    if wants_stamp:
        state.credit_note_stamps.emit(note, state.contacts.get(client["id"]),
                                      answer_delay=knobs.stamp_answer_delay, reject_share=0.0)
    # Alegra's accounting: the note pays off what is still owed first; what the buyer already paid
    # (balance 0) is money to give back, not a negative balance.
    balance = Decimal(str(invoice["balance"]))
    if balance > 0:
        invoice["balance"] = money(balance - min(balance, amount))
    state.credit_notes.append(note)
    return note


class CreditNoteRecords:
    """The credit notes as tests and the chaos oracle read them; mixed into
    :class:`sandbox.alegra.AlegraState` before :class:`sandbox.alegra_documents.AlegraRecords`, whose
    :meth:`records` it extends with ``credit_notes``."""

    lock: Any
    credit_notes: list[dict[str, Any]]
    credit_note_stamps: StampLedger

    def settle_credit_note_stamps(self) -> None:
        """Apply the authority's answers on notes that are due (they show on the next read)."""
        with self.lock:
            self.credit_note_stamps.settle(self.credit_notes)

    def credit_note(self, note_id: int) -> dict[str, Any] | None:
        """A copy of one note as ``GET /credit-notes/{id}`` would answer it now."""
        with self.lock:
            self.settle_credit_note_stamps()
            found = next((n for n in self.credit_notes if n["id"] == int(note_id)), None)
            return copy.deepcopy(found) if found is not None else None

    def credit_notes_for(self, invoice_id: int) -> list[dict[str, Any]]:
        """Copies of every note applied to the invoice, oldest first."""
        with self.lock:
            self.settle_credit_note_stamps()
            return [copy.deepcopy(n) for n in self.credit_notes
                    if any(link["id"] == int(invoice_id) for link in n["invoices"])]

    def credit_notes_for_marker(self, marker: str) -> list[dict[str, Any]]:
        """Copies of every note whose ``observations`` contain ``marker`` (exactly-once checks)."""
        with self.lock:
            self.settle_credit_note_stamps()
            return [copy.deepcopy(n) for n in self.credit_notes if marker in (n.get("observations") or "")]

    def credit_note_stamp_count(self, note_id: int) -> int:
        """How many fiscal documents were emitted for the note (at most one)."""
        with self.lock:
            return self.credit_note_stamps.emitted.get(int(note_id), 0)

    def records(self) -> dict[str, Any]:
        """The after-the-invoice records plus ``credit_notes``: by invoice id (text), each note as
        ``{id, number, total, type, observations, legal_status}`` (``legal_status`` None when not stamped)."""
        with self.lock:
            found = super().records()  # type: ignore[misc]
            self.settle_credit_note_stamps()
            notes: dict[str, list[dict[str, Any]]] = {}
            for note in self.credit_notes:
                entry = {"id": note["id"], "number": note["numberTemplate"]["fullNumber"], "total": note["total"],
                         "type": note["type"], "observations": note["observations"],
                         "legal_status": (note["stamp"] or {}).get("legalStatus")}
                for link in note["invoices"]:
                    notes.setdefault(str(link["id"]), []).append(dict(entry))
            return {**found, "credit_notes": notes}


def install_credit_note_routes(app: Flask, state: AlegraState, knobs: Knobs) -> None:
    """Add ``/credit-notes`` to the Alegra sandbox app."""

    @app.post(f"{API}/credit-notes")
    def create_credit_note():
        body = json_body()

        def commit():
            with state.lock:
                return jsonify(copy.deepcopy(store_credit_note(state, body, knobs))), 201

        return faulty_write(knobs, commit)

    @app.get(f"{API}/credit-notes")
    def list_credit_notes():
        day, client_id = request.args.get("date"), ref_id(request.args.get("client_id"))
        with state.lock:
            state.settle_credit_note_stamps()
            found = [n for n in state.credit_notes
                     if (not day or n["date"] == day) and (client_id is None or n["client"]["id"] == client_id)]
            return jsonify(page_of(found, newest_first=True))

    @app.get(f"{API}/credit-notes/<int:note_id>")
    def get_credit_note(note_id: int):
        note = state.credit_note(note_id)
        if note is None:
            raise AlegraError(404, "La nota crédito no existe", 404)
        return jsonify(note)
