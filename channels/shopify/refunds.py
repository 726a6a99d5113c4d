"""Shopify: the order's ``refunds[]`` as canonical refunds. Pure, no I/O.

Each refund object (``id``, ``created_at``, ``note``, ``refund_line_items``, ``order_adjustments``,
``transactions``) is one :class:`~connector.canonical.Refund` ``<refund id>``, in the order's tax
convention (``taxes_included``, like the line prices):

* **Lines**: ``refund_line_items [{line_item_id, quantity, subtotal, total_tax, restock_type}]``;
  a line's amount is its ``subtotal``, which Shopify gives in the store's price convention (tax
  included when the store shows prices with tax, before tax otherwise), ``total_tax`` being the tax
  inside or on top of it.
* **Shipping**: ``order_adjustments`` of kind ``shipping_refund`` (negative in Shopify): ``amount``
  is before tax and ``tax_amount`` the tax added to it, so the shipping given back is
  ``-(amount + tax_amount)`` with taxes included, ``-amount`` without.
* **Amount**: what the successful ``transactions`` of kind ``refund`` gave back (money, tax
  included; without taxes included the lines' and shipping's taxes are taken out of it). A refund
  with no refund transaction at all (a restock, or an older payload) is its lines plus shipping. A
  refund whose refund transactions are all pending or failed gave nothing back yet: not a refund
  until one succeeds (its ``updated_at`` moves then).
* ``restocked`` when a line's ``restock_type`` is ``return`` or ``cancel``.
* ``full`` on the newest refund once ``financial_status`` is ``refunded``. An order cancelled or
  ``refunded`` with no refund object is one full refund ``cancel-<order id>`` of its total
  (``total_price``; before tax without taxes included). ``voided`` was never paid: no refund.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from channels.payloads import PayloadReader, dict_of, list_of, text_of
from channels.refunds import lines_if_all_known, positive, read_each_refund, settled_refunds
from connector.canonical import Refund, RefundLine

RESTOCKING = {"return", "cancel"}


def parse_refunds(read: PayloadReader, order: dict[str, Any], order_id: str, line_ids: set[str],
                  taxes_included: bool) -> list[Refund]:
    """The order's refunds, oldest first (see the module docstring)."""
    refunds = read_each_refund(read, list_of(order.get("refunds")),
                               lambda index, entry: _refund(read, index, entry, line_ids, taxes_included))
    refunded_in_full = text_of(order.get("financial_status")) == "refunded"
    if not refunds and refunded_in_full:
        refunds = read_each_refund(read, [order], lambda _i, doc: _cancel_refund(read, doc, order_id, taxes_included))
    return settled_refunds(refunds, order_is_void=refunded_in_full)


def _refund(read: PayloadReader, index: int, entry: Any, line_ids: set[str], taxes_included: bool) -> Refund | None:
    where = f"refunds[{index}]"
    if not isinstance(entry, dict):
        raise read.invalid("un reembolso no trae sus datos", where)
    refund_id = text_of(entry.get("id"))
    if refund_id is None:
        raise read.invalid("un reembolso no trae su identificador", f"{where}.id")
    created_at = read.date(entry.get("created_at") or entry.get("processed_at"), f"{where}.created_at",
                           label="la fecha del reembolso")
    lines, line_taxes, restocked = _lines(read, where, entry.get("refund_line_items"))
    shipping, shipping_tax = _shipping(read, where, entry.get("order_adjustments"), taxes_included)
    transactions = [dict_of(t) for t in list_of(entry.get("transactions")) if dict_of(t).get("kind") == "refund"]
    if transactions:
        succeeded = [t for t in transactions if t.get("status") == "success"]
        if not succeeded:
            return None
        amount = sum((read.amount(t.get("amount"), f"{where}.transactions.amount", label="el valor reembolsado")
                      for t in succeeded), Decimal("0"))
        if not taxes_included:
            amount = max(Decimal("0"), amount - line_taxes - shipping_tax)
    else:
        amount = sum((line.amount for line in lines), Decimal("0")) + shipping
    return Refund(refund_id=refund_id, created_at=created_at, amount=amount,
                  lines=lines_if_all_known(read, refund_id, lines, line_ids), shipping=shipping,
                  restocked=restocked, reason=text_of(entry.get("note")) or "")


def _money(read: PayloadReader, item: dict[str, Any], name: str, where: str, label: str) -> Decimal:
    """``item[name]`` (a number in REST), else its ``<name>_set.shop_money.amount``; 0 when absent."""
    value = item.get(name)
    if value is None:
        value = dict_of(dict_of(item.get(f"{name}_set")).get("shop_money")).get("amount")
    return positive(read.decimal(value, f"{where}.{name}", label=label)) if value not in (None, "") else Decimal("0")


def _lines(read: PayloadReader, where: str, items: Any) -> tuple[list[RefundLine], Decimal, bool]:
    lines: list[RefundLine] = []
    taxes, restocked = Decimal("0"), False
    for index, item in enumerate(list_of(items)):
        item, at = dict_of(item), f"{where}.refund_line_items[{index}]"
        line_id = text_of(item.get("line_item_id")) or text_of(dict_of(item.get("line_item")).get("id"))
        if line_id is None:
            raise read.invalid("un producto reembolsado no dice a qué línea corresponde", f"{at}.line_item_id")
        quantity = positive(read.decimal(item.get("quantity"), f"{at}.quantity", label="la cantidad reembolsada"))
        lines.append(RefundLine(line_id=line_id, quantity=quantity,
                                amount=_money(read, item, "subtotal", at, "el valor reembolsado")))
        taxes += _money(read, item, "total_tax", at, "el impuesto reembolsado")
        restocked = restocked or text_of(item.get("restock_type")) in RESTOCKING
    return lines, taxes, restocked


def _shipping(read: PayloadReader, where: str, adjustments: Any, taxes_included: bool) -> tuple[Decimal, Decimal]:
    """The shipping given back in the order's convention, and its tax."""
    shipping, tax = Decimal("0"), Decimal("0")
    for index, adjustment in enumerate(list_of(adjustments)):
        adjustment, at = dict_of(adjustment), f"{where}.order_adjustments[{index}]"
        if adjustment.get("kind") != "shipping_refund":
            continue
        shipping += positive(read.decimal(adjustment.get("amount"), f"{at}.amount", label="el envío reembolsado"))
        if adjustment.get("tax_amount") not in (None, ""):
            tax += positive(read.decimal(adjustment["tax_amount"], f"{at}.tax_amount", label="el impuesto del envío"))
    return (shipping + tax if taxes_included else shipping), tax


def _cancel_refund(read: PayloadReader, order: dict[str, Any], order_id: str, taxes_included: bool) -> Refund:
    total = read.amount(order.get("total_price"), "total_price", label="el total")
    if not taxes_included:
        total -= read.optional_amount(order.get("total_tax"), "total_tax", label="el impuesto")
    when = order.get("cancelled_at") or order.get("updated_at") or order.get("created_at")
    return Refund(refund_id=f"cancel-{order_id}", created_at=read.date(when, "cancelled_at", label="la fecha de anulación"),
                  amount=max(total, Decimal("0")), full=True, reason=text_of(order.get("cancel_reason")) or "")
