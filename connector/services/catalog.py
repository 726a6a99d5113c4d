"""The ERP catalog cache and the SKU mapping: read the catalog again, search it, list the marketplace SKUs
no item matches, and remember a person's pick (then invoice what it was holding)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import distinct, func, select

from connector.context import AppContext
from connector.errors import ConfigurationError, NotFound
from connector.held_orders import MovedOrder, process_now
from connector.models import (
    CatalogItem,
    ChannelConnection,
    ERPConnection,
    Order,
    OrderLine,
    SkuMapping,
    SkuMismatch,
    utcnow,
)
from connector.reasons import reason
from connector.services.accounts import find_account, find_channel_connection, get_erp_connection
from connector.services.orders import get_order, invoice_orders
from connector.states import OrderState, transition
from mapping.catalog import fetch_catalog, get_cached_item, replace_catalog, search_cached_items


def refresh_erp_catalog(ctx: AppContext, account_ref=None) -> int:
    """Read the whole ERP catalog again (outside any transaction), then replace the cache."""
    with ctx.db.session() as session:
        erp = get_erp_connection(session, find_account(session, account_ref))
    items = fetch_catalog(ctx.erp_adapter(erp))
    with ctx.db.transaction() as session:
        return replace_catalog(session, session.get(ERPConnection, erp.id), items)


def search_catalog(ctx: AppContext, account_ref, text: str) -> list[CatalogItem]:
    with ctx.db.session() as session:
        erp = get_erp_connection(session, find_account(session, account_ref))
        return search_cached_items(session, erp.id, text)


@dataclass
class MismatchView:
    channel_connection_id: int
    sku_key: str
    sku: str | None
    title: str
    blocked_orders: int
    last_seen_at: Any


def list_mismatches(ctx: AppContext, account_ref=None) -> list[MismatchView]:
    """Unmatched marketplace SKUs with how many held orders each one blocks."""
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        blocked = (select(OrderLine.sku_key, Order.channel_connection_id,
                          func.count(distinct(Order.id)).label("orders"))
                   .join(Order, Order.id == OrderLine.order_id)
                   .where(Order.account_id == account.id, Order.state == OrderState.ERROR.value,
                          OrderLine.erp_item_id.is_(None))
                   .group_by(OrderLine.sku_key, Order.channel_connection_id).subquery())
        rows = session.execute(
            select(SkuMismatch, func.coalesce(blocked.c.orders, 0))
            .join(ChannelConnection, ChannelConnection.id == SkuMismatch.channel_connection_id)
            .outerjoin(blocked, (blocked.c.sku_key == SkuMismatch.sku_key)
                       & (blocked.c.channel_connection_id == SkuMismatch.channel_connection_id))
            .where(ChannelConnection.account_id == account.id, SkuMismatch.resolved_at.is_(None))
            .order_by(func.coalesce(blocked.c.orders, 0).desc(), SkuMismatch.sku_key))
        return [MismatchView(m.channel_connection_id, m.sku_key, m.sku, m.title, n, m.last_seen_at) for m, n in rows]


def map_sku(ctx: AppContext, account_ref, sku: str, erp_item_id: str, *, channel_ref=None, actor: str = "cli",
            invoice: bool = True) -> tuple[SkuMapping, dict[int, Order]]:
    """Remember that marketplace ``sku`` is ERP item ``erp_item_id``; then invoice (or re-queue) every
    order the SKU was blocking."""
    mapping, blocked_ids, _ = _map_sku(ctx, account_ref, sku, erp_item_id, channel_ref=channel_ref, actor=actor,
                                       requeue=not invoice)
    results = invoice_orders(ctx, blocked_ids, account_ref=account_ref, actor=actor) if invoice else {}
    return mapping, results


def _map_sku(ctx: AppContext, account_ref, sku: str, erp_item_id: str, *, channel_ref=None, actor: str = "cli",
             requeue: bool = True) -> tuple[SkuMapping, list[int], list[int]]:
    """Store the mapping; returns it, the orders the SKU blocked and (with ``requeue``) those of them
    sent back to the pipeline."""
    from mapping.codes import normalise_code

    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        cached = get_cached_item(session, get_erp_connection(session, account).id, erp_item_id)
    if cached is None:  # maybe created in the ERP after the last catalog read
        refresh_erp_catalog(ctx, account.id)
    with ctx.db.transaction() as session:
        account = find_account(session, account.id)
        erp = get_erp_connection(session, account)
        channel = find_channel_connection(session, account, channel_ref)
        item = get_cached_item(session, erp.id, erp_item_id)
        if item is None:
            raise NotFound(f"El producto {erp_item_id} no existe en el ERP.")
        key = sku if sku.startswith("ID:") else normalise_code(sku)
        if not key:
            raise ConfigurationError("El SKU no puede estar vacío.")
        mapping = session.scalar(select(SkuMapping).where(SkuMapping.channel_connection_id == channel.id,
                                                          SkuMapping.sku_key == key))
        if mapping is None:
            mapping = SkuMapping(channel_connection_id=channel.id, sku_key=key, erp_item_id=item.erp_id)
            session.add(mapping)
        mapping.erp_item_id, mapping.erp_item_name, mapping.created_by = item.erp_id, item.name, actor
        mismatch = session.scalar(select(SkuMismatch).where(SkuMismatch.channel_connection_id == channel.id,
                                                            SkuMismatch.sku_key == key))
        if mismatch is not None:
            mismatch.resolved_at = utcnow()
        blocked_ids = list(session.scalars(
            select(Order.id).distinct().join(OrderLine, OrderLine.order_id == Order.id)
            .where(Order.channel_connection_id == channel.id, Order.state == OrderState.ERROR.value,
                   OrderLine.sku_key == key).order_by(Order.id)))
        requeued = []
        if requeue:
            for order in session.scalars(select(Order).where(Order.id.in_(blocked_ids))):
                transition(session, order, OrderState.RECEIVED,
                           reason("SKU %(sku)s asignado a «%(item)s».", sku=sku, item=item.name), actor=actor)
                requeued.append(order.id)
        session.flush()
    return mapping, blocked_ids, requeued


def invoice_order_with_items(ctx: AppContext, account_ref, order_id: int, items_by_sku: dict[str, str], *,
                             actor: str = "cli") -> Order:
    """:func:`invoice_with_picked_items`, for callers that only need this order."""
    return invoice_with_picked_items(ctx, account_ref, order_id, items_by_sku, actor=actor)[0]


def invoice_with_picked_items(ctx: AppContext, account_ref, order_id: int, items_by_sku: dict[str, str], *,
                              actor: str = "cli") -> tuple[Order, list[MovedOrder]]:
    """The error queue's "Facturar" after picking ERP items: remember each pick as the SKU's mapping,
    then invoice this order now. Other orders the same SKUs held are taken through the pipeline now too
    (their own rules apply) and returned, so the person is told which moved."""
    order = get_order(ctx, order_id, account_ref)
    keys = {line.sku_key for line in order.lines}
    others: list[int] = []
    for sku_key, item_id in items_by_sku.items():
        if not str(item_id or "").strip():
            continue
        if sku_key not in keys:
            raise ConfigurationError(f"El SKU «{sku_key}» no es de la orden {order_id}.")
        _, _, freed = _map_sku(ctx, order.account_id, sku_key, str(item_id).strip(),
                               channel_ref=order.channel_connection_id, actor=actor)
        others += [i for i in freed if i != order_id and i not in others]
    invoiced = invoice_orders(ctx, [order_id], account_ref=order.account_id, actor=actor)[order_id]
    return invoiced, process_now(ctx, others)
