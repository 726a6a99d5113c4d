"""Mercado Libre raw documents -> canonical :class:`~connector.canonical.Order`. Pure, no I/O.

``pulled.raw`` is ``{"order": {...}, "shipment": {...} | None, "billing_info": {...} | None}``.
Anything malformed raises :class:`InvalidPayload` naming the field, in Spanish; no ``KeyError`` or
``TypeError`` ever escapes.

Decisions worth knowing:

* Prices: ``unit_price`` is what the buyer paid per unit, tax included (``prices_include_tax``).
* Status: ML has no "shipped/delivered" order status; the shipment says it. See
  :data:`ORDER_STATUSES` and :func:`normalise_status`.
* Shipping cost is what the **buyer** paid, tax included: ``shipment.shipping_option.cost`` (old
  shipment format), else ``shipment.lead_time.cost`` (``x-format-new``), else the deprecated
  ``order.shipping_cost``, else 0 (free shipping, Full, or no shipment).
* Total paid: ``paid_amount`` (includes the buyer's shipping), or ``total_amount`` when it is 0 or
  missing (an unpaid order: the amount due).
* Buyer: ML no longer returns names or e-mails on the order; fiscal data comes from billing info.
* Refunds and cancellations after payment: :mod:`channels.mercadolibre.refunds`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from channels.mercadolibre.refunds import parse_refunds
from channels.payloads import (
    PayloadReader,
    address_or_none,
    dict_of,
    order_document,
    parse_iso_datetime,
    parse_safely,
    shown,
    split_document,
    text_of,
)
from connector.canonical import (
    Address,
    Buyer,
    Identification,
    KindOfPerson,
    Order,
    OrderLine,
    OrderStatus,
    PulledOrder,
)

CHANNEL = "mercadolibre"
LABEL = "Mercado Libre"
ML_SERVER_TZ = timezone(timedelta(hours=-4))  # ML stamps dates with -04:00; used for naive values

# "pending" means a sale waiting to be shipped, as in the reference product's order states. An order
# not yet paid is not a sale: it is "other", so choosing "pending" never invoices an unpaid order.
ORDER_STATUSES: dict[str, OrderStatus] = {
    "confirmed": OrderStatus.OTHER,
    "payment_required": OrderStatus.OTHER,
    "payment_in_process": OrderStatus.OTHER,
    "partially_paid": OrderStatus.OTHER,
    "paid": OrderStatus.PENDING,  # refined by the shipment, see PAID_BY_SHIPMENT_STATUS
    "cancelled": OrderStatus.CANCELLED,
    "invalid": OrderStatus.CANCELLED,
    "pending_cancel": OrderStatus.OTHER,
    "partially_refunded": OrderStatus.OTHER,
}
# A paid order moves on with its shipment; "not_delivered" (returned to the seller) needs a person.
PAID_BY_SHIPMENT_STATUS: dict[str, OrderStatus] = {
    "shipped": OrderStatus.SHIPPED,
    "delivered": OrderStatus.COMPLETED,
    "not_delivered": OrderStatus.OTHER,
}


def normalise_status(raw_status: str, shipment_status: str | None, tags: list[Any] | None = None) -> OrderStatus:
    """The canonical status: the order's own, refined by the shipment once the order is paid.

    Without a shipment (no Mercado Envíos), the order tag ``delivered`` means completed.
    """
    status = ORDER_STATUSES.get(raw_status, OrderStatus.OTHER)
    if raw_status != "paid":
        return status
    if shipment_status is not None:
        return PAID_BY_SHIPMENT_STATUS.get(shipment_status, OrderStatus.PENDING)
    return OrderStatus.COMPLETED if tags and "delivered" in tags else OrderStatus.PENDING


def parse_ml_datetime(value: Any) -> datetime | None:
    """ML's ISO dates (``2026-11-02T09:03:00.000-04:00``) as aware datetimes; None if unusable."""
    return parse_iso_datetime(value, naive_tz=ML_SERVER_TZ)


