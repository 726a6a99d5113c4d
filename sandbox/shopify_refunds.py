"""Shopify sandbox refunds: a refund object added to an Admin REST order, as Shopify shows it.

``refunds[]`` gets ``{id, order_id, created_at, processed_at, note, restock, refund_line_items,
order_adjustments, transactions}``: each refunded line with ``subtotal`` (the store's price
convention, like the line's price) and ``total_tax``; the shipping given back as an order
adjustment of kind ``shipping_refund`` (negative ``amount`` before tax, ``tax_amount`` its tax); one
successful ``refund`` transaction with the money given back (tax included). ``financial_status``
becomes ``partially_refunded`` or, once everything is given back, ``refunded``; a full refund of an
order not shipped yet also cancels it (``cancelled_at``), as cancelling with a refund does.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sandbox.refunds import share

REFUND_ID_BASE = 930_000_000_000
TRANSACTION_ID_BASE = 710_000_000_000
CENT = Decimal("0.01")


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT))


def _line_money(item: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """What was paid for a line in the store's convention, and its tax."""
    paid = _d(item["price"]) * item["quantity"] - sum((_d(a["amount"]) for a in item["discount_allocations"]),
                                                      Decimal("0"))
    return paid, sum((_d(t["price"]) for t in item["tax_lines"]), Decimal("0"))


def _shipping_money(order: dict[str, Any]) -> tuple[Decimal, Decimal]:
    paid = sum((_d(s["price"]) - sum((_d(a["amount"]) for a in s["discount_allocations"]), Decimal("0"))
                for s in order["shipping_lines"]), Decimal("0"))
    return paid, sum((_d(t["price"]) for s in order["shipping_lines"] for t in s["tax_lines"]), Decimal("0"))


def _given_back(order: dict[str, Any]) -> tuple[dict[int, tuple[int, Decimal, Decimal]], bool, Decimal]:
    """Per line id: units, subtotal and tax given back so far; whether shipping was; the money."""
    lines: dict[int, tuple[int, Decimal, Decimal]] = {}
    shipping, money = False, Decimal("0")
    for refund in order["refunds"]:
        for item in refund["refund_line_items"]:
            units, subtotal, tax = lines.get(item["line_item_id"], (0, Decimal("0"), Decimal("0")))
            lines[item["line_item_id"]] = (units + item["quantity"], subtotal + _d(item["subtotal"]),
                                           tax + _d(item["total_tax"]))
        shipping = shipping or any(a["kind"] == "shipping_refund" for a in refund["order_adjustments"])
        money += sum((_d(t["amount"]) for t in refund["transactions"] if t["status"] == "success"), Decimal("0"))
    return lines, shipping, money


def add_refund(order: dict[str, Any], *, lines: Mapping[int, int], shipping: bool, full: bool, reason: str,
               at: str, shipped: bool) -> tuple[dict[str, Any], Decimal, bool] | None:
    """Add a refund to ``order`` (changed in place): the refund object, its amount in the order's tax
    convention (what the connector's parser reads) and whether the order is now refunded in full;
    None when nothing is left to give back."""
    taxes_included = order["taxes_included"]
    before, shipping_done, money_before = _given_back(order)
    items, taxes = [], Decimal("0")
    refund_id = REFUND_ID_BASE + (order["id"] % 10**8) * 10 + len(order["refunds"])
    for position, item in enumerate(order["line_items"]):
        done_units, done_subtotal, done_tax = before.get(item["id"], (0, Decimal("0"), Decimal("0")))
        left = item["quantity"] - done_units
        units = left if full else min(left, lines.get(position, 0))
        if units <= 0:
            continue
        paid, tax = _line_money(item)
        if units == left:  # the last units take what is left, so the cents add up
            subtotal, line_tax = paid - done_subtotal, tax - done_tax
        else:
            subtotal, line_tax = share(paid, units, item["quantity"]), share(tax, units, item["quantity"])
        taxes += line_tax
        restock = ("return" if shipped else "cancel") if full or shipped else "no_restock"
        items.append({"id": refund_id * 10 + position, "line_item_id": item["id"], "location_id": 70_011_223_344,
                      "quantity": units, "restock_type": restock, "subtotal": float(subtotal),
                      "total_tax": float(line_tax),
                      "subtotal_set": {"shop_money": {"amount": _money(subtotal), "currency_code": "COP"}},
                      "total_tax_set": {"shop_money": {"amount": _money(line_tax), "currency_code": "COP"}},
                      "line_item": {k: item[k] for k in ("id", "variant_id", "title", "quantity", "sku", "price")}})
        item["current_quantity"] = max(0, item.get("current_quantity", item["quantity"]) - units)
    adjustments = []
    ship_paid, ship_tax = _shipping_money(order)
    if (full or shipping) and not shipping_done and ship_paid > 0:
        net = ship_paid - ship_tax if taxes_included else ship_paid
        adjustments.append({"id": refund_id + 1, "order_id": order["id"], "refund_id": refund_id,
                            "amount": _money(-net), "tax_amount": _money(-ship_tax), "kind": "shipping_refund",
                            "reason": "Shipping refund"})
        taxes += ship_tax
    if not items and not adjustments:
        return None
    lines_paid = sum((_d(i["subtotal_set"]["shop_money"]["amount"]) for i in items), Decimal("0"))
    shipping_back = (ship_paid if adjustments else Decimal("0"))
    amount = lines_paid + shipping_back  # the store's convention: what the parser reads
    money = amount if taxes_included else lines_paid + shipping_back + taxes
    refund = {"id": refund_id, "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}", "order_id": order["id"],
              "created_at": at, "processed_at": at, "note": reason or None, "user_id": 81_234_567,
              "restock": any(i["restock_type"] != "no_restock" for i in items), "duties": [],
              "refund_line_items": items, "order_adjustments": adjustments,
              "transactions": [{"id": TRANSACTION_ID_BASE + refund_id % 10**9, "order_id": order["id"],
                                "kind": "refund", "gateway": "shopify_payments", "status": "success",
                                "message": "Transaction approved", "created_at": at, "processed_at": at,
                                "test": False, "currency": "COP", "amount": _money(money), "parent_id": None}]}
    order["refunds"].append(refund)
    refunded_in_full = money_before + money >= _d(order["total_price"])
    order["financial_status"] = "refunded" if refunded_in_full else "partially_refunded"
    if refunded_in_full and not shipped and not order.get("cancelled_at"):
        order["cancelled_at"], order["cancel_reason"] = at, "customer"
    return refund, amount, refunded_in_full

