"""The SKU mapping used in reverse: which ERP item a channel listing shows the stock of.

A listing is resolved exactly like an order line that sold it (:func:`mapping.resolver.resolve_line_sku`):
manual mappings first (by SKU, or by listing id for a listing without one), then barcode or reference,
variants by their option values. So a SKU mapped once — from the error queue or by hand — serves both
invoicing and stock, and an ERP item sold under several listings updates all of them.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from connector.canonical import OrderLine
from connector.models import StockListing
from connector.rules import MatchBy
from mapping.resolver import LineMatch, LineMiss, resolve_line_sku


def listing_as_line(row: StockListing) -> OrderLine:
    """The order line a sale of this listing would bring (the listing id without its variation part)."""
    item_id = row.listing_id.split("/", 1)[0] if row.variation_id and "/" in row.listing_id else row.listing_id
    return OrderLine(line_id=item_id, sku=row.sku, title=row.title, variation_id=row.variation_id,
                     variation_attributes=dict(row.variation_attributes or {}), quantity=Decimal(1),
                     unit_price=Decimal(0))


def resolve_listing(session: Session, *, erp_connection_id: int, channel_connection_id: int, row: StockListing,
                    match_by: MatchBy) -> LineMatch | LineMiss:
    """The ERP item whose stock ``row`` shows, or why none (the same words the error queue uses)."""
    return resolve_line_sku(session, erp_connection_id=erp_connection_id, channel_connection_id=channel_connection_id,
                            line=listing_as_line(row), match_by=match_by)


def apply_match(row: StockListing, result: LineMatch | LineMiss) -> None:
    """Remember on the row what the mapping said."""
    if isinstance(result, LineMatch):
        row.erp_item_id, row.erp_item_name, row.match_source = result.erp_item_id, result.erp_item_name[:300], \
            result.source
        if row.problem.startswith(UNMATCHED_PREFIX):
            row.problem = ""
    else:
        row.erp_item_id, row.erp_item_name, row.match_source = None, None, ""
        row.problem = f"{UNMATCHED_PREFIX}{result.reason}"


UNMATCHED_PREFIX = "Sin producto del ERP: "
