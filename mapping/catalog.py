"""Local cache of the ERP catalog.

Alegra serves 30 items a page, so reading the catalog per order would burn the rate limit. The
cache is read once, refreshed when old, and at most once per sync when a line misses.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session

from connector.models import CatalogCode, CatalogItem, ERPConnection, utcnow
from erp.base import CatalogItem as RemoteItem
from erp.base import ERPAdapter
from mapping.codes import normalise_code


def refresh_catalog(session: Session, erp_connection: ERPConnection, adapter: ERPAdapter) -> int:
    """Replace the cached catalog of ``erp_connection`` with the ERP's current one. Returns item count.

    The ERP is read completely before anything is replaced, so a failed read keeps the old cache.
    """
    return replace_catalog(session, erp_connection, fetch_catalog(adapter))


def fetch_catalog(adapter: ERPAdapter) -> list[RemoteItem]:
    """Every item of the ERP (page by page). Call it outside a database transaction."""
    return list(adapter.iter_items())


def replace_catalog(session: Session, erp_connection: ERPConnection, items: list[RemoteItem]) -> int:
    now = utcnow()
    session.execute(delete(CatalogCode).where(CatalogCode.erp_connection_id == erp_connection.id))
    session.execute(delete(CatalogItem).where(CatalogItem.erp_connection_id == erp_connection.id))
    session.add_all(_row(erp_connection.id, item, now) for item in items)
    session.add_all(_codes(erp_connection.id, items))
    erp_connection.catalog_refreshed_at = now
    session.flush()
    return len(items)


def _row(erp_connection_id: int, item: RemoteItem, now: datetime) -> CatalogItem:
    return CatalogItem(
        erp_connection_id=erp_connection_id, erp_id=item.erp_id, name=item.name[:500], kind=item.kind,
        reference=item.reference, barcodes=list(item.barcodes), parent_id=item.parent_id,
        variant_options=dict(item.variant_options), tax_ids=list(item.tax_ids), tax_rate=item.tax_rate,
        active=item.active, refreshed_at=now,
    )


def _codes(erp_connection_id: int, items: list[RemoteItem]):
    for item in items:
        seen: set[tuple[str, str]] = set()
        candidates = [("barcode", b) for b in item.barcodes] + [("reference", item.reference)]
        for code_type, code in candidates:
            key = (code_type, normalise_code(code))
            if key[1] and key not in seen:
                seen.add(key)
                yield CatalogCode(erp_connection_id=erp_connection_id, code_type=key[0], code=key[1],
                                  erp_item_id=item.erp_id)


def upsert_item(session: Session, erp_connection_id: int, item: RemoteItem) -> list[str]:
    """Put one ERP item in the cache as the ERP has it now (a webhook said it was created or changed),
    with its codes. Returns the item's normalised codes (what a waiting order's SKU may equal)."""
    now = utcnow()
    remove_item(session, erp_connection_id, item.erp_id)
    session.add(_row(erp_connection_id, item, now))
    codes = list(_codes(erp_connection_id, [item]))
    session.add_all(codes)
    session.flush()
    return [code.code for code in codes]


def remove_item(session: Session, erp_connection_id: int, erp_id: str) -> None:
    """Forget one item and its codes (deleted in the ERP; or about to be replaced)."""
    session.execute(delete(CatalogCode).where(CatalogCode.erp_connection_id == erp_connection_id,
                                              CatalogCode.erp_item_id == erp_id))
    session.execute(delete(CatalogItem).where(CatalogItem.erp_connection_id == erp_connection_id,
                                              CatalogItem.erp_id == erp_id))


def catalog_size(session: Session, erp_connection_id: int) -> int:
    return session.scalar(select(func.count()).select_from(CatalogItem)
                          .where(CatalogItem.erp_connection_id == erp_connection_id)) or 0


def catalog_age(erp_connection: ERPConnection) -> timedelta | None:
    if erp_connection.catalog_refreshed_at is None:
        return None
    return utcnow() - erp_connection.catalog_refreshed_at


# Read on every invoice's path (its lines' items, the shipping product): built once, with bound
# parameters — building a statement costs SQLAlchemy more CPU than running one this simple.
_ITEM = select(CatalogItem).where(CatalogItem.erp_connection_id == bindparam("erp"),
                                  CatalogItem.erp_id == bindparam("item"))
_ITEMS = select(CatalogItem).where(CatalogItem.erp_connection_id == bindparam("erp"),
                                   CatalogItem.erp_id.in_(bindparam("items", expanding=True)))


def get_cached_item(session: Session, erp_connection_id: int, erp_id: str) -> CatalogItem | None:
    return session.scalar(_ITEM, {"erp": erp_connection_id, "item": erp_id})


def cached_items(session: Session, erp_connection_id: int, erp_ids: set[str]) -> dict[str, CatalogItem]:
    """The cached items of these ids, by id (one query)."""
    if not erp_ids:
        return {}
    return {item.erp_id: item for item in session.scalars(_ITEMS, {"erp": erp_connection_id,
                                                                   "items": sorted(erp_ids)})}


def search_cached_items(session: Session, erp_connection_id: int, text: str, limit: int = 20) -> list[CatalogItem]:
    """Items whose name, reference or barcode contains ``text`` (for people picking an item)."""
    code = normalise_code(text)
    like = f"%{text.strip().lower()}%"
    by_code = select(CatalogCode.erp_item_id).where(
        CatalogCode.erp_connection_id == erp_connection_id, CatalogCode.code.contains(code))
    query = (select(CatalogItem)
             .where(CatalogItem.erp_connection_id == erp_connection_id, CatalogItem.kind != "variantParent")
             .where(func.lower(CatalogItem.name).like(like) | CatalogItem.erp_id.in_(by_code)
                    | (CatalogItem.erp_id == text.strip()))
             .order_by(CatalogItem.name).limit(limit))
    return list(session.scalars(query))
