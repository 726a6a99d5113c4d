"""Siigo answers -> the ERP-neutral records of ``erp.base`` (defensive: a field may be missing or odd).

Field meanings and what is unconfirmed: ``erp/siigo/API_FACTS.md``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.errors import InvalidPayload
from erp.base import (
    CatalogItem,
    Choice,
    CreditNoteResult,
    InvoiceResult,
    ItemStock,
    LegalStatus,
    PaymentResult,
)

# Product types -> the kinds the mapping layer knows.
PRODUCT_KINDS = {"product": "product", "service": "service", "consumergood": "product", "combo": "kit"}
# Taxes that make up an item's price (retentions are the buyer's, not part of what is charged).
CHARGED_TAX_TYPES = frozenset({"iva", "impoconsumo", "advalorem"})
LEGAL_STATUS = {"accepted": LegalStatus.ACCEPTED, "rejected": LegalStatus.REJECTED, "draft": LegalStatus.NOT_ELECTRONIC}


def text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    out = str(value).strip()
    return out or None


def decimal(value: Any, default: Decimal | None = None) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return default
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return default
    return out if out.is_finite() else default


def page_of(body: Any) -> tuple[list[dict[str, Any]], int | None]:
    """The records of a paged answer and the total it reports (``pagination.total_results``)."""
    if isinstance(body, list):  # catalog endpoints answer a bare array
        return [r for r in body if isinstance(r, dict)], None
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise InvalidPayload("Siigo devolvió una lista con un formato inesperado.", detail=repr(body)[:300])
    pagination = body.get("pagination") if isinstance(body.get("pagination"), dict) else {}
    total = decimal(pagination.get("total_results"))
    return [r for r in body["results"] if isinstance(r, dict)], int(total) if total is not None else None


def parse_product(raw: dict[str, Any]) -> CatalogItem:
    """A product as a catalog item. Its ``erp_id`` is its ``code``: invoices name products by code."""
    code = text(raw.get("code"))
    if code is None:
        raise InvalidPayload("Siigo devolvió un producto sin código.", detail=repr(raw)[:300])
    taxes = [t for t in raw.get("taxes") or [] if isinstance(t, dict)]
    charged = [t for t in taxes if (text(t.get("type")) or "IVA").replace(" ", "").lower() in CHARGED_TAX_TYPES]
    additional = raw.get("additional_fields") if isinstance(raw.get("additional_fields"), dict) else {}
    barcode = text(additional.get("barcode")) or text(raw.get("barcode"))
    return CatalogItem(
        erp_id=code, name=text(raw.get("name")) or code,
        kind=PRODUCT_KINDS.get((text(raw.get("type")) or "product").lower(), "product"),
        reference=code, barcodes=(barcode,) if barcode else (),
        tax_ids=tuple(str(t["id"]) for t in charged if text(t.get("id"))),
        tax_rate=sum((decimal(t.get("percentage"), Decimal(0)) for t in charged), Decimal(0)),
        active=raw.get("active") is not False, prices=_prices(raw.get("prices")),
    )


def parse_item_stock(raw: dict[str, Any], warehouse_id: str | None) -> ItemStock:
    """A product's available quantity in ``warehouse_id`` (``warehouses[{id, name, quantity}]``; all
    warehouses: ``available_quantity``) and its prices. A product without ``stock_control`` (services,
    and products whose stock the seller does not count in Siigo) keeps no stock: ``quantity`` None. A
    warehouse the product does not list holds none of it (0). Quantities are read defensively: the
    blueprint types ``warehouses.quantity`` as a string in one table and a number in another."""
    code = text(raw.get("code"))
    if code is None:
        raise InvalidPayload("Siigo devolvió un producto sin código.", detail=repr(raw)[:300])
    kind = (text(raw.get("type")) or "product").lower()
    quantity: Decimal | None = None
    if raw.get("stock_control") is True and kind in ("product", "consumergood"):
        if warehouse_id is None:
            quantity = decimal(raw.get("available_quantity"), Decimal(0))
        else:
            rows = [w for w in raw.get("warehouses") or [] if isinstance(w, dict)]
            row = next((w for w in rows if text(w.get("id")) == str(warehouse_id)), None)
            quantity = decimal(row.get("quantity"), Decimal(0)) if row else Decimal(0)
    return ItemStock(erp_id=code, quantity=quantity, prices=_prices(raw.get("prices")),
                     name=text(raw.get("name")) or code)


def _prices(raw: Any) -> dict[str, Decimal]:
    """Price list position -> price, in the local currency (COP) when several currencies are given."""
    groups = [g for g in raw or [] if isinstance(g, dict)] if isinstance(raw, list) else []
    local = [g for g in groups if (text(g.get("currency_code")) or "COP").upper() == "COP"] or groups[:1]
    prices: dict[str, Decimal] = {}
    for group in local:
        for entry in group.get("price_list") or []:
            value = decimal(entry.get("value")) if isinstance(entry, dict) else None
            if value is not None and text(entry.get("position")):
                prices[str(entry["position"])] = value
    return prices


def parse_choice(raw: dict[str, Any], *, name_key: str = "name", extra_keys: tuple[str, ...] = ()) -> Choice | None:
    """An active catalog entry (warehouse, tax, document type, payment type) as a dropdown choice."""
    ident = text(raw.get("id"))
    if ident is None or raw.get("active") is False:
        return None
    return Choice(id=ident, name=text(raw.get(name_key)) or ident,
                  extra={k: raw[k] for k in extra_keys if k in raw})


def customer_identification(raw: dict[str, Any]) -> str | None:
    return text(raw.get("identification"))


def legal_of(stamp: Any) -> tuple[LegalStatus, str | None, str | None, tuple[str, ...]]:
    """``stamp {status, cufe|cude, observations, errors}`` -> (legal status, Siigo's word, code, reasons).
    A status other than Draft/Accepted/Rejected (*unconfirmed*, e.g. "Pending") counts as pending."""
    if not isinstance(stamp, dict):
        return LegalStatus.NOT_ELECTRONIC, None, None, ()
    word = text(stamp.get("status"))
    legal = LEGAL_STATUS.get((word or "draft").lower(), LegalStatus.PENDING)
    reasons = tuple(r for r in (reasons_of(stamp.get("errors")) + reasons_of(stamp.get("observations"))) if r)
    return legal, word, text(stamp.get("cufe")) or text(stamp.get("cude")), reasons


def reasons_of(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(r for item in value for r in reasons_of(item.get("message") if isinstance(item, dict) else item))
    found = text(value)
    return (found,) if found else ()


def parse_invoice(raw: Any) -> InvoiceResult:
    """An invoice as Siigo answers it. Siigo has no draft invoices: every one is registered ("open").

    ``payments`` are the payment forms recorded with it, reported only once nothing is owed (a credit
    form leaves the balance open: that payment is still to come). Siigo does not say whom it e-mailed."""
    if not isinstance(raw, dict) or text(raw.get("id")) is None:
        raise InvalidPayload("Siigo devolvió una factura con un formato inesperado.", detail=repr(raw)[:300])
    total = decimal(raw.get("total"), Decimal(0))
    balance = decimal(raw.get("balance"))
    legal, word, cufe, reasons = legal_of(raw.get("stamp"))
    issued = day_of(raw.get("date"))
    payments = ()
    if balance is not None and balance <= 0:
        payments = tuple(PaymentResult(erp_id=text(p.get("id")), amount=decimal(p.get("value"), Decimal(0)),
                                       date=issued, account_id=text(p.get("id")), raw=p)
                         for p in raw.get("payments") or [] if isinstance(p, dict))
    return InvoiceResult(erp_id=str(raw["id"]), number=text(raw.get("name")) or text(raw.get("number")),
                         total=total, status="open", stamp_status=word, raw=raw, legal_status=legal, cufe=cufe,
                         legal_reasons=reasons, balance=balance, payments=payments, emailed_to=None)


def parse_credit_note(raw: Any) -> CreditNoteResult:
    if not isinstance(raw, dict) or text(raw.get("id")) is None:
        raise InvalidPayload("Siigo devolvió una nota crédito con un formato inesperado.", detail=repr(raw)[:300])
    legal, word, cude, reasons = legal_of(raw.get("stamp"))
    invoice = raw.get("invoice")
    invoice_id = text(invoice.get("id")) if isinstance(invoice, dict) else text(invoice)
    return CreditNoteResult(erp_id=str(raw["id"]), number=text(raw.get("name")) or text(raw.get("number")),
                            total=decimal(raw.get("total"), Decimal(0)), status=word or "", legal_status=legal,
                            cufe=cude, legal_reasons=reasons, invoice_erp_ids=(invoice_id,) if invoice_id else (),
                            observations=text(raw.get("observations")) or "", raw=raw)


def parse_voucher(raw: Any, *, amount: Decimal, account_id: str) -> PaymentResult:
    if not isinstance(raw, dict) or text(raw.get("id")) is None:
        raise InvalidPayload("Siigo registró el recibo de caja pero no devolvió su id.", detail=repr(raw)[:300])
    payment = raw.get("payment") if isinstance(raw.get("payment"), dict) else {}
    return PaymentResult(erp_id=str(raw["id"]), amount=decimal(payment.get("value"), amount),
                         date=day_of(raw.get("date")), account_id=text(payment.get("id")) or account_id, raw=raw)


def day_of(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None
