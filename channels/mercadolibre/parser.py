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
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

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
from connector.errors import InvalidPayload

CHANNEL = "mercadolibre"
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
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ML_SERVER_TZ)


class _Reader:
    """Reads one order's fields, raising InvalidPayload that names the order and the field."""

    def __init__(self, order_id: str | None):
        self.order_id = order_id

    def invalid(self, reason: str, field: str) -> InvalidPayload:
        who = f"El pedido {self.order_id} de Mercado Libre" if self.order_id else "Un pedido de Mercado Libre"
        return InvalidPayload(f"{who} no se puede leer: {reason} (campo {field}).", detail=f"field {field}")

    def decimal(self, value: Any, field: str, *, label: str) -> Decimal:
        if isinstance(value, bool) or value is None:
            raise self.invalid(f"falta {label}" if value is None else f"{label} no es un número", field)
        try:
            if isinstance(value, int | Decimal):
                number = Decimal(value)
            elif isinstance(value, float):
                number = Decimal(repr(value)) if math.isfinite(value) else Decimal("NaN")
            elif isinstance(value, str):
                number = Decimal(value.strip())
            else:
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            raise self.invalid(f"{label} no es un número ({_shown(value)})", field) from None
        if not number.is_finite():
            raise self.invalid(f"{label} no es un número ({_shown(value)})", field)
        return number

    def amount(self, value: Any, field: str, *, label: str) -> Decimal:
        number = self.decimal(value, field, label=label)
        if number < 0:
            raise self.invalid(f"{label} es negativo ({number})", field)
        return number

    def date(self, value: Any, field: str, *, label: str) -> datetime:
        parsed = parse_ml_datetime(value)
        if parsed is None:
            raise self.invalid(f"{label} falta o no es una fecha válida ({_shown(value)})", field)
        return parsed


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(value: Any) -> str | None:
    """A non-empty stripped string from a str or an int id; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_order(pulled: PulledOrder) -> Order:
    """The canonical order for ``pulled``; :class:`InvalidPayload` with a readable reason if malformed."""
    try:
        return _parse(pulled)
    except InvalidPayload:
        raise
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        raise InvalidPayload(
            f"El pedido {pulled.external_id} de Mercado Libre no es válido: {first.get('msg', exc)} ({where}).",
            detail=str(exc)[:500],
        ) from None
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:  # safety net
        raise InvalidPayload(
            f"El pedido {pulled.external_id} de Mercado Libre tiene un formato inesperado.",
            detail=f"{type(exc).__name__}: {exc}"[:500],
        ) from None


def _parse(pulled: PulledOrder) -> Order:
    raw = pulled.raw if isinstance(pulled.raw, dict) else {}
    order = raw.get("order")
    if not isinstance(order, dict):
        raise _Reader(pulled.external_id).invalid("no viene el documento del pedido", "order")
    order_id = _text(order.get("id"))
    read = _Reader(order_id or pulled.external_id)
    if order_id is None:
        raise read.invalid("falta el identificador del pedido", "id")
    shipment = _dict(raw.get("shipment"))
    raw_status = order.get("status")
    if not isinstance(raw_status, str) or not raw_status:
        raise read.invalid("falta el estado del pedido", "status")
    created_at = read.date(order.get("date_created"), "date_created", label="la fecha de creación")
    updated_value = order.get("last_updated") or order.get("date_last_updated")
    updated_at = parse_ml_datetime(updated_value) or created_at
    lines = _parse_lines(read, order.get("order_items"))
    currency = _text(order.get("currency_id")) or _text(_dict(order["order_items"][0]).get("currency_id"))
    if currency is None:
        raise read.invalid("falta la moneda", "currency_id")
    tags = order.get("tags") if isinstance(order.get("tags"), list) else []
    return Order(
        channel=CHANNEL,
        external_id=order_id,
        status=normalise_status(raw_status, _text(shipment.get("status")) if shipment else None, tags),
        raw_status=raw_status,
        created_at=created_at,
        updated_at=updated_at,
        currency=currency,
        prices_include_tax=True,
        lines=lines,
        shipping_cost=_shipping_cost(read, order, shipment),
        total_paid=_total_paid(read, order),
        buyer=_parse_buyer(read, _dict(order.get("buyer")), raw.get("billing_info")),
        is_fulfillment=is_fulfillment(shipment),
        pack_id=_text(order.get("pack_id")),
        raw=raw,
    )


def _parse_lines(read: _Reader, items: Any) -> list[OrderLine]:
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
        variation_id = _text(item.get("variation_id"))
        line_id = _text(item.get("id")) or f"linea-{index + 1}"
        if variation_id:
            line_id = f"{line_id}-{variation_id}"
        if line_id in seen_ids:  # the same listing twice in one order: keep ids unique
            line_id = f"{line_id}#{index + 1}"
        seen_ids.add(line_id)
        quantity = read.decimal(entry.get("quantity"), f"{where}.quantity",
                                label=f"la cantidad del producto {index + 1}")
        if quantity <= 0:
            raise read.invalid(f"la cantidad del producto {index + 1} debe ser mayor que cero ({quantity})",
                               f"{where}.quantity")
        lines.append(OrderLine(
            line_id=line_id,
            sku=resolve_line_sku(item),
            title=_text(item.get("title")) or "",
            variation_id=variation_id,
            variation_attributes=_variation_attributes(item.get("variation_attributes")),
            quantity=quantity,
            unit_price=read.amount(entry.get("unit_price"), f"{where}.unit_price",
                                   label=f"el precio del producto {index + 1}"),
        ))
    return lines


def resolve_line_sku(item: dict[str, Any]) -> str | None:
    """The seller's SKU: ``seller_sku``, else ``seller_custom_field`` (older listings), else None."""
    return _text(item.get("seller_sku")) or _text(item.get("seller_custom_field"))


