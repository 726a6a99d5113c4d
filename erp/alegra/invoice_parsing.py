"""Alegra invoices as :class:`~erp.base.InvoiceResult`: number, e-invoice status and reasons, balance, payments.

What Alegra's documentation leaves open is read every plausible way (see API_NOTES, "After the
invoice"): where the authority's reasons live inside ``stamp``, and the shape of the answer to
``POST /invoices/stamp``. The raw answer always stays in ``InvoiceResult.raw``.
"""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from typing import Any

from connector.errors import InvalidPayload
from erp.alegra.parsing import as_decimal, as_id, as_list, as_text
from erp.base import InvoiceResult, LegalStatus, PaymentResult

log = logging.getLogger(__name__)


def invoice_number(raw: dict[str, Any]) -> str | None:
    """``numberTemplate.fullNumber`` (object or array), else prefix + number."""
    templates = [t for t in as_list(raw.get("numberTemplate")) if isinstance(t, dict)]
    for template in templates:
        full = as_text(template.get("fullNumber"))
        if full:
            return full
        number = as_text(template.get("number"))
        if number:
            return f"{as_text(template.get('prefix')) or ''}{number}"
    return None


def parse_invoice(raw: Any) -> InvoiceResult:
    """An Alegra invoice as an :class:`InvoiceResult` (creation answer, list entry or ``GET /invoices/{id}``)."""
    if not isinstance(raw, dict):
        raise InvalidPayload("Alegra devolvió una factura con un formato inesperado.", detail=repr(raw)[:300])
    erp_id = as_id(raw.get("id"))
    if erp_id is None:
        raise InvalidPayload("Alegra devolvió una factura sin id.", detail=repr(raw)[:300])
    stamp = raw.get("stamp") if isinstance(raw.get("stamp"), dict) else {}
    return InvoiceResult(
        erp_id=erp_id,
        number=invoice_number(raw),
        total=as_decimal(raw.get("total"), Decimal("0")),
        status=as_text(raw.get("status")) or "",
        stamp_status=as_text(stamp.get("legalStatus")),
        raw=raw,
        legal_status=parse_legal_status(stamp, invoice_id=erp_id),
        cufe=as_text(stamp.get("cufe")),
        legal_reasons=parse_legal_reasons(stamp),
        balance=as_decimal(raw.get("balance")),
        payments=tuple(p for p in map(parse_payment, as_list(raw.get("payments"))) if p is not None),
        # Alegra documents no way to read back which addresses an invoice was e-mailed to (its own
        # automatic e-mail of accepted invoices included): None tells the core "unknown".
        emailed_to=None,
        pdf_url=as_text(raw.get("pdf")),  # present when read with ?fields=pdf
    )


# -- e-invoice status --------------------------------------------------------------------------

# ``stamp.legalStatus`` -> the ERP-neutral status (API_NOTES, "After the invoice").
LEGAL_STATUSES = {
    "PENDING": LegalStatus.PENDING,
    "STAMPED_AND_WAITING_RESPONSE": LegalStatus.PENDING,
    "STAMPED_AND_ACCEPTED": LegalStatus.ACCEPTED,
    "STAMPED_AND_ACCEPTED_WITH_OBSERVATIONS": LegalStatus.ACCEPTED_WITH_OBSERVATIONS,
    "STAMPED_AND_REJECTED": LegalStatus.REJECTED,
}

# Where the authority's reasons may appear inside ``stamp`` (*unconfirmed*: we read all of them).
_REASON_KEYS = ("errors", "warnings", "message", "observations")


def parse_legal_status(stamp: dict[str, Any], *, invoice_id: str = "?") -> LegalStatus:
    """The e-invoice status of an invoice's ``stamp`` object.

    No stamp (or an empty one) is a plain invoice. A value we do not know is taken as *pending*, never
    as final: the core keeps asking, and the log says which word Alegra used.
    """
    word = as_text(stamp.get("legalStatus"))
    if word is None:
        return LegalStatus.PENDING if as_text(stamp.get("cufe")) else LegalStatus.NOT_ELECTRONIC
    status = LEGAL_STATUSES.get(word.upper())
    if status is None:
        log.warning("unknown Alegra legalStatus %r on invoice %s; taken as pending", word, invoice_id)
        return LegalStatus.PENDING
    return status


def parse_legal_reasons(stamp: dict[str, Any]) -> tuple[str, ...]:
    """Every reason text found in ``stamp.errors``/``warnings``/``message``/``observations``: strings, or
    lists of strings or of objects with ``message``/``description`` (a ``code`` is kept in front)."""
    found: list[str] = []
    for key in _REASON_KEYS:
        found.extend(_reason_texts(stamp.get(key)))
    return tuple(dict.fromkeys(found))


def _reason_texts(value: Any) -> list[str]:
    if isinstance(value, list):
        return [text for entry in value for text in _reason_texts(entry)]
    if isinstance(value, dict):
        text = as_text(value.get("message")) or as_text(value.get("description"))
        code = as_text(value.get("code"))
        if text and code and code not in text:
            text = f"{code}: {text}"
        return [text] if text else []
    text = as_text(value)
    return [text] if text else []


def stamp_refusal(body: Any, erp_id: str) -> str | None:
    """Alegra's words when its answer to ``POST /invoices/stamp`` reports an error for ``erp_id``.

    The answer's shape is *unconfirmed*: a list of per-invoice results, ``{"data"|"results"|"errors":
    [...]}`` or one object. An entry for this id (or without id) carrying ``error``/``errors``, or a
    ``code``/``status`` of 400 or more with a ``message``, or any entry of an ``errors`` list, is a
    refusal; anything else is success.
    """
    in_error_list = isinstance(body, dict) and isinstance(body.get("errors"), list)
    if isinstance(body, dict):
        entries = next((body[k] for k in ("errors", "data", "results") if isinstance(body.get(k), list)), [body])
    else:
        entries = as_list(body)
    for entry in entries:
        if isinstance(entry, str) and in_error_list:
            return entry
        if not isinstance(entry, dict) or as_id(entry.get("id")) not in (None, erp_id):
            continue
        errors = _reason_texts(entry.get("error")) + _reason_texts(entry.get("errors"))
        code = as_decimal(entry.get("code", entry.get("status")))
        if not errors and (in_error_list or (code is not None and code >= 400)):
            errors = _reason_texts(entry.get("message")) or _reason_texts(entry.get("description"))
        if errors:
            return "; ".join(dict.fromkeys(errors))
    return None


# -- payments ----------------------------------------------------------------------------------


def as_date(value: Any) -> date | None:
    """``"2026-11-02"`` or ``"2026-11-02 10:15:00"`` as a date; None when unreadable."""
    text = as_text(value)
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


def parse_payment(raw: Any) -> PaymentResult | None:
    """A payment as Alegra lists it on an invoice (``payments[]``) or answers ``POST /payments``.

    The amount is ``amount``, else the first ``invoices[].amount``; the account is ``account`` or
    ``bankAccount`` (an object or an id). None for an entry without id nor amount.
    """
    if not isinstance(raw, dict):
        return None
    amount = as_decimal(raw.get("amount"))
    if amount is None:
        linked = [i for i in as_list(raw.get("invoices")) if isinstance(i, dict)]
        amount = as_decimal(linked[0].get("amount")) if linked else None
    erp_id = as_id(raw.get("id"))
    if erp_id is None and amount is None:
        return None
    return PaymentResult(erp_id=erp_id, amount=amount if amount is not None else Decimal("0"),
                         date=as_date(raw.get("date")),
                         account_id=as_id(raw.get("account")) or as_id(raw.get("bankAccount")), raw=raw)
