"""Stock (and, when the seller wants, prices) from the ERP to every channel. The ERP owns the stock.

The sale lowers the ERP's stock through the invoice's warehouse; the connector only **reads** it and
publishes ``max(0, available - buffer)`` to every listing mapped to the item, on every channel connection
whose stock sync is on. It never adjusts the ERP's inventory, so nothing is counted twice.

When it runs:

* after an invoice the connector created: its items are marked pending (:func:`after_invoice`), and the
  sweep publishes them (one targeted read per item, one write per listing that changed);
* when the ERP says an item or an invoice changed (its webhooks, through the mirror):
  :func:`on_erp_item_changed` marks the item pending the same way;
* a periodic full comparison as the backstop (:func:`sweep_stock`): every listing read from the channel,
  the whole catalog's stock read in pages, only differences written.

Only changed quantities are written, each exactly once (:mod:`connector.stock_writes`). Stock is low
priority: a run that would read the ERP waits while orders are due or the ERP's rate window is below
half full (invoices come first), and its reads count as follow-up work inside the window (room is kept
for invoices); the channels' clients keep their own rate limits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select

from connector.context import AppContext
from connector.dispatch import due_order_ids
from connector.errors import ConfigurationError, ConnectorError
from connector.leases import RowLease
from connector.models import (
    ChannelConnection,
    ERPConnection,
    StockListing,
    StockPendingItem,
    utcnow,
)
from connector.pipeline import CatalogRefreshes, ensure_catalog
from connector.ratelimit import RequestClass, request_class
from connector.rules import effective_settings
from connector.stock_pending import mark_items_changed
from connector.stock_plan import (
    WRITE_FAILED_PREFIX,
    ErpStockCache,
    match_rows,
    plan_row,
    read_erp_stock,
    store_listings,
    tax_rates,
    warehouse_for,
)
from connector.stock_settings import stock_settings_of
from connector.stock_writes import push_listing, settle_open_writes

log = logging.getLogger(__name__)

ERP_WINDOW_RESERVE = 0.5  # stock reads the ERP only while more than half of the rate window is free
MAX_ERRORS_SHOWN = 50
# A listing's write in these states is not settled yet (a lost answer, a retry, another worker on it):
# its item stays pending until a later sweep settles it.
UNSETTLED_STATES = ("pending", "sending", "ambiguous", "busy")


@dataclass
class StockDifference:
    listing_id: str
    title: str
    sku: str | None
    erp_item_id: str | None
    channel_quantity: int | None
    desired_quantity: int | None
    channel_price: str | None = None
    desired_price: str | None = None
    state: str = "planned"  # planned | done | failed | skipped | uncertain | ambiguous | busy | pending
    detail: str = ""


@dataclass
class StockReport:
    """What one run compared, found and wrote (the CLI's ``--json``, the panel's page)."""

    channel_connection_id: int
    channel: str
    enabled: bool
    mode: str  # full | items
    dry_run: bool
    trigger: str
    compared: int = 0
    differences: list[StockDifference] = field(default_factory=list)
    written: int = 0
    failed: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)  # listings that cannot be published, and why
    deferred: str = ""  # why the run did not happen now (it comes back)
    error: str = ""  # why the run stopped (the channel or the ERP refused or was down), in the seller's words
    erp_requests: int = 0
    channel_requests: int = 0
    finished_at: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _calls(adapter) -> int:
    """Requests an adapter sent so far, when it counts them (benchmarks and the report read it)."""
    counted = getattr(adapter, "calls", None)
    if counted is None:
        counted = getattr(getattr(adapter, "client", None), "calls", None)
    return int(counted) if isinstance(counted, int) else 0


def _erp_is_busy(ctx: AppContext, erp: ERPConnection) -> str:
    """Why stock must wait for invoicing now ("" when it may read the ERP)."""
    if due_order_ids(ctx, erp.account_id, limit=1):
        return "Hay pedidos por facturar: el stock se publica después, para no quitarles peticiones al ERP."
    window = ctx.erp_adapter(erp).rate_limit.peek()
    if window.wait > 0 or window.room < window.capacity * ERP_WINDOW_RESERVE:
        return "La ventana de peticiones del ERP está ocupada por la facturación: el stock se publica en breve."
    return ""


def stock_lease(ctx: AppContext, channel_connection_id: int) -> RowLease:
    """The lease one stock run of a channel connection holds (``CONNECTOR_STOCK_LEASE``)."""
    return RowLease(ctx.db, ChannelConnection, channel_connection_id, ctx.settings.stock_lease_seconds,
                    token_column="stock_claim_token", until_column="stock_claimed_until")


def run_stock_sync(ctx: AppContext, channel_connection_id: int, *, dry_run: bool = False,
                   erp_item_ids: set[str] | None = None, trigger: str = "cli", yield_to_invoicing: bool = True,
                   erp_stock_cache: ErpStockCache | None = None, held: RowLease | None = None) -> StockReport:
    """Compare one channel connection's listings with the ERP's stock and (unless ``dry_run`` or the
    connection's stock sync is off) write the differences. ``erp_item_ids``: only the listings of those
    items (no channel-wide read). ``held``: the connection's lease, already taken by the caller (released
    here). ``ConfigurationError`` when the account has no ERP or bad settings."""
    with ctx.db.session() as session:
        connection = session.get(ChannelConnection, channel_connection_id)
        if connection is None:
            raise ConnectorError("Ese canal no existe.", detail=f"channel connection {channel_connection_id}")
        erp = session.scalar(select(ERPConnection).where(ERPConnection.account_id == connection.account_id))
        settings = stock_settings_of(connection.stock_settings)
        invoicing = effective_settings(erp.settings, connection.settings_overrides) if erp is not None else None
        session.expunge_all()
    report = StockReport(channel_connection_id, connection.name, settings.enabled,
                         "items" if erp_item_ids is not None else "full", dry_run or not settings.enabled, trigger)
    if erp is None:
        if held is not None:
            with ctx.db.transaction() as session:
                held.release(session)
        raise ConfigurationError("Conecta el ERP antes de publicar su stock en los canales.")
    lease = held or stock_lease(ctx, channel_connection_id)
    if held is None and not lease.take():
        report.deferred = "Otra actualización de stock de este canal está en curso."
        return report
    try:
        with lease.kept(f"stock-{channel_connection_id}"):
            if yield_to_invoicing and (reason := _erp_is_busy(ctx, erp)):
                report.deferred = reason
                return report
            try:
                # Its ERP reads are follow-up work: once begun, a run must not take the window's room
                # from the invoices (it waited for them to begin with, but orders keep arriving).
                with request_class(RequestClass.FOLLOWUP):
                    _compare_and_push(ctx, connection, erp, settings, invoicing, report, erp_item_ids,
                                      erp_stock_cache)
            except ConnectorError as exc:
                report.error = exc.user_message
                raise
    finally:
        report.finished_at = utcnow().isoformat(timespec="seconds")
        with ctx.db.transaction() as session:
            row = session.get(ChannelConnection, channel_connection_id)
            lease.release(session, stock_status=_status_after(dict(row.stock_status or {}) if row else {}, report))
    return report


def _status_after(status: dict[str, Any], report: StockReport) -> dict[str, Any]:
    """What the panel shows after a run: the last push and the last comparison, a run waiting for
    invoicing, and when the last full comparison happened (the backstop's clock)."""
    if report.deferred:
        status["deferred"] = {"reason": report.deferred, "at": report.finished_at}
        return status
    status.pop("deferred", None)
    summary = {k: v for k, v in report.as_dict().items() if k != "differences"}
    summary["differences_found"] = len(report.differences)
    summary["differences"] = [asdict(d) for d in report.differences[:MAX_ERRORS_SHOWN]]
    status["last_diff" if report.dry_run else "last_push"] = summary
    if report.mode == "full" and not report.dry_run and not report.error:
        status["last_full_at"] = report.finished_at  # the backstop waits a whole period again
    return status


def _compare_and_push(ctx: AppContext, connection: ChannelConnection, erp: ERPConnection, settings, invoicing,
                      report: StockReport, erp_item_ids: set[str] | None,
                      erp_stock_cache: ErpStockCache | None = None) -> None:
    channel = ctx.channel_adapter(connection)
    erp_adapter = ctx.erp_adapter(erp)
    erp_calls, channel_calls = _calls(erp_adapter), _calls(channel)
    try:
        with ctx.db.transaction() as session:
            if erp_item_ids is None:  # full comparison: what the channel lists now
                store_listings(session, connection.id, channel.iter_listings())
                ensure_catalog(ctx, session, session.get(ERPConnection, erp.id), CatalogRefreshes())
                rows = list(session.scalars(select(StockListing).where(
                    StockListing.channel_connection_id == connection.id)))
                match_rows(session, erp, connection, rows, invoicing)
            else:
                rows = list(session.scalars(select(StockListing).where(
                    StockListing.channel_connection_id == connection.id,
                    StockListing.erp_item_id.in_(erp_item_ids))))
            wanted = {row.erp_item_id for row in rows if row.erp_item_id}
            stocks = read_erp_stock(ctx, erp, warehouse_for(settings, invoicing),
                                    None if erp_item_ids is None else wanted, erp_stock_cache) if wanted else {}
            rates = tax_rates(session, erp.id, wanted)
            changed, same = [], []
            for row in rows:
                differs = plan_row(row, stocks.get(row.erp_item_id or ""), settings,
                                   rates.get(row.erp_item_id or "", Decimal(0)))
                (changed if differs else same).append(row)
                if row.problem:
                    report.problems.append({"listing_id": row.listing_id, "title": row.title, "reason": row.problem})
            report.compared = len(rows)
            session.expunge_all()
        for row in changed:
            _push_difference(ctx, channel, connection.id, row, report)
        if not report.dry_run:
            for row in settle_open_writes(ctx, channel, connection.id, same):
                _push_difference(ctx, channel, connection.id, row, report)
    finally:
        report.erp_requests = _calls(erp_adapter) - erp_calls
        report.channel_requests = _calls(channel) - channel_calls
        channel.close()


def _push_difference(ctx: AppContext, channel, connection_id: int, row: StockListing, report: StockReport) -> None:
    difference = StockDifference(row.listing_id, row.title, row.sku, row.erp_item_id, row.channel_quantity,
                                 row.desired_quantity, _text(row.channel_price), _text(row.desired_price))
    report.differences.append(difference)
    if report.dry_run or row.problem:
        difference.state = "skipped" if row.problem else "planned"
        difference.detail = row.problem
        return
    difference.state, difference.detail = push_listing(ctx, channel, connection_id, row,
                                                       row.desired_quantity, row.desired_price)
    _record_outcome(ctx, row.id, difference)
    report.written += difference.state == "done"
    report.failed += difference.state in ("failed", "uncertain")


def _record_outcome(ctx: AppContext, row_id: int, difference: StockDifference) -> None:
    with ctx.db.transaction() as session:
        row = session.get(StockListing, row_id)
        if row is None:
            return
        if difference.state == "done":
            row.channel_quantity, row.last_pushed_at = difference.desired_quantity, utcnow()
            if difference.desired_price is not None:
                row.channel_price = Decimal(difference.desired_price)
        elif difference.state in ("failed", "uncertain"):
            row.problem = f"{WRITE_FAILED_PREFIX}{difference.detail}"[:2000]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value.normalize():f}"


