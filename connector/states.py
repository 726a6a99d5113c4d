"""Order states and the transitions between them. Every change is written to the order's trail.

::

    received ──► skipped                      (rules say never: other channel, fulfillment)
        │    ──► waiting_rule                 (rules say not now: state not chosen, auto-invoicing off)
        │    ──► error                        (unparseable, unmatched SKU, missing data)  ◄─┐
        └──────► ready ──► invoicing ──► invoiced                                          │
                   ▲          │     ──► failed  (the ERP refused it, with its message)      │
                   └──────────┘ (transient: retried from next_attempt_at) ──────────────────┘
                 waiting_erp  ◄── ready/invoicing while the ERP's circuit is open; resumes by itself
    invoiced ──► rejected ──► invoiced      the tax authority rejected the e-invoice; a person fixes the
                                            cause and sends it again (connector/followup.py)
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from connector.models import ActivityEvent, Order, utcnow
from connector.reasons import code_columns


class OrderState(StrEnum):
    RECEIVED = "received"
    SKIPPED = "skipped"
    WAITING_RULE = "waiting_rule"
    ERROR = "error"
    READY = "ready"
    INVOICING = "invoicing"
    INVOICED = "invoiced"
    FAILED = "failed"
    WAITING_ERP = "waiting_erp"  # the ERP is down or in maintenance: resumes by itself
    REJECTED = "rejected"  # invoiced, but the tax authority rejected the e-invoice: fix and send again


S = OrderState
ALLOWED: dict[OrderState, set[OrderState]] = {
    S.RECEIVED: {S.INVOICED, S.SKIPPED, S.WAITING_RULE, S.ERROR, S.READY, S.WAITING_ERP},
    S.SKIPPED: {S.INVOICED, S.RECEIVED, S.READY, S.ERROR, S.WAITING_ERP},
    S.WAITING_RULE: {S.INVOICED, S.RECEIVED, S.SKIPPED, S.ERROR, S.READY, S.WAITING_ERP},
    S.ERROR: {S.INVOICED, S.RECEIVED, S.READY, S.SKIPPED, S.WAITING_RULE, S.WAITING_ERP},
    S.READY: {S.INVOICED, S.INVOICING, S.ERROR, S.RECEIVED, S.SKIPPED, S.WAITING_RULE, S.WAITING_ERP},
    S.WAITING_ERP: {S.INVOICED, S.INVOICING, S.READY, S.ERROR, S.RECEIVED, S.SKIPPED, S.WAITING_RULE},
    S.INVOICING: {S.INVOICED, S.FAILED, S.READY, S.ERROR, S.WAITING_ERP},
    S.INVOICED: {S.REJECTED},
    S.FAILED: {S.INVOICED, S.RECEIVED, S.READY, S.WAITING_ERP},
    S.REJECTED: {S.INVOICED},
}

# INVOICED is reachable from every unsettled state: reconciliation may find the order's invoice in
# the ERP (a crash between the ERP's commit and ours), and the ERP is the fiscal truth.

# The error queue: orders a person must look at.
ERROR_QUEUE_STATES = (S.ERROR, S.FAILED, S.REJECTED)
# Orders whose invoice is settled or in flight: never re-processed from a new pull.
SETTLED_STATES = (S.INVOICING, S.INVOICED, S.REJECTED)
# Orders that have an invoice in the ERP (a rejected e-invoice is still the ERP's invoice).
HAS_INVOICE_STATES = (S.INVOICED, S.REJECTED)

STATE_LABELS = {
    S.RECEIVED: "Recibida", S.SKIPPED: "Omitida", S.WAITING_RULE: "En espera (reglas)", S.ERROR: "Error",
    S.READY: "Lista para facturar", S.INVOICING: "Facturando", S.INVOICED: "Facturada",
    S.FAILED: "Rechazada por el ERP", S.WAITING_ERP: "Esperando al ERP",
    S.REJECTED: "Factura electrónica rechazada",
}


class IllegalTransition(RuntimeError):
    pass


def transition(session: Session, order: Order, to_state: OrderState, reason: str = "", *,
               actor: str = "system") -> None:
    """Move ``order`` to ``to_state`` and record why in its trail. Same-state moves only log a new reason."""
    current = OrderState(order.state)
    if to_state != current and to_state not in ALLOWED[current]:
        raise IllegalTransition(f"order {order.id}: {current} -> {to_state} is not allowed")
    if to_state == current and reason == order.state_reason:
        return
    msgid, params = code_columns(reason)  # a Reason keeps its template: each reader sees their language
    order.state = to_state.value
    order.state_reason = str(reason)
    order.state_reason_msgid, order.state_reason_params = msgid, params
    order.updated_at = now = utcnow()
    session.info.setdefault(_PENDING_TRAIL, []).append(
        (order, {"at": now, "actor": actor, "from_state": current.value, "to_state": to_state.value,
                 "message": str(reason), "message_msgid": msgid, "message_params": params}))


# The trail is append-only, so its rows are inserted as one plain statement right after the flush that
# writes their orders (in that flush's transaction), not as ORM objects: two or three on every order's
# path, each costing the unit of work about twice what the row itself does. A transition changes its
# order, so any query after it (autoflush) or the commit flushes — and inserts the rows — first.
_PENDING_TRAIL = "pending_trail"


@event.listens_for(Session, "after_flush")
def _insert_trail(session: Session, _flush_context) -> None:
    pending = session.info.pop(_PENDING_TRAIL, None)
    if pending:
        session.connection().execute(insert(ActivityEvent), [{"order_id": order.id, **row} for order, row in pending])


@event.listens_for(Session, "after_transaction_end")
def _forget_trail(session: Session, _transaction) -> None:
    # A transaction (or savepoint) that ends with rows still waiting was rolled back or closed: they go
    # with its work. A commit flushes first, and a savepoint begins with a flush, so rows of the work
    # that goes on never wait here then.
    session.info.pop(_PENDING_TRAIL, None)
