"""WooCommerce sandbox refunds: refund objects kept beside a REST v3 order, as WooCommerce keeps them.

A refund is ``{id, date_created(_gmt), amount, reason, refunded_by, refunded_payment, meta_data,
line_items, shipping_lines, tax_lines, fee_lines}``; its lines are negative (``quantity``,
``subtotal``, ``total``, ``total_tax``) and name the order line they refund in ``meta_data``
``_refunded_item_id``. The order itself only lists a summary, newest first (``refunds: [{id,
reason, total}]``, ``total`` negative), and becomes ``refunded`` once everything is given back.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sandbox.refunds import share

REFUND_ID_BASE = 100_000


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def _m(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _given_back(refunds: list[dict[str, Any]]) -> tuple[dict[str, tuple[int, Decimal, Decimal]], bool, Decimal]:
    """Per order line id: units, total and tax given back; whether shipping was; the amount."""
    lines: dict[str, tuple[int, Decimal, Decimal]] = {}
    shipping, amount = False, Decimal("0")
    for refund in refunds:
        for item in refund["line_items"]:
            line_id = next(m["value"] for m in item["meta_data"] if m["key"] == "_refunded_item_id")
            units, total, tax = lines.get(line_id, (0, Decimal("0"), Decimal("0")))
            lines[line_id] = (units - item["quantity"], total - _d(item["total"]), tax - _d(item["total_tax"]))
        shipping = shipping or bool(refund["shipping_lines"])
        amount += _d(refund["amount"])
    return lines, shipping, amount


def new_refund(order: dict[str, Any], refunds: list[dict[str, Any]], *, lines: Mapping[int, int], shipping: bool,
               full: bool, reason: str, local: str, gmt: str) -> dict[str, Any] | None:
    """The next refund of ``order`` (given its earlier ``refunds``), or None when nothing is left;
    the caller keeps it and updates the order with :func:`summarise`."""
    before, shipping_done, _ = _given_back(refunds)
    refund_id = REFUND_ID_BASE + (order["id"] % 10**4) * 10 + len(refunds)
    items = []
    for position, item in enumerate(order["line_items"]):
        done_units, done_total, done_tax = before.get(str(item["id"]), (0, Decimal("0"), Decimal("0")))
        left = item["quantity"] - done_units
        units = left if full else min(left, lines.get(position, 0))
        if units <= 0:
            continue
        total, tax = _d(item["total"]), _d(item["total_tax"])
        if units == left:  # the last units take what is left, so the cents add up
            back_total, back_tax = total - done_total, tax - done_tax
        else:
            back_total, back_tax = share(total, units, item["quantity"]), share(tax, units, item["quantity"])
        items.append({"id": refund_id * 10 + position, "name": item["name"], "product_id": item["product_id"],
                      "variation_id": item["variation_id"], "quantity": -units, "tax_class": item["tax_class"],
                      "subtotal": _m(-back_total), "subtotal_tax": _m(-back_tax), "total": _m(-back_total),
                      "total_tax": _m(-back_tax),
                      "taxes": [{"id": t["id"], "total": _m(-back_tax), "subtotal": _m(-back_tax)} for t in item["taxes"]],
                      "meta_data": [{"id": refund_id * 100 + position, "key": "_refunded_item_id",
                                     "value": str(item["id"])}],
                      "sku": item["sku"], "price": -float(item["price"])})
    shipping_lines = []
    if (full or shipping) and not shipping_done:
        for line in order["shipping_lines"]:
            if _d(line["total"]) + _d(line["total_tax"]) > 0:
                shipping_lines.append({"id": refund_id * 10 + 9, "method_title": line["method_title"],
                                       "method_id": line["method_id"], "instance_id": line["instance_id"],
                                       "total": _m(-_d(line["total"])), "total_tax": _m(-_d(line["total_tax"])),
                                       "taxes": [], "meta_data": [{"id": refund_id * 100 + 9, "key": "_refunded_item_id",
                                                                   "value": str(line["id"])}]})
    # A full refund also takes back a negative fee (a cash discount): never more than was paid.
    fee_lines = [{"id": refund_id * 10 + 8, "name": fee["name"], "total": _m(-_d(fee["total"])), "total_tax": "0.00",
                  "meta_data": [{"id": refund_id * 100 + 8, "key": "_refunded_item_id", "value": str(fee["id"])}]}
                 for fee in order["fee_lines"] if full and _d(fee["total"]) < 0 and not any(
                     r["fee_lines"] for r in refunds)]
    if not items and not shipping_lines:
        return None
    amount = -sum((_d(i["total"]) + _d(i["total_tax"]) for i in items + shipping_lines + fee_lines), Decimal("0"))
    return {"id": refund_id, "date_created": local, "date_created_gmt": gmt, "amount": _m(amount),
            "reason": reason, "refunded_by": 1, "refunded_payment": True, "meta_data": [], "line_items": items,
            "shipping_lines": shipping_lines, "tax_lines": [], "fee_lines": fee_lines}


def summarise(order: dict[str, Any], refunds: list[dict[str, Any]]) -> bool:
    """Put the refunds' summary on ``order`` (newest first) and, once everything is given back, its
    ``refunded`` status; returns whether it is refunded in full."""
    order["refunds"] = [{"id": r["id"], "reason": r["reason"], "total": _m(-_d(r["amount"]))} for r in reversed(refunds)]
    refunded = sum((_d(r["amount"]) for r in refunds), Decimal("0"))
    # A positive fee (a cash-on-delivery surcharge) is never refunded by the sandbox (nor invoiced).
    fees = sum((_d(f["total"]) for f in order["fee_lines"] if _d(f["total"]) > 0), Decimal("0"))
    in_full = refunded >= _d(order["total"]) - fees
    if in_full:
        order["status"] = "refunded"
    return in_full