# -- triggers ------------------------------------------------------------------------------------


def on_erp_item_changed(ctx: AppContext, erp_connection_id: int, erp_item_id: str, *, reason: str = "ERP") -> int:
    """The ERP said an item changed (its ``edit-item`` webhook, through the mirror): the item's stock is
    published on the next sweep (:func:`push_pending_items`). Returns 1 when marked, 0 when it already
    was or no channel of the account publishes stock. Cheap and safe to call from a webhook handler."""
    return mark_items_changed(ctx, erp_connection_id, {str(erp_item_id)}, reason)


def on_erp_invoice_changed(ctx: AppContext, erp_connection_id: int, erp_item_ids: Iterable[str], *,
                           reason: str = "factura del ERP") -> int:
    """The ERP said an invoice (or credit note) was created or edited (``new-invoice``/``edit-invoice``
    webhooks, through the mirror, which read the invoice): its items' stock is published on the next
    sweep. Returns how many items were marked."""
    return mark_items_changed(ctx, erp_connection_id, {str(i) for i in erp_item_ids}, reason)


def push_pending_items(ctx: AppContext, *, trigger: str = "pendientes") -> dict[str, int]:
    """Publish the stock of every pending item to every channel that publishes stock. An item stays
    pending until every such channel took it: a run that could not happen, a write whose answer was
    lost or that waits for a retry keeps it; so does a mark made after this sweep read it (a new sale
    whose stock the sweep may have read too early)."""
    counts = {"items": 0, "written": 0, "deferred": 0}
    with ctx.db.session() as session:
        pending: dict[int, dict[str, tuple[int, datetime]]] = {}
        for item in session.scalars(select(StockPendingItem).order_by(StockPendingItem.id).limit(500)):
            pending.setdefault(item.erp_connection_id, {})[item.erp_item_id] = (item.id, item.since)
        targets = {erp_id: _stock_connections(session, erp_id) for erp_id in pending}
    for erp_id, items in pending.items():
        unsettled = _publish_items(ctx, erp_id, targets[erp_id], set(items), trigger, counts)
        if unsettled is None:
            counts["deferred"] += 1
            continue
        settled = [mark for item_id, mark in items.items() if item_id not in unsettled]
        with ctx.db.transaction() as session:
            for row_id, since in settled:  # only the mark this sweep read: a newer one waits for the next
                session.execute(delete(StockPendingItem).where(StockPendingItem.id == row_id,
                                                               StockPendingItem.since == since))
        counts["items"] += len(settled)
    return counts


