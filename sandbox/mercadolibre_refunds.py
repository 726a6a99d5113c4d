"""Mercado Libre sandbox refunds: money given back shown on the order, as Mercado Libre shows it.

A refund raises a payment's ``transaction_amount_refunded`` (its ``status`` becomes ``refunded``
once the whole payment is back, else ``status_detail`` ``partially_refunded``) and moves its
``date_last_modified``; the order becomes ``partially_refunded``, or ``cancelled`` once every
payment is refunded. Mercado Libre does not itemise refunds: units and shipping only decide the
amount (``unit_price`` × units, the shipping the buyer paid).

Mercado Libre keeps one refunded figure per payment, so a sale planned with several refunds is
rendered paid with one payment per refund (:func:`payment_amounts`, as a buyer paying with two
cards): each planned refund then gives back its own payment, and the connector sees each as its own
``payment-<id>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sandbox.catalog import SaleSpec


def _d(value: Any) -> Decimal:
    return Decimal(str(value or 0))


def _num(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def payment_amounts(spec: SaleSpec) -> list[Decimal]:
    """What each payment of a paid sale carries (shipping included): one payment, or one per planned
    refund when there are several (the last takes what the others leave)."""
    paid = spec.total + spec.shipping_cost
    if len(spec.refunds) < 2:
        return [paid]
    amounts = []
    for planned in spec.refunds[:-1]:
        amount = sum((spec.lines[i].unit_price * units for i, units in planned.lines), Decimal("0"))
        amounts.append(amount + (spec.shipping_cost if planned.shipping else Decimal("0")))
    return [*amounts, paid - sum(amounts, Decimal("0"))]


def give_back(order: dict[str, Any], shipping_cost: Decimal, *, lines: Mapping[int, int], shipping: bool,
              full: bool, at: str) -> list[tuple[str, Decimal]] | None:
    """Refund ``order`` (changed in place): ``(payment id, amount)`` of each payment refunded, or None
    when there is nothing (left) to give back."""
    payments = [p for p in order["payments"] if p.get("date_approved")]
    left = {p["id"]: _d(p["total_paid_amount"]) - _d(p.get("transaction_amount_refunded")) for p in payments}
    if full:
        wanted = sum(left.values(), Decimal("0"))
    else:
        items = order["order_items"]
        wanted = sum((_d(items[i]["unit_price"]) * units for i, units in lines.items() if 0 <= i < len(items)),
                     Decimal("0")) + (shipping_cost if shipping else Decimal("0"))
        wanted = min(wanted, sum(left.values(), Decimal("0")))
    if wanted <= 0:
        return None
    given = []
    for payment in payments:
        take = min(left[payment["id"]], wanted)
        if take <= 0:
            continue
        refunded = _d(payment.get("transaction_amount_refunded")) + take
        payment["transaction_amount_refunded"] = _num(refunded)
        whole = refunded >= _d(payment["total_paid_amount"])
        payment["status"] = "refunded" if whole else "approved"
        payment["status_detail"] = "refunded" if whole else "partially_refunded"
        payment["date_last_modified"] = at
        given.append((str(payment["id"]), take))
        wanted -= take
    everything_back = all(p["status"] == "refunded" for p in payments)
    order["status"] = "cancelled" if everything_back else "partially_refunded"
    if everything_back:
        order["cancel_detail"] = {"group": "seller", "code": "refunded", "description": "Reembolsada al comprador",
                                  "requested_by": "seller", "date": at, "application_id": None}
    return given
