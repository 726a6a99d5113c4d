"""The JSON bodies we send to Alegra (contacts, invoices, payments), built from the ERP-neutral drafts.

Amounts go out as the Decimal's own text (``"23529.411765"``), never through ``float``: Alegra accepts
numeric strings and a float would round a price the seller typed.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connector.errors import InvalidPayload
from connector.reasons import N_
from erp.base import ContactDraft, InvoiceDraft, InvoiceLineDraft, ItemDraft, PaymentDraft

TEXT_LIMIT = 500  # observations and anotation
MAX_DECIMALS = 6  # Alegra keeps prices with up to 6 decimals
_ELLIPSIS = "…"


def id_value(erp_id: str) -> int | str:
    """Alegra ids are numbers; send ``"12"`` as ``12`` and anything else untouched."""
    text = str(erp_id).strip()
    return int(text) if text.isdigit() else text


def amount_text(value: Decimal) -> str:
    """A Decimal as plain text with at most 6 decimals (half-up), no exponent: ``Decimal("2.8E+4")`` -> ``"28000"``."""
    if value.as_tuple().exponent < -MAX_DECIMALS:  # type: ignore[operator]
        value = value.quantize(Decimal(1).scaleb(-MAX_DECIMALS), rounding=ROUND_HALF_UP)
    return format(value, "f")


def number_value(value: Decimal) -> int | str:
    """Quantities and discounts: an int when whole, else the Decimal's text."""
    return int(value) if value == value.to_integral_value() else amount_text(value)


def fit_observations(text: str, marker: str, limit: int = TEXT_LIMIT) -> str:
    """``text`` within ``limit`` characters, always containing ``marker`` whole.

    The marker is how an ambiguous write is found again, so it is never cut: the rest of the text is
    shortened (ending in "…") and the marker appended when it would not fit where it was.
    """
    if len(marker) > limit:
        raise InvalidPayload("La marca del pedido es demasiado larga para Alegra.", detail=marker[:80])
    text = text.strip()
    if marker not in text:
        text = f"{text} {marker}".strip()
    if len(text) <= limit:
        return text
    rest = " ".join(text.replace(marker, " ", 1).split())
    room = limit - len(marker) - len(_ELLIPSIS) - 1
    return f"{rest[:max(room, 0)].rstrip()}{_ELLIPSIS} {marker}"


def truncate(text: str, limit: int = TEXT_LIMIT) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - len(_ELLIPSIS)].rstrip() + _ELLIPSIS


def split_person_name(name: str) -> dict[str, str]:
    """Split a person's full name for ``nameObject``.

    Colombian names usually carry two given names and two surnames, so four words split 2+2, three words
    1+2, two words 1+1; one word is only a first name.
    """
    words = name.split()
    if len(words) <= 1:
        return {"firstName": name.strip()}
    given = 2 if len(words) >= 4 else 1
    return {"firstName": " ".join(words[:given]), "lastName": " ".join(words[given:])}


# Where a country's fiscal fields of a contact go in Alegra's body (*unconfirmed* key names: Alegra
# documents Mexico's and Panama's contact forms, not these keys).
FISCAL_FIELD_KEYS = {"cfdi_use": "cfdiUse", "receiver_type": "typeOfReceiver"}


def contact_payload(contact: ContactDraft, *, country: str = "CO") -> dict[str, Any]:
    """``POST /contacts`` body.

    Colombia takes ``identificationObject {type, number, dv}`` (documented for CO; *unconfirmed* whether
    ``identification {type, number}`` is preferred — we assume ``identificationObject``). Other countries:
    *unconfirmed* which one Alegra reads, so both readings are sent — the plain ``identification`` string
    and the typed ``identificationObject`` — instead of a bare number that loses the document's type.
    """
    payload: dict[str, Any] = {"name": contact.name.strip(), "type": ["client"]}
    if (contact.kind_of_person or "PERSON_ENTITY") == "PERSON_ENTITY":
        payload["nameObject"] = split_person_name(contact.name)
    identification: dict[str, Any] = {"number": contact.identification_number}
    if contact.identification_type:
        identification["type"] = contact.identification_type
    if contact.dv:
        identification["dv"] = contact.dv
    payload["identificationObject"] = identification
    if country.upper() != "CO":
        payload["identification"] = contact.identification_number
    for name, value in contact.fiscal_fields.items():
        if value and name in FISCAL_FIELD_KEYS:
            payload[FISCAL_FIELD_KEYS[name]] = value
    optional = {"kindOfPerson": contact.kind_of_person, "regime": contact.regime, "email": contact.email,
                "phonePrimary": contact.phone}
    payload.update({k: v for k, v in optional.items() if v})
    address = {"address": contact.address, "city": contact.city, "department": contact.department,
               "country": contact.country, "zipCode": contact.zip_code, "district": contact.district}
    address = {k: v for k, v in address.items() if v}
    if address:
        payload["address"] = address
    return payload


