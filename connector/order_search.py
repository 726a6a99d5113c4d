"""Finding orders: the filters the panel's list and ``orders list`` share, and the folded text they
search in.

Text is searched accent- and case-insensitively ("narino" finds "Nariño", "LÓPEZ" finds "lopez") the
same way on SQLite and PostgreSQL: each order keeps ``search_text``, its searchable words folded in
Python when the order is stored (:func:`fold`: Unicode decomposition, accents dropped, case folded),
and the query is folded the same way. Why stored and folded in Python rather than in SQL: SQLite's
``lower()`` only folds ASCII and has no ``unaccent``; PostgreSQL's ``unaccent`` is an extension that a
managed database may not let us install. One Python function gives both databases the same answer,
costs nothing at query time, and the column can take a trigram index later if lists grow large.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select

from connector.models import Invoice, Order


def fold(text: str | None) -> str:
    """``text`` without accents, case folded, spaces collapsed: what searching compares."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def search_text_of(external_id: str, canonical) -> str:
    """The words an order is found by: its number and pack, the buyer's name, document and e-mail, and
    each line's SKU and title (``canonical``: the parsed order)."""
    buyer = canonical.buyer
    words = [external_id, canonical.pack_id or "", buyer.name or "", buyer.email or "",
             buyer.identification.number if buyer.identification else ""]
    for line in canonical.lines:
        words += [line.sku or "", line.title]
    return fold(" ".join(w for w in words if w))[:4000]


@dataclass(frozen=True)
class OrderFilters:
    """What the orders list is narrowed to. ``created_*``: the marketplace's creation time in
    ``[created_from, created_to)``; ``text``: the order, pack, buyer, document, SKU, title or invoice number."""

    states: tuple[str, ...] = ()
    channel_connection_id: int | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    text: str = ""


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def orders_query(account_id: int, filters: OrderFilters) -> Select:
    """The account's orders matching ``filters`` (unordered)."""
    query = select(Order).where(Order.account_id == account_id)
    if filters.states:
        query = query.where(Order.state.in_(filters.states))
    if filters.channel_connection_id is not None:
        query = query.where(Order.channel_connection_id == filters.channel_connection_id)
    created = func.coalesce(Order.remote_created_at, Order.created_at)
    if filters.created_from is not None:
        query = query.where(created >= filters.created_from)
    if filters.created_to is not None:
        query = query.where(created < filters.created_to)
    text = (filters.text or "").replace("\x00", "").strip()  # PostgreSQL text cannot hold NUL
    if text:
        folded, plain = _like(fold(text)), _like(text.lower())
        by_invoice = (select(Invoice.id).where(Invoice.order_id == Order.id,
                                               func.lower(func.coalesce(Invoice.number, "")).like(plain, escape="\\"))
                      .exists())
        query = query.where(func.coalesce(Order.search_text, "").like(folded, escape="\\")
                            | func.lower(Order.external_id).like(plain, escape="\\")
                            | by_invoice)
    return query


def count_orders_matching(session, account_id: int, filters: OrderFilters) -> int:
    return session.scalar(select(func.count()).select_from(orders_query(account_id, filters).subquery())) or 0
