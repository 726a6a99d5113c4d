"""Alegra credit notes (notas crédito): the ``POST /credit-notes`` body and the answer as a
:class:`~erp.base.CreditNoteResult`.

A note is written like an invoice (same item lines, prices before tax, the marker in ``observations``
since Alegra has no idempotency key) plus ``invoices: [{id, amount}]`` — the invoice it credits and
how much it takes off it — and ``type``, a code of the country's list (:mod:`erp.alegra.countries`).
Its ``stamp`` object is an invoice's, so the e-invoice status, CUFE and the authority's reasons are
read by the same functions (:mod:`erp.alegra.invoice_parsing`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connector.errors import InvalidPayload
from erp.alegra.countries import confirmed_credit_note_types
from erp.alegra.invoice_parsing import invoice_number, parse_legal_reasons, parse_legal_status
from erp.alegra.parsing import as_decimal, as_id, as_list, as_text
from erp.alegra.payloads import amount_text, fit_observations, id_value, invoice_line_payload
from erp.base import CreditNoteDraft, CreditNoteResult, FiscalProfile


def credit_note_payload(draft: CreditNoteDraft, profile: FiscalProfile) -> dict[str, Any]:
    """``POST /credit-notes`` body. Refused before sending (``InvalidPayload``) when it has no lines, no
    positive amount, no invoice, or — where the country's codes are confirmed — a type outside its list."""
    detail = f"marker={draft.marker} invoice={draft.invoice_erp_id}"
    if not draft.lines:
        raise InvalidPayload("La nota crédito no tiene ítems.", detail=detail)
    if draft.amount <= 0:
        raise InvalidPayload("El valor de la nota crédito debe ser mayor que cero.", detail=detail)
    if not str(draft.invoice_erp_id or "").strip() or not str(draft.contact_id or "").strip():
        raise InvalidPayload("La nota crédito necesita la factura y el cliente de Alegra.", detail=detail)
    codes = [t.code for t in profile.credit_note_types]
    if not draft.note_type or (confirmed_credit_note_types(profile) and draft.note_type not in codes):
        raise InvalidPayload(f"Alegra no conoce el tipo de nota crédito «{draft.note_type}»; "
                             f"usa uno de: {', '.join(codes)}.", detail=f"{detail} type={draft.note_type!r}")
    payload: dict[str, Any] = {
        "date": draft.issue_date.isoformat(),
        "client": {"id": id_value(draft.contact_id)},
        "items": [invoice_line_payload(line) for line in draft.lines],
        "invoices": [{"id": id_value(draft.invoice_erp_id), "amount": amount_text(draft.amount)}],
        "type": draft.note_type,
        "observations": fit_observations(draft.observations, draft.marker),
    }
    if draft.warehouse_id:
        payload["warehouse"] = {"id": id_value(draft.warehouse_id)}
    if draft.stamp:
        payload["stamp"] = {"generateStamp": True}
    return payload


def parse_credit_note(raw: Any) -> CreditNoteResult:
    """An Alegra credit note (creation answer, list entry or ``GET /credit-notes/{id}``) as a
    :class:`CreditNoteResult`; the raw answer stays in ``raw``."""
    if not isinstance(raw, dict):
        raise InvalidPayload("Alegra devolvió una nota crédito con un formato inesperado.", detail=repr(raw)[:300])
    erp_id = as_id(raw.get("id"))
    if erp_id is None:
        raise InvalidPayload("Alegra devolvió una nota crédito sin id.", detail=repr(raw)[:300])
    stamp = raw.get("stamp") if isinstance(raw.get("stamp"), dict) else {}
    linked = (as_id(entry) for entry in as_list(raw.get("invoices")) if isinstance(entry, (dict, str, int)))
    return CreditNoteResult(
        erp_id=erp_id,
        number=invoice_number(raw),
        total=as_decimal(raw.get("total"), Decimal("0")),
        status=as_text(raw.get("status")) or "",
        legal_status=parse_legal_status(stamp, invoice_id=f"credit note {erp_id}"),
        # DIAN calls a note's code CUDE; we assume Alegra keeps it in ``stamp.cufe`` like an invoice's
        # (*unconfirmed*; a ``cude`` key is read too).
        cufe=as_text(stamp.get("cufe")) or as_text(stamp.get("cude")),
        legal_reasons=parse_legal_reasons(stamp),
        invoice_erp_ids=tuple(dict.fromkeys(i for i in linked if i)),
        observations=as_text(raw.get("observations")) or "",
        raw=raw,
    )
