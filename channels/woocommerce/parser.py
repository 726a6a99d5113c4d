"""WooCommerce raw documents -> canonical :class:`~connector.canonical.Order`. Pure, no I/O.

``pulled.raw`` is ``{"order": {...}}`` (a REST v3 order).

Status:

==================================  ===========
WooCommerce                         canonical
==================================  ===========
``processing``                      pending (paid, waiting to be fulfilled)
``completed``                       completed
``cancelled``, ``refunded``,        cancelled
``failed``, ``trash``
``pending``, ``on-hold``,           other (not paid yet / payment not confirmed)
``checkout-draft``, anything else
==================================  ===========

WooCommerce core has no "shipped" status (plugins add their own; they land in *other*).

Money — the invoice total must equal what the buyer paid, whatever tax rate the ERP item has, so
amounts are turned **tax included** (``prices_include_tax=True``):

* A line's ``subtotal`` (before coupons) and ``total`` (after coupons) are before tax; with their
  taxes, ``subtotal + subtotal_tax`` is the gross line and ``total + total_tax`` what was paid.
  ``unit_price`` is the gross per unit (rounded up to 6 decimals) and ``discount`` the rest, so
  ``unit_price × quantity − discount`` is exactly what was paid for the line.
* Shipping is the sum of ``shipping_lines[].total + total_tax`` (a free-shipping coupon already
  made it 0).
* ``coupon_lines`` are informational: coupons are already inside the line totals.
* ``fee_lines``: a **negative** fee is a discount (plugins use them) and is spread over the lines
  in proportion to what each line paid; a **positive** fee (payment surcharge, gift wrap) has no
  ERP item and is **not invoiced** — the invoice then equals the order total minus those fees.
* ``total_paid`` is the order's ``total``.

Buyer: ``billing`` (name, company, e-mail, phone, address). WooCommerce has no document field;
checkout plugins store it in the order's ``meta_data``. ``document_field`` chooses where to read it:
``auto`` (a meta key named like a document: ``_billing_cedula``, ``billing_nit``,
``_billing_document``, ``dni``, ...), ``meta:<key>``, ``billing_company`` or ``none``.

Refunds (``GET /orders/{id}/refunds``, fetched by the adapter when the order lists any; refunded and
paid-then-cancelled orders): :mod:`channels.woocommerce.refunds`.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
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
    parse_iso_datetime,
    parse_safely,
    text_of,
    typed_document,
)
from channels.woocommerce.refunds import parse_refunds
from connector.canonical import (
    Address,
    Adjustment,
    AdjustmentTreatment,
    Buyer,
    KindOfPerson,
    Order,
    OrderLine,
    OrderStatus,
    PulledOrder,
)

CHANNEL = "woocommerce"
LABEL = "WooCommerce"
UNIT_PLACES = Decimal("0.000001")

ORDER_STATUSES: dict[str, OrderStatus] = {
    "pending": OrderStatus.OTHER,
    "processing": OrderStatus.PENDING,
    "on-hold": OrderStatus.OTHER,
    "completed": OrderStatus.COMPLETED,
    "cancelled": OrderStatus.CANCELLED,
    "refunded": OrderStatus.CANCELLED,
    "failed": OrderStatus.CANCELLED,
    "trash": OrderStatus.CANCELLED,
    "checkout-draft": OrderStatus.OTHER,
}


def normalise_status(raw_status: str) -> OrderStatus:
    """The canonical status of a WooCommerce status (see the module docstring's table)."""
    return ORDER_STATUSES.get(raw_status.strip().lower().removeprefix("wc-"), OrderStatus.OTHER)


def parse_order(pulled: PulledOrder, *, document_field: str = "auto") -> Order:
    """The canonical order for ``pulled``; :class:`InvalidPayload` with a readable reason if malformed."""
    return parse_safely(lambda p: _parse(p, document_field), pulled, LABEL)


def _date(read: PayloadReader, order: dict[str, Any], name: str, label: str):
    # *_gmt is UTC without offset; the plain field is the site's local time (zone unknown): fallback only.
    return parse_iso_datetime(order.get(f"{name}_gmt")) or read.date(order.get(name), name, label=label)


def _parse(pulled: PulledOrder, document_field: str) -> Order:
    order, order_id, read = order_document(pulled, LABEL, shown_id_key="number")
    raw_status = text_of(order.get("status"))
    if raw_status is None:
        raise read.invalid("falta el estado del pedido", "status")
    currency = text_of(order.get("currency"))
    if currency is None:
        raise read.invalid("falta la moneda", "currency")
    created_at = _date(read, order, "date_created", "la fecha de creación")
    updated_at = parse_iso_datetime(order.get("date_modified_gmt")) or parse_iso_datetime(
        order.get("date_modified")) or created_at
    lines = _parse_lines(read, order.get("line_items"))
    fees = _fees(read, order.get("fee_lines"))
    lines = _spread_negative_fees(read, lines, fees)
    return Order(
        channel=CHANNEL,
        external_id=order_id,
        status=normalise_status(raw_status),
        raw_status=raw_status,
        created_at=created_at,
        updated_at=updated_at,
        currency=currency.upper(),
        prices_include_tax=True,
        lines=lines,
        shipping_cost=_shipping_cost(read, order.get("shipping_lines")),
        total_paid=read.optional_amount(order.get("total"), "total", label="el total") or None,
        buyer=_parse_buyer(read, order, document_field),
        refunds=parse_refunds(read, order, order_id, pulled.raw.get("refunds"), updated_at),
        adjustments=[Adjustment(label=label, amount=amount,
                                treatment=AdjustmentTreatment.SPREAD_AS_DISCOUNT if amount < 0
                                else AdjustmentTreatment.LEFT_OUT)
                     for label, amount in fees if amount],
        raw=pulled.raw,
    )


def _parse_lines(read: PayloadReader, items: Any) -> list[OrderLine]:
    if not isinstance(items, list) or not items:
        raise read.invalid("no trae productos", "line_items")
    lines: list[OrderLine] = []
    for index, entry in enumerate(items):
        where = f"line_items[{index}]"
        if not isinstance(entry, dict):
            raise read.invalid(f"el producto {index + 1} no trae sus datos", where)
        label = f"producto {index + 1}"
        quantity = read.quantity(entry.get("quantity"), f"{where}.quantity", label=f"la cantidad del {label}")
        paid = read.amount(entry.get("total"), f"{where}.total", label=f"el total del {label}") + \
            read.optional_amount(entry.get("total_tax"), f"{where}.total_tax", label=f"el impuesto del {label}")
        gross = paid
        if entry.get("subtotal") not in (None, "") and entry.get("subtotal_tax") not in (None, ""):
            gross = max(paid, read.amount(entry["subtotal"], f"{where}.subtotal", label=f"el subtotal del {label}")
                        + read.amount(entry["subtotal_tax"], f"{where}.subtotal_tax",
                                      label=f"el impuesto del subtotal del {label}"))
        unit_price = (gross / quantity).quantize(UNIT_PLACES, rounding=ROUND_CEILING)
        variation_id = text_of(entry.get("variation_id"))
        lines.append(OrderLine(
            line_id=text_of(entry.get("id")) or f"linea-{index + 1}",
            sku=text_of(entry.get("sku")),
            title=text_of(entry.get("name")) or "",
            variation_id=variation_id if variation_id not in (None, "0") else None,
            variation_attributes=variation_attributes(entry.get("meta_data")),
            quantity=quantity,
            unit_price=unit_price,
            discount=unit_price * quantity - paid,
        ))
    return lines


def variation_attributes(meta_data: Any) -> dict[str, str]:
    """A variation's attributes from the line's ``meta_data`` (``display_key``/``display_value``);
    hidden entries (keys starting with ``_``) and non-text values are skipped."""
    result: dict[str, str] = {}
    for entry in list_of(meta_data):
        entry = dict_of(entry)
        key = text_of(entry.get("key"))
        if key is None or key.startswith("_"):
            continue
        name = text_of(entry.get("display_key")) or key.removeprefix("pa_")
        value = text_of(entry.get("display_value")) if isinstance(entry.get("display_value"), str) else None
        value = value or (text_of(entry.get("value")) if isinstance(entry.get("value"), str) else None)
        if name and value:
            result[name] = value
    return result


def _fees(read: PayloadReader, fee_lines: Any) -> list[tuple[str, Decimal]]:
    """Each fee line as (name, amount with its tax)."""
    fees = []
    for index, fee in enumerate(list_of(fee_lines)):
        fee = dict_of(fee)
        amount = read.decimal(fee.get("total"), f"fee_lines[{index}].total", label="el valor del cargo")
        tax_value = fee.get("total_tax")
        amount += Decimal("0") if tax_value in (None, "") else read.decimal(
            tax_value, f"fee_lines[{index}].total_tax", label="el impuesto del cargo")
        fees.append((text_of(fee.get("name")) or f"Cargo {index + 1}", amount))
    return fees


def _spread_negative_fees(read: PayloadReader, lines: list[OrderLine], fees: list[tuple[str, Decimal]]) \
        -> list[OrderLine]:
    """Negative fees are discounts: spread them over the lines by what each paid (cents stay exact)."""
    discount = -sum((amount for _, amount in fees if amount < 0), Decimal("0"))
    if not discount:
        return lines
    paid = [line.amount_paid for line in lines]
    total = sum(paid, Decimal("0"))
    if discount > total:
        raise read.invalid("los descuentos por cargos negativos superan el valor de los productos", "fee_lines")
    shares = [(discount * amount / total).quantize(UNIT_PLACES, rounding=ROUND_FLOOR) for amount in paid]
    left = discount - sum(shares, Decimal("0"))
    for position, amount in enumerate(paid):  # the rounding remainder goes where there is room
        take = min(amount - shares[position], left)
        shares[position] += take
        left -= take
    return [line.model_copy(update={"discount": line.discount + share}) for line, share in zip(lines, shares, strict=True)]


def _shipping_cost(read: PayloadReader, shipping_lines: Any) -> Decimal:
    total = Decimal("0")
    for index, line in enumerate(list_of(shipping_lines)):
        line = dict_of(line)
        total += read.amount(line.get("total"), f"shipping_lines[{index}].total", label="el costo del envío")
        total += read.optional_amount(line.get("total_tax"), f"shipping_lines[{index}].total_tax",
                                      label="el impuesto del envío")
    return total


# -- buyer ------------------------------------------------------------------------------------


def find_document(order: dict[str, Any], document_field: str = "auto") -> tuple[str, str | None] | None:
    """``(number, meta key)`` of the buyer's document under the store's convention, or None."""
    metas = [(text_of(dict_of(m).get("key")) or "", dict_of(m).get("value")) for m in list_of(order.get("meta_data"))]
    metas = [(key, text_of(value)) for key, value in metas if isinstance(value, str | int) and not isinstance(value, bool)]
    billing = dict_of(order.get("billing"))
    setting = (document_field or "auto").strip()
    if setting.lower() == "none":
        return None
    if setting.lower().startswith("meta:"):
        wanted = setting[5:].strip()
        return next(((value, key) for key, value in metas if value and key == wanted), None)
    if setting.lower() == "billing_company":
        company = text_of(billing.get("company"))
        return (company, None) if company else None
    for key, value in metas:
        if value and fold_label(key) in DOCUMENT_FIELD_NAMES:
            return value, key
    return None


def _parse_buyer(read: PayloadReader, order: dict[str, Any], document_field: str) -> Buyer:
    billing = dict_of(order.get("billing"))
    full_name = " ".join(p for p in (text_of(billing.get("first_name")), text_of(billing.get("last_name"))) if p)
    company = text_of(billing.get("company"))
    identification, kind = typed_document(find_document(order, document_field), read, "meta_data")
    legal_name = company if kind is KindOfPerson.LEGAL and company and not DOCUMENT_SHAPE.fullmatch(company) else None
    street = " ".join(p for p in (text_of(billing.get("address_1")), text_of(billing.get("address_2"))) if p)
    address = Address(street=street or None, city=text_of(billing.get("city")),
                      department=text_of(billing.get("state")), country=text_of(billing.get("country")),
                      zip_code=text_of(billing.get("postcode")))
    customer_id = text_of(order.get("customer_id"))
    return Buyer(
        marketplace_id=customer_id if customer_id not in (None, "0") else None,
        name=legal_name or full_name or company,
        email=text_of(billing.get("email")),
        phone=text_of(billing.get("phone")),
        identification=identification,
        kind_of_person=kind,
        address=address_or_none(address),
    )