def _publish_items(ctx: AppContext, erp_id: int, connection_ids: list[int], items: set[str], trigger: str,
                   counts: dict[str, int]) -> set[str] | None:
    """Publish ``items`` to every channel of the ERP connection; the items not settled everywhere, or
    None when the sweep could not run now (another run holds a channel, invoicing comes first).

    Every channel's lease is taken first, in order, and held to the end: two sweeps (two workers) never
    split an account's channels between them, where each would leave the items pending for the other.
    Whether the ERP is busy is asked once, before any read: this sweep's own reads of the first channel
    must not make it defer the next one, every time."""
    leases = []
    for connection_id in connection_ids:
        lease = stock_lease(ctx, connection_id)
        if not lease.take():
            _release(ctx, leases)
            return None
        leases.append(lease)
    with ctx.db.session() as session:
        erp = session.get(ERPConnection, erp_id)
        session.expunge_all()
    if erp is None or (leases and _erp_is_busy(ctx, erp)):
        _release(ctx, leases)
        return None
    unsettled: set[str] = set()
    cache: ErpStockCache = {}
    try:
        with ExitStack() as kept:
            for lease in leases:
                kept.enter_context(lease.kept(f"stock-{lease.row_id}"))
            for lease in leases:
                try:
                    report = run_stock_sync(ctx, lease.row_id, erp_item_ids=items, trigger=trigger,
                                            yield_to_invoicing=False, erp_stock_cache=cache, held=lease)
                except ConnectorError as exc:
                    log.warning("stock of channel connection %s: %s", lease.row_id, exc.user_message)
                    unsettled |= items
                    continue
                counts["written"] += report.written
                unsettled |= {d.erp_item_id for d in report.differences if d.state in UNSETTLED_STATES}
    finally:
        _release(ctx, leases)  # the channels not reached, or a run that failed before it began
    return unsettled


