"""Work on many orders at once: "Facturar seleccionadas" and "Reintentar" from the orders list.

Each order goes through the same pipeline as one click on it (exactly once, the ERP window and
outages respected); the answer says, order by order, what happened — invoiced, still held and why,
already invoiced, or not an order of this account — so a page of results replaces guessing.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector import services
from connector.context import AppContext
from connector.errors import ConnectorError
from connector.models import Order
from connector.pipeline import process_order_safely
from connector.reasons import N_
from connector.states import ALLOWED, HAS_INVOICE_STATES, SETTLED_STATES, OrderState, transition

# Orders one click takes: a page of the list (50) with room; more is a script's job (the CLI).
MAX_BULK_ORDERS = 200
ACTIONS = ("invoice", "retry")


@dataclass(frozen=True)
class BulkOutcome:
    """What one order of a bulk action came to. ``state`` is None when the order is not the account's."""

    order_id: int
    external_id: str | None
    before: str | None
    state: str | None
    invoice_number: str | None
    message: str


def run_bulk(ctx: AppContext, account_ref, order_ids: list[int], action: str, *, actor: str) -> list[BulkOutcome]:
    """``invoice``: invoice each order now whatever the automatic rules say (the "Facturar" button).
    ``retry``: send each one through the pipeline again under the rules (as if it had just arrived)."""
    if action not in ACTIONS:
        raise ValueError(action)
    outcomes = []
    for order_id in list(dict.fromkeys(order_ids))[:MAX_BULK_ORDERS]:
        try:
            before = services.get_order(ctx, order_id, account_ref)
        except services.NotFoundLocally:
            outcomes.append(BulkOutcome(order_id, None, None, None, None, N_("No existe en esta cuenta.")))
            continue
        if before.state in HAS_INVOICE_STATES and before.state != OrderState.REJECTED:
            outcomes.append(_outcome(before, before.state, N_("Ya estaba facturada; no se hizo nada.")))
            continue
        try:
            if action == "invoice":
                after = services.invoice_orders(ctx, [order_id], account_ref=account_ref, actor=actor)[order_id]
            else:
                after = _retry_under_the_rules(ctx, order_id, account_ref, actor)
        except ConnectorError as exc:  # the order stays as it was; the others go on
            outcomes.append(_outcome(before, before.state, exc.user_message))
            continue
        outcomes.append(_outcome(after, before.state, after.state_reason))
    return outcomes


def _retry_under_the_rules(ctx: AppContext, order_id: int, account_ref, actor: str):
    with ctx.db.transaction() as session:
        order = session.get(Order, order_id)
        state = OrderState(order.state)
        if state not in SETTLED_STATES and OrderState.RECEIVED in ALLOWED[state]:
            order.next_attempt_at = None
            transition(session, order, OrderState.RECEIVED, "Reintento pedido desde la lista de órdenes.", actor=actor)
    process_order_safely(ctx, order_id)
    return services.get_order(ctx, order_id, account_ref)


def _outcome(order, before: str, message: str) -> BulkOutcome:
    number = order.invoice.number if order.invoice is not None else None
    return BulkOutcome(order.id, order.external_id, before, order.state, number, message)
