"""WooCommerce: an order's refunds as canonical refunds. Pure, no I/O.

An order object lists its refunds only in summary (``refunds: [{id, reason, total}]``, ``total``
negative); the adapter then reads ``GET /orders/{id}/refunds`` and keeps the answer beside the
order (``pulled.raw["refunds"]``), so an order without refunds costs no extra call. Each refund
``{id, date_created(_gmt), amount, reason, line_items, shipping_lines}`` is one
:class:`~connector.canonical.Refund` ``<refund id>``, tax included like the parser's lines:

* ``amount`` is what was given back (positive, as WooCommerce writes it).
* A line is ``-(total + total_tax)`` for ``-quantity`` units (WooCommerce writes refunded lines
  negative). It names the order line it refunds in its ``meta_data`` ``_refunded_item_id``; an
  older payload without it is matched by ``product_id`` and ``variation_id`` when exactly one line
  of the order has them.
* Shipping is ``-(total + total_tax)`` of the refund's ``shipping_lines``.
* ``restocked`` is not in the refund WooCommerce answers (``api_restock`` is write-only): False.
* Without the fetched refunds (a webhook body, an older stored payload) the summary is read:
  ``id``, ``-total`` and ``reason``, dated by the order's last change, without lines.
* Status ``refunded``: the newest refund is ``full``, and without any refund the whole order
  total is one full refund ``cancel-<order id>``. Status ``cancelled`` after payment (``date_paid``
  set): whatever was not given back yet is one full refund ``cancel-<order id>``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from channels.payloads import PayloadReader, dict_of, list_of, parse_iso_datetime, text_of
from channels.refunds import lines_if_all_known, positive, read_each_refund, settled_refunds
from connector.canonical import Refund, RefundLine

REFUNDED_ITEM_KEY = "_refunded_item_id"


def has_refunds(order: dict[str, Any]) -> bool:
    """Whether the order's summary lists a refund (then its refunds are worth a request)."""
    return bool(list_of(order.get("refunds")))


def parse_refunds(read: PayloadReader, order: dict[str, Any], order_id: str, fetched: Any,
                  updated_at: datetime) -> list[Refund]:
    """The order's refunds, oldest first (see the module docstring)."""
    status = (text_of(order.get("status")) or "").lower().removeprefix("wc-")
    items = {text_of(dict_of(item).get("id")): dict_of(item) for item in list_of(order.get("line_items"))}
    if isinstance(fetched, list):
        refunds = read_each_refund(read, fetched, lambda index, entry: _refund(read, index, entry, items))
    else:
        refunds = read_each_refund(read, list_of(order.get("refunds")),
                                   lambda index, entry: _summary_refund(read, index, entry, updated_at))
    paid_once = parse_iso_datetime(order.get("date_paid_gmt")) or parse_iso_datetime(order.get("date_paid"))
    if status == "refunded" or (status == "cancelled" and paid_once is not None):
        total = read.optional_amount(order.get("total"), "total", label="el total")
        left = total - sum((refund.amount for refund in refunds), Decimal("0"))
        if left > 0 and (status == "cancelled" or not refunds):
            refunds.append(Refund(refund_id=f"cancel-{order_id}", created_at=updated_at, amount=left, full=True,
                                  reason="Pedido reembolsado" if status == "refunded" else "Pedido cancelado"))
        return settled_refunds(refunds, order_is_void=True)
    return settled_refunds(refunds, order_is_void=False)


def _refund(read: PayloadReader, index: int, entry: Any, items: dict[str | None, dict[str, Any]]) -> Refund:
    where = f"refunds[{index}]"
    if not isinstance(entry, dict):
        raise read.invalid("un reembolso no trae sus datos", where)
    refund_id = text_of(entry.get("id"))
    if refund_id is None:
        raise read.invalid("un reembolso no trae su identificador", f"{where}.id")
    created_at = parse_iso_datetime(entry.get("date_created_gmt")) or read.date(
        entry.get("date_created"), f"{where}.date_created", label="la fecha del reembolso")
    amount = positive(read.decimal(entry.get("amount"), f"{where}.amount", label="el valor reembolsado"))
    lines = [_line(read, f"{where}.line_items[{n}]", dict_of(item), items)
             for n, item in enumerate(list_of(entry.get("line_items")))]
    shipping = sum((_gross(read, dict_of(line), f"{where}.shipping_lines[{n}]")
                    for n, line in enumerate(list_of(entry.get("shipping_lines")))), Decimal("0"))
    known = {line_id for line_id in items if line_id is not None}
    return Refund(refund_id=refund_id, created_at=created_at, amount=amount, shipping=shipping,
                  lines=lines_if_all_known(read, refund_id, lines, known), reason=text_of(entry.get("reason")) or "")


def _gross(read: PayloadReader, line: dict[str, Any], where: str) -> Decimal:
    """``-(total + total_tax)`` of a refunded line, positive."""
    total = read.decimal(line.get("total"), f"{where}.total", label="el valor reembolsado")
    tax = line.get("total_tax")
    tax_value = read.decimal(tax, f"{where}.total_tax", label="el impuesto reembolsado") if tax not in (None, "") \
        else Decimal("0")
    return positive(total + tax_value)


def _line(read: PayloadReader, where: str, item: dict[str, Any], items: dict[str | None, dict[str, Any]]) -> RefundLine:
    line_id = next((text_of(dict_of(meta).get("value")) for meta in list_of(item.get("meta_data"))
                    if dict_of(meta).get("key") == REFUNDED_ITEM_KEY), None)
    if line_id is None:
        product, variation = text_of(item.get("product_id")), text_of(item.get("variation_id")) or "0"
        matching = [key for key, line in items.items()
                    if text_of(line.get("product_id")) == product and (text_of(line.get("variation_id")) or "0") == variation]
        line_id = matching[0] if len(matching) == 1 else f"producto-{product}-{variation}"
    quantity = positive(read.decimal(item.get("quantity"), f"{where}.quantity", label="la cantidad reembolsada"))
    return RefundLine(line_id=line_id or "?", quantity=quantity, amount=_gross(read, item, where))


def _summary_refund(read: PayloadReader, index: int, entry: Any, updated_at: datetime) -> Refund:
    where = f"refunds[{index}]"
    entry = dict_of(entry)
    refund_id = text_of(entry.get("id"))
    if refund_id is None:
        raise read.invalid("un reembolso no trae su identificador", f"{where}.id")
    amount = positive(read.decimal(entry.get("total"), f"{where}.total", label="el valor reembolsado"))
    return Refund(refund_id=refund_id, created_at=updated_at, amount=amount, reason=text_of(entry.get("reason")) or "")