def _release(ctx: AppContext, leases: list[RowLease]) -> None:
    with ctx.db.transaction() as session:
        for lease in leases:
            lease.release(session)


def _stock_connections(session, erp_connection_id: int) -> list[int]:
    erp = session.get(ERPConnection, erp_connection_id)
    if erp is None:
        return []
    return [c.id for c in session.scalars(select(ChannelConnection).where(
        ChannelConnection.account_id == erp.account_id, ChannelConnection.enabled.is_(True))
        .order_by(ChannelConnection.id)) if stock_settings_of(c.stock_settings).enabled]


def sweep_stock(ctx: AppContext, *, full_every: timedelta | None = None) -> dict[str, int]:
    """The periodic job: pending items first, then a full comparison of every channel that publishes
    stock and was not fully compared within ``full_every`` (the backstop)."""
    counts = push_pending_items(ctx)
    full_every = full_every or timedelta(seconds=ctx.settings.stock_full_sync_seconds)
    with ctx.db.session() as session:
        connections = [(c.id, (c.stock_status or {}).get("last_full_at")) for c in session.scalars(
            select(ChannelConnection).where(ChannelConnection.enabled.is_(True)).order_by(ChannelConnection.id))
            if stock_settings_of(c.stock_settings).enabled]
    counts["full"] = 0
    now = utcnow()
    for connection_id, last_full in connections:
        if last_full and now < datetime.fromisoformat(last_full) + full_every:
            continue
        try:
            report = run_stock_sync(ctx, connection_id, trigger="periódica")
        except ConnectorError as exc:
            log.warning("stock of channel connection %s: %s", connection_id, exc.user_message)
            continue
        if not report.deferred:
            counts["full"] += 1
            counts["written"] += report.written
    return counts