def parse_order(pulled: PulledOrder) -> Order:
    """The canonical order for ``pulled``; :class:`InvalidPayload` with a readable reason if malformed."""
    return parse_safely(_parse, pulled, LABEL)


def _parse(pulled: PulledOrder) -> Order:
    order, order_id, read = order_document(pulled, LABEL, naive_tz=ML_SERVER_TZ)
    raw = pulled.raw
    shipment = dict_of(raw.get("shipment"))
    raw_status = order.get("status")
    if not isinstance(raw_status, str) or not raw_status:
        raise read.invalid("falta el estado del pedido", "status")
    created_at = read.date(order.get("date_created"), "date_created", label="la fecha de creación")
    updated_value = order.get("last_updated") or order.get("date_last_updated")
    updated_at = parse_ml_datetime(updated_value) or created_at
    lines = _parse_lines(read, order.get("order_items"))
    currency = text_of(order.get("currency_id")) or text_of(dict_of(order["order_items"][0]).get("currency_id"))
    if currency is None:
        raise read.invalid("falta la moneda", "currency_id")
    tags = order.get("tags") if isinstance(order.get("tags"), list) else []
    return Order(
        channel=CHANNEL,
        external_id=order_id,
        status=normalise_status(raw_status, text_of(shipment.get("status")) if shipment else None, tags),
        raw_status=raw_status,
        created_at=created_at,
        updated_at=updated_at,
        currency=currency,
        prices_include_tax=True,
        lines=lines,
        shipping_cost=_shipping_cost(read, order, shipment),
        total_paid=_total_paid(read, order),
        buyer=_parse_buyer(read, dict_of(order.get("buyer")), raw.get("billing_info")),
        is_fulfillment=is_fulfillment(shipment),
        pack_id=text_of(order.get("pack_id")),
        refunds=parse_refunds(read, order, order_id),
        raw=raw,
    )


def _parse_lines(read: PayloadReader, items: Any) -> list[OrderLine]:
    if items is None:
        raise read.invalid("no trae productos", "order_items")
    if not isinstance(items, list):
        raise read.invalid("la lista de productos no es una lista", "order_items")
    if not items:
        raise read.invalid("no trae productos (lista vacía)", "order_items")
    lines: list[OrderLine] = []
    seen_ids: set[str] = set()
    for index, entry in enumerate(items):
        where = f"order_items[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("item"), dict):
            raise read.invalid(f"el producto {index + 1} no trae sus datos", f"{where}.item")
        item = entry["item"]
        variation_id = text_of(item.get("variation_id"))
        line_id = text_of(item.get("id")) or f"linea-{index + 1}"
        if variation_id:
            line_id = f"{line_id}-{variation_id}"
        if line_id in seen_ids:  # the same listing twice in one order: keep ids unique
            line_id = f"{line_id}#{index + 1}"
        seen_ids.add(line_id)
        quantity = read.quantity(entry.get("quantity"), f"{where}.quantity",
                                 label=f"la cantidad del producto {index + 1}")
        lines.append(OrderLine(
            line_id=line_id,
            sku=resolve_line_sku(item),
            title=text_of(item.get("title")) or "",
            variation_id=variation_id,
            variation_attributes=_variation_attributes(item.get("variation_attributes")),
            quantity=quantity,
            unit_price=read.amount(entry.get("unit_price"), f"{where}.unit_price",
                                   label=f"el precio del producto {index + 1}"),
        ))
    return lines


def resolve_line_sku(item: dict[str, Any]) -> str | None:
    """The seller's SKU: ``seller_sku``, else ``seller_custom_field`` (older listings), else None."""
    return text_of(item.get("seller_sku")) or text_of(item.get("seller_custom_field"))


def _variation_attributes(attributes: Any) -> dict[str, str]:
    """``[{name, value_name}, ...]`` -> ``{name: value_name}``; entries without both are skipped."""
    result: dict[str, str] = {}
    for attribute in attributes if isinstance(attributes, list) else []:
        name, value = text_of(dict_of(attribute).get("name")), text_of(dict_of(attribute).get("value_name"))
        if name and value:
            result[name] = value
    return result


