"""Mercado Libre: money given back after the sale, read from the order document alone. Pure, no I/O.

Mercado Libre shows it on the order: ``status`` ``cancelled`` or ``partially_refunded`` and, per
payment, ``status`` (``refunded``; ``cancelled`` once approved) and ``transaction_amount_refunded``.
No other endpoint is called per order (returns and claims have their own resources, ``/claims``;
the order only lists ``mediations`` ids, so a return shows here once its money is refunded).

* **One refund per refunded payment**, ``payment-<payment id>``: the amount is the payment's
  ``transaction_amount_refunded``, else (a payment refunded whole without the figure) its
  ``total_paid_amount``. Tax included, like the order's prices. Dated by the payment's
  ``date_last_modified``.
* **Lines are unknown**: Mercado Libre does not say which items a partial refund was for, so those
  refunds carry no lines and the core credits their amount in proportion to the invoice.
* A **cancelled order that was paid** and shows no refunded payment is one full refund
  ``cancel-<order id>`` of what was paid (``paid_amount``). A cancelled order that was never paid
  (no payment approved) is no refund at all.
* ``full``: on the newest refund once the order is ``cancelled`` or its payments are refunded in full.
* Mercado Libre keeps one refunded figure per payment: a **second partial refund of the same
  payment raises that payment's amount** under the same id. (The sandbox never does it on its own;
  an on-demand second refund of one payment does.) The core sees the id's amount grow.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from channels.payloads import PayloadReader, dict_of, list_of, text_of
from channels.refunds import read_each_refund, settled_refunds
from connector.canonical import Refund

REFUNDED_PAYMENT_STATUSES = {"refunded", "charged_back"}
# A payment "cancelled" before approval never took money; only after approval is it money given back.
APPROVED_MARKERS = ("date_approved",)


def parse_refunds(read: PayloadReader, order: dict[str, Any], order_id: str) -> list[Refund]:
    """The order's refunds, oldest first (see the module docstring)."""
    status = text_of(order.get("status"))
    payments = [dict_of(p) for p in list_of(order.get("payments"))]
    fallback_date = order.get("last_updated") or order.get("date_last_updated") or order.get("date_created")

    def read_payment(index: int, payment: dict[str, Any]) -> Refund | None:
        return _payment_refund(read, index, payment, fallback_date)

    refunds = read_each_refund(read, payments, read_payment)
    paid = _paid_amount(read, order, payments)
    if status == "cancelled" and not refunds and paid > 0:
        cancelled_at = dict_of(order.get("cancel_detail")).get("date") or fallback_date
        refunds = read_each_refund(read, [cancelled_at], lambda _i, when: Refund(
            refund_id=f"cancel-{order_id}", created_at=read.date(when, "last_updated", label="la fecha de la anulación"),
            amount=paid, full=True, reason="Pedido cancelado"))
    refunded = sum((refund.amount for refund in refunds), Decimal("0"))
    void = status == "cancelled" or (paid > 0 and refunded >= paid)
    return settled_refunds(refunds, order_is_void=void)


def _payment_refund(read: PayloadReader, index: int, payment: dict[str, Any], fallback_date: Any) -> Refund | None:
    where = f"payments[{index}]"
    status = text_of(payment.get("status"))
    refunded = read.optional_amount(payment.get("transaction_amount_refunded"),
                                    f"{where}.transaction_amount_refunded", label="el valor reembolsado")
    approved = any(payment.get(marker) for marker in APPROVED_MARKERS)
    whole = status in REFUNDED_PAYMENT_STATUSES or (status == "cancelled" and approved)
    if refunded <= 0 and not whole:
        return None
    payment_id = text_of(payment.get("id"))
    if payment_id is None:
        raise read.invalid("un pago reembolsado no trae su identificador", f"{where}.id")
    if refunded <= 0:
        for field in ("total_paid_amount", "transaction_amount"):
            if payment.get(field) is not None:
                refunded = read.amount(payment[field], f"{where}.{field}", label="el valor del pago")
                break
    when = payment.get("date_last_modified") or payment.get("date_last_updated") or fallback_date
    detail = text_of(payment.get("status_detail")) or status or ""
    return Refund(refund_id=f"payment-{payment_id}", created_at=read.date(when, f"{where}.date_last_modified",
                                                                          label="la fecha del reembolso"),
                  amount=refunded, reason=detail)


def _paid_amount(read: PayloadReader, order: dict[str, Any], payments: list[dict[str, Any]]) -> Decimal:
    """What the buyer paid: ``paid_amount``, else the approved payments' ``total_paid_amount``; 0 unpaid."""
    value = order.get("paid_amount")
    if value is not None:
        paid = read.optional_amount(value, "paid_amount", label="el total pagado")
        if paid > 0:
            return paid
    total = Decimal("0")
    for index, payment in enumerate(payments):
        if payment.get("date_approved") and payment.get("total_paid_amount") is not None:
            total += read.optional_amount(payment["total_paid_amount"], f"payments[{index}].total_paid_amount",
                                          label="el valor del pago")
    return total

