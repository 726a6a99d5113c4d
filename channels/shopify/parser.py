"""Shopify raw documents -> canonical :class:`~connector.canonical.Order`. Pure, no I/O.

``pulled.raw`` is ``{"order": {...}}`` (an Admin REST order).

Status (``financial_status`` and ``fulfillment_status``, first matching row wins):

=====================================================  ===========
Shopify                                                canonical
=====================================================  ===========
``cancelled_at`` set                                   cancelled
financial ``refunded``, ``voided``                     cancelled
financial ``paid``, fulfillment null/``partial``       pending
financial ``paid``, ``fulfilled``, every fulfillment   completed
``shipment_status`` ``delivered``
financial ``paid``, ``fulfilled`` otherwise            shipped
financial ``paid``, ``restocked``                      other
financial ``partially_refunded``                       other (the invoice would not match; a person decides)
financial ``pending``, ``authorized``,                 other (not paid yet)
``partially_paid``, ``expired``, anything else
=====================================================  ===========

Money:

* ``taxes_included`` becomes ``prices_include_tax``: line ``price`` is per unit before discounts,
  tax included when the store shows prices with tax (usual in Latin America).
* A line's discount is the sum of its ``discount_allocations`` (never ``total_discounts``, which
  mixes lines and shipping).
* Shipping is the sum of ``shipping_lines[].price`` minus their ``discount_allocations``.

Buyer: name, e-mail and phone from ``customer`` and ``billing_address``. Shopify has no document
field; stores collect it their own way, so the source is configurable (``document_field``):

* ``auto`` (default): a note attribute named like a document (Cédula, CC, NIT, Documento,
  Identificación, RUT, DNI...), else ``billing_address.company`` when it is a number;
* ``note:<Nombre>``: the note attribute with that name;
* ``billing_company`` / ``billing_address2``: that field of the billing address;
* ``none``: never (the seller's fallback document or the final consumer is used).

Refunds (``refunds[]``, and cancellations refunded in full): :mod:`channels.shopify.refunds`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from channels.payloads import (
    DOCUMENT_FIELD_NAMES,
    DOCUMENT_SHAPE,
    PayloadReader,
    address_or_none,
    dict_of,
    fold_label,
    list_of,
    order_document,
    parse_safely,
    text_of,
    typed_document,
)
from channels.shopify.refunds import parse_refunds
from connector.canonical import (
    Address,
    Buyer,
    KindOfPerson,
    Order,
    OrderLine,
    OrderStatus,
    PulledOrder,
)

CHANNEL = "shopify"
LABEL = "Shopify"

PAID_BY_FULFILLMENT: dict[str | None, OrderStatus] = {
    None: OrderStatus.PENDING,
    "unfulfilled": OrderStatus.PENDING,
    "partial": OrderStatus.PENDING,
    "restocked": OrderStatus.OTHER,
}
CANCELLED_FINANCIAL = {"refunded", "voided"}


def normalise_status(order: dict[str, Any]) -> OrderStatus:
    """The canonical status of a Shopify order (see the module docstring's table)."""
    financial = text_of(order.get("financial_status"))
    if text_of(order.get("cancelled_at")) or financial in CANCELLED_FINANCIAL:
        return OrderStatus.CANCELLED
    if financial != "paid":
        return OrderStatus.OTHER
    fulfillment = text_of(order.get("fulfillment_status"))
    if fulfillment == "fulfilled":
        fulfillments = [dict_of(f) for f in list_of(order.get("fulfillments"))
                        if dict_of(f).get("status") not in ("cancelled", "error", "failure")]
        delivered = bool(fulfillments) and all(f.get("shipment_status") == "delivered" for f in fulfillments)
        return OrderStatus.COMPLETED if delivered else OrderStatus.SHIPPED
    return PAID_BY_FULFILLMENT.get(fulfillment, OrderStatus.OTHER)


def raw_status(order: dict[str, Any]) -> str:
    """``financial/fulfillment`` as stored next to the canonical status (``paid/fulfilled``)."""
    financial = text_of(order.get("financial_status")) or "?"
    fulfillment = text_of(order.get("fulfillment_status")) or "unfulfilled"
    return f"{financial}/{fulfillment}" + ("/cancelled" if text_of(order.get("cancelled_at")) else "")


def parse_order(pulled: PulledOrder, *, document_field: str = "auto") -> Order:
    """The canonical order for ``pulled``; :class:`InvalidPayload` with a readable reason if malformed."""
    return parse_safely(lambda p: _parse(p, document_field), pulled, LABEL)


def _parse(pulled: PulledOrder, document_field: str) -> Order:
    order, order_id, read = order_document(pulled, LABEL, shown_id_key="name")
    if text_of(order.get("financial_status")) is None:
        raise read.invalid("falta el estado de pago", "financial_status")
    created_at = read.date(order.get("created_at"), "created_at", label="la fecha de creación")
    currency = text_of(order.get("currency"))
    if currency is None:
        raise read.invalid("falta la moneda", "currency")
    taxes_included = order.get("taxes_included")
    taxes_included = taxes_included if isinstance(taxes_included, bool) else True
    lines = _parse_lines(read, order.get("line_items"))
    return Order(
        channel=CHANNEL,
        external_id=order_id,
        status=normalise_status(order),
        raw_status=raw_status(order),
        created_at=created_at,
        updated_at=read.date(order.get("updated_at") or order.get("created_at"), "updated_at",
                             label="la fecha de actualización"),
        currency=currency.upper(),
        prices_include_tax=taxes_included,
        lines=lines,
        shipping_cost=_shipping_cost(read, order.get("shipping_lines")),
        total_paid=read.optional_amount(order.get("total_price"), "total_price", label="el total") or None,
        buyer=_parse_buyer(read, order, document_field),
        refunds=parse_refunds(read, order, order_id, {line.line_id for line in lines}, taxes_included),
        raw=pulled.raw,
    )


def _allocated(read: PayloadReader, allocations: Any, where: str) -> Decimal:
    total = Decimal("0")
    for index, allocation in enumerate(list_of(allocations)):
        total += read.amount(dict_of(allocation).get("amount"), f"{where}.discount_allocations[{index}].amount",
                             label="el descuento")
    return total


def _parse_lines(read: PayloadReader, items: Any) -> list[OrderLine]:
    if not isinstance(items, list) or not items:
        raise read.invalid("no trae productos", "line_items")
    lines: list[OrderLine] = []
    for index, entry in enumerate(items):
        where = f"line_items[{index}]"
        if not isinstance(entry, dict):
            raise read.invalid(f"el producto {index + 1} no trae sus datos", where)
        quantity = read.quantity(entry.get("quantity"), f"{where}.quantity", label=f"la cantidad del producto {index + 1}")
        unit_price = read.amount(entry.get("price"), f"{where}.price", label=f"el precio del producto {index + 1}")
        discount = _allocated(read, entry.get("discount_allocations"), where)
        if discount > unit_price * quantity:
            raise read.invalid(f"el descuento del producto {index + 1} supera su valor", f"{where}.discount_allocations")
        variant_title = text_of(entry.get("variant_title"))
        lines.append(OrderLine(
            line_id=text_of(entry.get("id")) or f"linea-{index + 1}",
            sku=text_of(entry.get("sku")),
            title=text_of(entry.get("name")) or text_of(entry.get("title")) or "",
            variation_id=text_of(entry.get("variant_id")),
            # Shopify lines name the variant ("Negro / M") but not its options' names.
            variation_attributes={"Variante": variant_title} if variant_title else {},
            quantity=quantity,
            unit_price=unit_price,
            discount=discount,
        ))
    return lines


def _shipping_cost(read: PayloadReader, shipping_lines: Any) -> Decimal:
    total = Decimal("0")
    for index, line in enumerate(list_of(shipping_lines)):
        where = f"shipping_lines[{index}]"
        price = read.amount(dict_of(line).get("price"), f"{where}.price", label="el costo del envío")
        discount = _allocated(read, dict_of(line).get("discount_allocations"), where)
        if discount > price:
            raise read.invalid("el descuento del envío supera su valor", f"{where}.discount_allocations")
        total += price - discount
    return total


# -- buyer ------------------------------------------------------------------------------------


def find_document(order: dict[str, Any], document_field: str = "auto") -> tuple[str, str | None] | None:
    """``(number, source name)`` of the buyer's document under the store's convention, or None."""
    notes = [(text_of(dict_of(n).get("name")) or "", text_of(dict_of(n).get("value")))
             for n in list_of(order.get("note_attributes"))]
    billing = dict_of(order.get("billing_address"))
    setting = (document_field or "auto").strip()
    if setting.lower() == "none":
        return None
    if setting.lower().startswith("note:"):
        wanted = fold_label(setting[5:])
        return next(((value, name) for name, value in notes if value and fold_label(name) == wanted), None)
    if setting.lower() in ("billing_company", "billing_address2"):
        value = text_of(billing.get("company" if setting.lower() == "billing_company" else "address2"))
        return (value, None) if value else None
    for name, value in notes:
        if value and fold_label(name) in DOCUMENT_FIELD_NAMES:
            return value, name
    company = text_of(billing.get("company"))
    if company and DOCUMENT_SHAPE.fullmatch(company):
        return company, None
    return None


def _parse_buyer(read: PayloadReader, order: dict[str, Any], document_field: str) -> Buyer:
    customer = dict_of(order.get("customer"))
    billing = dict_of(order.get("billing_address"))
    full_name = text_of(billing.get("name")) or " ".join(
        p for p in (text_of(customer.get("first_name")), text_of(customer.get("last_name"))) if p)
    company = text_of(billing.get("company"))
    identification, kind = typed_document(find_document(order, document_field), read, "note_attributes")
    legal_name = company if kind is KindOfPerson.LEGAL and company and not DOCUMENT_SHAPE.fullmatch(company) else None
    street = " ".join(p for p in (text_of(billing.get("address1")), text_of(billing.get("address2"))) if p)
    address = Address(street=street or None, city=text_of(billing.get("city")),
                      department=text_of(billing.get("province")),
                      country=text_of(billing.get("country_code")) or text_of(billing.get("country")),
                      zip_code=text_of(billing.get("zip")))
    return Buyer(
        marketplace_id=text_of(customer.get("id")),
        name=legal_name or full_name or None,
        email=text_of(order.get("email")) or text_of(order.get("contact_email")) or text_of(customer.get("email")),
        phone=text_of(billing.get("phone")) or text_of(order.get("phone")) or text_of(customer.get("phone")),
        identification=identification,
        kind_of_person=kind,
        address=address_or_none(address),
    )