def invoice_line_payload(line: InvoiceLineDraft) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": id_value(line.item_id),
        "price": amount_text(line.unit_price),
        "quantity": number_value(line.quantity),
    }
    if line.discount_percent:
        item["discount"] = number_value(line.discount_percent)
    if line.description:
        item["description"] = truncate(line.description)
    if line.reference:
        item["reference"] = line.reference
    item["tax"] = [{"id": id_value(tax_id)} for tax_id in line.tax_ids]
    return item


def invoice_payload(draft: InvoiceDraft) -> dict[str, Any]:
    """``POST /invoices`` body. Prices are before tax; the marker rides in ``observations`` (not printed)."""
    if not draft.lines:
        raise InvalidPayload("La factura no tiene ítems.", detail=f"marker={draft.marker}")
    payload: dict[str, Any] = {
        "date": draft.issue_date.isoformat(),
        "dueDate": draft.due_date.isoformat(),
        "client": {"id": id_value(draft.contact_id)},
        "items": [invoice_line_payload(line) for line in draft.lines],
        "status": draft.status,
        "observations": fit_observations(draft.observations, draft.marker),
    }
    if draft.annotation.strip():
        payload["anotation"] = truncate(draft.annotation)  # Alegra's spelling
    for key, value in (("warehouse", draft.warehouse_id), ("priceList", draft.price_list_id),
                       ("numberTemplate", draft.number_template_id)):
        if value:
            payload[key] = {"id": id_value(value)}
    if draft.payment_form:
        payload["paymentForm"] = draft.payment_form
    if draft.payment_method:
        payload["paymentMethod"] = draft.payment_method
    if draft.currency and draft.currency.upper() != "COP":
        payload["currency"] = {"code": draft.currency.upper()}
    if draft.stamp:
        payload["stamp"] = {"generateStamp": True}
    if draft.payment is not None:
        # Alegra only takes payments on open invoices (it creates the invoice open when one comes inline):
        # a draft with a payment is a core mistake, refused here rather than silently opened.
        if draft.status != "open":
            raise InvalidPayload("Una factura con pago registrado debe quedar abierta, no en borrador.",
                                 detail=f"marker={draft.marker} status={draft.status}")
        payload["payments"] = [inline_payment_payload(draft.payment)]
    return payload


# Alegra's documented payment methods, with the labels its Spanish interface shows.
# N_ marks them for the panel's catalog (it translates them when shown).
PAYMENT_METHODS = (("cash", N_("Efectivo")), ("check", N_("Cheque")), ("transfer", N_("Transferencia")),
                   ("deposit", N_("Consignación")), ("credit-card", N_("Tarjeta de crédito")),
                   ("debit-card", N_("Tarjeta débito")))


def _payment_method(method: str) -> str:
    if method not in dict(PAYMENT_METHODS):
        raise InvalidPayload(f"Alegra no conoce el medio de pago «{method}».", detail=f"paymentMethod={method!r}")
    return method


def _payment_amount(payment: PaymentDraft) -> str:
    if payment.amount <= 0:
        raise InvalidPayload("El valor del pago debe ser mayor que cero.", detail=f"marker={payment.marker}")
    return amount_text(payment.amount)


def inline_payment_payload(payment: PaymentDraft) -> dict[str, Any]:
    """One entry of ``payments`` on ``POST /invoices``: ``{date, account: {id}, amount, paymentMethod}``."""
    return {"date": payment.date.isoformat(), "account": {"id": id_value(payment.account_id)},
            "amount": _payment_amount(payment), "paymentMethod": _payment_method(payment.method)}


def payment_payload(payment: PaymentDraft) -> dict[str, Any]:
    """``POST /payments`` body: money received (``type: in``) against one invoice.

    Alegra has no idempotency key either, so the marker rides in ``observations`` like an invoice's.
    """
    if not payment.invoice_erp_id or not payment.contact_id:
        raise InvalidPayload("El pago necesita la factura y el cliente de Alegra.",
                             detail=f"marker={payment.marker} invoice={payment.invoice_erp_id} "
                                    f"contact={payment.contact_id}")
    amount = _payment_amount(payment)
    return {
        "type": "in", "date": payment.date.isoformat(),
        "bankAccount": {"id": id_value(payment.account_id)},
        "client": {"id": id_value(payment.contact_id)},
        "invoices": [{"id": id_value(payment.invoice_erp_id), "amount": amount}],
        "paymentMethod": _payment_method(payment.method),
        "observations": fit_observations("", payment.marker),
    }


def item_payload(draft: ItemDraft) -> dict[str, Any]:
    """``POST /items``: a product with its price in the given (or default, id 1 "General") price list.
    *Unconfirmed*: whether an inventoried ``product`` needs ``inventory`` data on creation; none is
    sent (Alegra then creates it without stock control, per its item examples)."""
    body: dict[str, Any] = {
        "name": truncate(draft.name, 150), "reference": draft.code, "type": "product",
        "price": [{"idPriceList": id_value(draft.price_list_id or "1"), "price": amount_text(draft.price)}],
    }
    if draft.tax_ids:
        body["tax"] = [{"id": id_value(tax_id)} for tax_id in draft.tax_ids]
    return body