def is_fulfillment(shipment: dict[str, Any]) -> bool:
    """Shipped by ML from its own warehouse ("Full"), in the old or the new shipment format."""
    return shipment.get("logistic_type") == "fulfillment" or dict_of(shipment.get("logistic")).get("type") == "fulfillment"


def _shipping_cost(read: PayloadReader, order: dict[str, Any], shipment: dict[str, Any]) -> Decimal:
    candidates = (
        (dict_of(shipment.get("shipping_option")).get("cost"), "shipment.shipping_option.cost"),
        (dict_of(shipment.get("lead_time")).get("cost"), "shipment.lead_time.cost"),
        (order.get("shipping_cost"), "shipping_cost"),
    )
    for value, field in candidates:
        if value is not None:
            return read.amount(value, field, label="el costo del envío")
    return Decimal("0")


def _total_paid(read: PayloadReader, order: dict[str, Any]) -> Decimal | None:
    for field in ("paid_amount", "total_amount"):
        if order.get(field) is not None:
            value = read.amount(order[field], field, label="el total pagado")
            if value > 0:
                return value
    return None


# -- buyer ------------------------------------------------------------------------------------

def billing_info_of(document: Any) -> dict[str, Any]:
    """The buyer's fiscal data from ``/orders/billing-info/{site}/{id}``: ``buyer.billing_info`` with
    ``name``, ``last_name``, ``identification {type, number}``, ``taxes``, ``address``. A bare
    ``billing_info`` with the same fields is accepted too; the deprecated v1 shape is not read.
    """
    document = dict_of(document)
    return dict_of(dict_of(document.get("buyer")).get("billing_info")) or dict_of(document.get("billing_info"))


def _parse_buyer(read: PayloadReader, order_buyer: dict[str, Any], billing_document: Any) -> Buyer:
    info = billing_info_of(billing_document)
    nickname = text_of(order_buyer.get("nickname"))
    identification = _identification(read, dict_of(info.get("identification")))
    full_name = " ".join(part for part in (text_of(info.get("name")), text_of(info.get("last_name"))) if part)
    business_name = text_of(info.get("business_name")) or text_of(dict_of(info.get("attributes")).get("business_name"))
    kind = None
    if identification is not None:
        # A company: Colombia's NIT, or any site's billing info marked as a business (``cust_type`` "BU"),
        # e.g. a Mexican RFC of a persona moral, which shares its document type with persons.
        business = str(dict_of(info.get("attributes")).get("cust_type") or "").upper() == "BU"
        kind = KindOfPerson.LEGAL if identification.type == "NIT" or business else KindOfPerson.PERSON
    return Buyer(
        marketplace_id=text_of(order_buyer.get("id")),
        name=business_name or full_name or nickname,
        identification=identification,
        kind_of_person=kind,
        address=_address(dict_of(info.get("address"))),
    )


def _identification(read: PayloadReader, data: dict[str, Any]) -> Identification | None:
    number = text_of(data.get("number"))
    if number is None:
        return None
    id_type = (text_of(data.get("type")) or "").upper() or None
    number, dv = split_document(number, id_type)  # "900123456-7": the part after the dash is the check digit
    if not any(ch.isalnum() for ch in number):
        raise read.invalid(f"el documento del comprador no es válido ({shown(data.get('number'))})",
                           "billing_info.identification.number")
    return Identification(type=id_type, number=number, dv=dv)


def _address(data: dict[str, Any]) -> Address | None:
    street = " ".join(p for p in (text_of(data.get("street_name")), text_of(data.get("street_number"))) if p)
    state, country = data.get("state"), data.get("country")
    address = Address(
        street=street or text_of(data.get("address_line")),
        city=text_of(data.get("city_name")) or text_of(dict_of(data.get("city")).get("name")),
        department=text_of(dict_of(state).get("name")) if isinstance(state, dict) else text_of(state),
        country=text_of(data.get("country_id")) or (text_of(dict_of(country).get("id")) if country else None),
        zip_code=text_of(data.get("zip_code")),
    )
    return address_or_none(address)
