"""What each listing of a channel should show, from the ERP's stock: the comparison half of stock sync.

For one channel connection it refreshes the listings it knows (a full read of the channel, or only the
listings of some ERP items), matches them to ERP items (:mod:`mapping.stock_links`), reads the ERP's
available quantity in the chosen warehouse (and the price list's price when prices are published) and
sets on each ``stock_listings`` row ``desired_quantity = max(0, available - buffer)`` and, when it
cannot be published, ``problem`` in the seller's words. It writes nothing to the channel.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from channels.base import Listing
from connector.context import AppContext
from connector.errors import NotFound
from connector.models import CatalogItem, ChannelConnection, ERPConnection, StockListing, utcnow
from connector.rules import InvoicingSettings
from connector.stock_settings import StockSettings
from erp.base import ItemStock
from mapping.stock_links import apply_match, resolve_listing

NOT_IN_ERP = "El producto del ERP ya no existe o no se pudo leer su inventario."
NO_INVENTORY = "El producto del ERP no maneja inventario (un servicio o un producto con variantes)."
NOT_TRACKED = "El canal no lleva el inventario de esta publicación: actívalo en el canal para publicarlo."
NO_PRICE = "El producto no tiene precio en la lista de precios elegida."
PLAN_PROBLEMS = (NOT_IN_ERP, NO_INVENTORY, NOT_TRACKED, NO_PRICE)
WRITE_FAILED_PREFIX = "No se pudo publicar: "


def warehouse_for(stock: StockSettings, invoicing: InvoicingSettings | None) -> str | None:
    """The chosen warehouse, else the one invoices take units from, else every warehouse together."""
    if stock.warehouse_id:
        return stock.warehouse_id
    if invoicing is not None:
        return invoicing.invoice_warehouse_id
    return None


def store_listings(session: Session, connection_id: int, listings: Iterable[Listing]) -> int:
    """Upsert what the channel lists now; listings it no longer lists are forgotten. Returns the count."""
    rows = {row.listing_id: row for row in session.scalars(
        select(StockListing).where(StockListing.channel_connection_id == connection_id))}
    seen, now = set(), utcnow()
    for listing in listings:
        row = rows.get(listing.listing_id)
        if row is None:
            row = StockListing(channel_connection_id=connection_id, listing_id=listing.listing_id, problem="")
            session.add(row)
            rows[listing.listing_id] = row
        row.sku, row.title = (listing.sku or None), listing.title[:500]
        row.variation_id, row.variation_attributes = listing.variation_id, dict(listing.variation_attributes)
        row.handle, row.channel_quantity, row.channel_price = dict(listing.handle), listing.quantity, listing.price
        row.problem = listing.refusal or ""
        row.seen_at = now
        seen.add(listing.listing_id)
    gone = [listing_id for listing_id in rows if listing_id not in seen]
    if gone:
        session.execute(delete(StockListing).where(StockListing.channel_connection_id == connection_id,
                                                   StockListing.listing_id.in_(gone)))
    return len(seen)


def match_rows(session: Session, erp: ERPConnection, connection: ChannelConnection, rows: list[StockListing],
               invoicing: InvoicingSettings | None) -> None:
    match_by = invoicing.match_by if invoicing is not None else InvoicingSettings().match_by
    for row in rows:
        apply_match(row, resolve_listing(session, erp_connection_id=erp.id, channel_connection_id=connection.id,
                                         row=row, match_by=match_by))


# (warehouse, item id) -> the ERP's stock, shared by the channels one sweep publishes an item to.
ErpStockCache = dict[tuple[str | None, str], ItemStock]


def read_erp_stock(ctx: AppContext, erp: ERPConnection, warehouse_id: str | None, item_ids: set[str] | None,
                   cache: ErpStockCache | None = None) -> dict[str, ItemStock]:
    """The ERP's stock: the whole catalog in pages (full comparison) or the given items one by one
    (each read once per sweep however many channels show it, through ``cache``)."""
    adapter = ctx.erp_adapter(erp)
    if item_ids is None:
        return {stock.erp_id: stock for stock in adapter.iter_item_stock(warehouse_id)}
    cache = {} if cache is None else cache
    found = {}
    for item_id in sorted(item_ids):
        key = (warehouse_id, item_id)
        if key not in cache:
            try:
                cache[key] = adapter.get_item_stock(item_id, warehouse_id)
            except NotFound:
                continue  # gone from the ERP: the row says so
        found[item_id] = cache[key]
    return found


def published_price(stock: ItemStock, settings: StockSettings, tax_rate: Decimal) -> Decimal | None:
    """The price list's price as the channel shows it (with the item's taxes when so chosen)."""
    price = stock.prices.get(str(settings.price_list_id)) if settings.price_list_id else None
    if price is None:
        return None
    if settings.prices_include_tax and tax_rate:
        price = price * (1 + tax_rate / 100)
    return price.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP).normalize()


def plan_row(row: StockListing, stock: ItemStock | None, settings: StockSettings, tax_rate: Decimal) -> bool:
    """Set the row's desired values; True when the channel shows something else (a difference)."""
    row.desired_quantity, row.desired_price = None, None
    if row.problem in PLAN_PROBLEMS or row.problem.startswith(WRITE_FAILED_PREFIX):
        row.problem = ""  # judged again now
    if row.erp_item_id is None:
        return False
    if stock is None:
        row.problem = NOT_IN_ERP
        return False
    row.erp_quantity = stock.quantity
    if stock.quantity is None:
        row.problem = NO_INVENTORY
        return False
    row.desired_quantity = max(0, math.floor(stock.quantity) - settings.buffer)
    if settings.sync_prices:
        row.desired_price = published_price(stock, settings, tax_rate)
    if row.channel_quantity is None:
        row.problem = row.problem or NOT_TRACKED
        return False
    if settings.sync_prices and row.desired_price is None:
        row.problem = row.problem or NO_PRICE
    differs = row.desired_quantity != row.channel_quantity or (
        row.desired_price is not None and _cents(row.channel_price) != _cents(row.desired_price))
    return differs


def _cents(amount: Decimal | None) -> Decimal | None:
    """Prices compared to the cent (a store may keep 58797.9 as 58797.90)."""
    return None if amount is None else Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def tax_rates(session: Session, erp_id: int, item_ids: set[str]) -> dict[str, Decimal]:
    if not item_ids:
        return {}
    return {item.erp_id: Decimal(item.tax_rate or 0) for item in session.scalars(select(CatalogItem).where(
        CatalogItem.erp_connection_id == erp_id, CatalogItem.erp_id.in_(item_ids)))}