def _variation_attributes(attributes: Any) -> dict[str, str]:
    """``[{name, value_name}, ...]`` -> ``{name: value_name}``; entries without both are skipped."""
    result: dict[str, str] = {}
    for attribute in attributes if isinstance(attributes, list) else []:
        name, value = _text(_dict(attribute).get("name")), _text(_dict(attribute).get("value_name"))
        if name and value:
            result[name] = value
    return result


def is_fulfillment(shipment: dict[str, Any]) -> bool:
    """Shipped by ML from its own warehouse ("Full"), in the old or the new shipment format."""
    return shipment.get("logistic_type") == "fulfillment" or _dict(shipment.get("logistic")).get("type") == "fulfillment"


def _shipping_cost(read: _Reader, order: dict[str, Any], shipment: dict[str, Any]) -> Decimal:
    candidates = (
        (_dict(shipment.get("shipping_option")).get("cost"), "shipment.shipping_option.cost"),
        (_dict(shipment.get("lead_time")).get("cost"), "shipment.lead_time.cost"),
        (order.get("shipping_cost"), "shipping_cost"),
    )
    for value, field in candidates:
        if value is not None:
            return read.amount(value, field, label="el costo del envío")
    return Decimal("0")


def _total_paid(read: _Reader, order: dict[str, Any]) -> Decimal | None:
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
    document = _dict(document)
    return _dict(_dict(document.get("buyer")).get("billing_info")) or _dict(document.get("billing_info"))


def _parse_buyer(read: _Reader, order_buyer: dict[str, Any], billing_document: Any) -> Buyer:
    info = billing_info_of(billing_document)
    nickname = _text(order_buyer.get("nickname"))
    identification = _identification(read, _dict(info.get("identification")))
    full_name = " ".join(part for part in (_text(info.get("name")), _text(info.get("last_name"))) if part)
    business_name = _text(info.get("business_name")) or _text(_dict(info.get("attributes")).get("business_name"))
    kind = None
    if identification is not None:
        kind = KindOfPerson.LEGAL if identification.type == "NIT" else KindOfPerson.PERSON
    return Buyer(
        marketplace_id=_text(order_buyer.get("id")),
        name=business_name or full_name or nickname,
        identification=identification,
        kind_of_person=kind,
        address=_address(_dict(info.get("address"))),
    )


def _identification(read: _Reader, data: dict[str, Any]) -> Identification | None:
    number = _text(data.get("number"))
    if number is None:
        return None
    id_type = (_text(data.get("type")) or "").upper() or None
    dv = None
    if id_type == "NIT" and "-" in number:  # "900123456-7": the part after the dash is the check digit
        number, _, dv = number.rpartition("-")
        dv = dv.strip() or None
    if not any(ch.isalnum() for ch in number):
        raise read.invalid(f"el documento del comprador no es válido ({_shown(data.get('number'))})",
                           "billing_info.identification.number")
    return Identification(type=id_type, number=number, dv=dv)


def _address(data: dict[str, Any]) -> Address | None:
    street = " ".join(p for p in (_text(data.get("street_name")), _text(data.get("street_number"))) if p)
    state, country = data.get("state"), data.get("country")
    address = Address(
        street=street or _text(data.get("address_line")),
        city=_text(data.get("city_name")) or _text(_dict(data.get("city")).get("name")),
        department=_text(_dict(state).get("name")) if isinstance(state, dict) else _text(state),
        country=_text(data.get("country_id")) or (_text(_dict(country).get("id")) if country else None),
        zip_code=_text(data.get("zip_code")),
    )
    return address if any(address.model_dump().values()) else None
