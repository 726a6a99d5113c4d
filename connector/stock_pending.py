"""ERP items whose stock may have changed and waits to be published to the channels.

Kept in the database (``stock_pending_items``), in the same transaction as what changed it — the
invoice the connector recorded — so a crash between the invoice and the publication loses nothing:
the next sweep publishes it (:func:`connector.stock.push_pending_items`). Imports nothing but the
model, so invoicing can call it without import cycles.

Marking is an insert-or-update of the item's one row: two invoices of the same new item recorded at
once must not clash on its unique key (the clash would fail an invoice's transaction), and marking an
item already pending moves its ``since`` — so a sweep that read the older mark, and publishes a stock
read before this sale, forgets only that mark, not this one.
"""

from __future__ import annotations

from sqlalchemy import bindparam, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from connector.models import ChannelConnection, ERPConnection, Order, OrderLine, StockPendingItem, utcnow


def publishes_stock(session: Session, erp_connection_id: int) -> bool:
    """Whether any enabled channel of the ERP connection's account publishes the ERP's stock."""
    erp = session.get(ERPConnection, erp_connection_id)
    if erp is None:
        return False
    return bool(session.scalar(_PUBLISHES, {"account": erp.account_id}))


# The question as an expression, so a read that asks it alongside others (the claim's, on every invoice)
# asks the very same thing. Settings are only ever stored validated (connector.stock_services:
# ``model_dump``), so their "enabled" is a JSON boolean SQL reads on either database.
PUBLISHES_STOCK = exists().where(ChannelConnection.account_id == bindparam("account"),
                                 ChannelConnection.enabled.is_(True),
                                 ChannelConnection.stock_settings["enabled"].as_boolean().is_(True))
_PUBLISHES = select(PUBLISHES_STOCK)


def mark_items_pending(session: Session, erp_connection_id: int, erp_item_ids: set[str], reason: str) -> int:
    """Mark the items pending (in ``session``; the caller commits): a new row, or the pending one marked
    again (``since`` moves on). Returns how many were not pending before."""
    if not erp_item_ids:
        return 0
    known = set(session.scalars(select(StockPendingItem.erp_item_id).where(
        StockPendingItem.erp_connection_id == erp_connection_id, StockPendingItem.erp_item_id.in_(erp_item_ids))))
    now = utcnow()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    # Sorted: concurrent marks of overlapping items lock their rows in the same order (no deadlock).
    rows = [{"erp_connection_id": erp_connection_id, "erp_item_id": item_id, "reason": reason[:100], "since": now}
            for item_id in sorted(set(erp_item_ids))]
    statement = dialect.insert(StockPendingItem).values(rows)
    session.execute(statement.on_conflict_do_update(
        index_elements=[StockPendingItem.erp_connection_id, StockPendingItem.erp_item_id],
        set_={"reason": statement.excluded.reason, "since": statement.excluded.since}))
    return len(set(erp_item_ids) - known)


def mark_items_changed(ctx, erp_connection_id: int, erp_item_ids: set[str], reason: str) -> int:
    """Mark items pending in a transaction of their own (after a write the ERP confirmed), when any
    channel of the account publishes stock."""
    with ctx.db.transaction() as session:
        if not publishes_stock(session, erp_connection_id):
            return 0
        return mark_items_pending(session, erp_connection_id, {str(i) for i in erp_item_ids if i}, reason)


def mark_order_items(session: Session, order: Order, erp_connection_id: int, *, publishes: bool | None = None) -> int:
    """The connector invoiced ``order``: its items' stock went down in the ERP (the invoice's warehouse).
    ``publishes``: :data:`PUBLISHES_STOCK` when the caller read it already (no query then when no
    channel of the account publishes stock); else one query says."""
    if not (publishes if publishes is not None else publishes_stock(session, erp_connection_id)):
        return 0
    items = {str(i) for i in session.scalars(select(OrderLine.erp_item_id).where(
        OrderLine.order_id == order.id, OrderLine.erp_item_id.is_not(None)))}
    return mark_items_pending(session, erp_connection_id, items, "factura")
