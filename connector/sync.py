"""Pull orders from channels and push them through the pipeline."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from connector.alerts import note_channel_error
from connector.context import AppContext
from connector.dispatch import count_due_orders, due_order_ids
from connector.errors import ConnectorError
from connector.followup import run_due_followups
from connector.held_orders import release_fixed_everywhere
from connector.leases import RowLease
from connector.models import ChannelConnection, Order, SyncCursor, SyncRun, utcnow
from connector.pipeline import CatalogRefreshes, process_order_safely, store_pulled_order
from connector.progress import Progress
from connector.states import ERROR_QUEUE_STATES

log = logging.getLogger(__name__)


@dataclass
class PullSummary:
    channel_connection_id: int
    pulled: int = 0
    new: int = 0
    updated: int = 0
    error: str = ""
    busy: bool = False  # another pull of this connection was running: nothing was read this time


@dataclass
class SyncSummary:
    pulls: list[PullSummary] = field(default_factory=list)
    processed: dict[str, int] = field(default_factory=dict)
    followups: dict[str, int] = field(default_factory=dict)  # what the invoices' follow-ups came to
    error_queue: int = 0
    released: int = 0  # held orders a fix had freed, sent back through the pipeline by this run
    remaining: int = 0  # orders still due when the run ended (the ERP window, a long backlog)

    @property
    def pulled(self) -> int:
        return sum(p.pulled for p in self.pulls)

    def as_dict(self) -> dict:
        return {"pulled": self.pulled, "pulls": [asdict(p) for p in self.pulls], "processed": self.processed,
                "followups": self.followups, "error_queue": self.error_queue, "released": self.released,
                "remaining": self.remaining}


def pull_channel_connection(ctx: AppContext, channel_connection_id: int) -> PullSummary:
    """Pull everything new or changed since the cursor and store it. The cursor moves only after
    the orders it covers are committed, so a crash mid-pull re-reads instead of losing.

    One pull per connection at a time: a second one (beat's next tick while a big backlog is still
    being read, a "sync now" click) returns at once with ``busy`` set instead of reading it all again.
    """
    summary = PullSummary(channel_connection_id)
    with ctx.db.session() as session:
        connection = session.get(ChannelConnection, channel_connection_id)
        if connection is None or not connection.enabled:
            summary.error = "conexión inexistente o desactivada"
            return summary
        cursor = _cursor_of(session, connection.id)
        lease = PullLease(ctx, cursor.id)
        if not lease.take():
            summary.busy = True
            return summary
        run = SyncRun(channel_connection_id=connection.id)
        session.add(run)
        session.commit()
        session.refresh(cursor)
        session.commit()  # no transaction stays open while the channel is read (SQLite: one writer)
        since = cursor.cursor_at - timedelta(seconds=ctx.settings.cursor_overlap_seconds) if cursor.cursor_at else None
        newest: datetime | None = cursor.cursor_at
        started_at = utcnow()
        adapter = None
        try:
            adapter = ctx.channel_adapter(connection)
            with lease.kept(f"pull-{cursor.id}"):
                for pulled in adapter.pull_orders(since, known=partial(_known, ctx, connection.id)):
                    outcome = _store(session, connection, adapter, pulled)
                    summary.pulled += 1
                    summary.new += outcome == "new"
                    summary.updated += outcome == "updated"
                    if pulled.updated_at and (newest is None or pulled.updated_at > newest):
                        newest = pulled.updated_at
                    # Committed before the next one is fetched: no transaction stays open across HTTP
                    # calls (SQLite has one writer), and a crash mid-pull loses nothing already read.
                    session.commit()
            session.commit()
            # Never past the moment this pull began: an order stamped in the future (a marketplace clock
            # ahead of ours) would otherwise move the cursor beyond every order that changes meanwhile.
            cursor.cursor_at = min(newest, started_at) if newest else newest
            run.status = "ok"
        except ConnectorError as exc:
            session.rollback()  # the uncommitted tail is re-read next time; the cursor did not move
            summary.error = exc.user_message
            run.status, run.error = "failed", exc.user_message
            note_channel_error(session, connection.account_id, exc, channel_name=connection.name)
            log.warning("pull of channel connection %s failed: %s", channel_connection_id, exc.detail or exc)
        except Exception as exc:  # noqa: BLE001 - an adapter bug must not kill the worker
            session.rollback()
            summary.error = f"Error inesperado leyendo el canal ({type(exc).__name__})."
            run.status, run.error = "failed", summary.error
            log.exception("pull of channel connection %s crashed", channel_connection_id)
        finally:
            if adapter is not None:
                adapter.close()
        run.pulled, run.new, run.updated, run.finished_at = summary.pulled, summary.new, summary.updated, utcnow()
        lease.release(session)
        session.commit()
    return summary


def _known(ctx: AppContext, connection_id: int, external_id: str, updated_at: datetime | None) -> bool:
    """Is the order stored already, as of ``updated_at``? (In its own short transaction: the pull's
    session must not hold one across the HTTP calls that follow.)"""
    if updated_at is None:
        return False
    with ctx.db.session() as session:
        stored = session.scalar(select(Order.remote_updated_at).where(Order.channel_connection_id == connection_id,
                                                                      Order.external_id == external_id))
    return stored is not None and stored == updated_at


def _cursor_of(session, connection_id: int) -> SyncCursor:
    """The connection's cursor row, created on its first pull (two first pulls at once: one wins)."""
    cursor = session.scalar(select(SyncCursor).where(SyncCursor.channel_connection_id == connection_id))
    if cursor is None:
        try:
            with session.begin_nested():
                session.add(SyncCursor(channel_connection_id=connection_id))
        except IntegrityError:
            pass
        session.commit()
        cursor = session.scalar(select(SyncCursor).where(SyncCursor.channel_connection_id == connection_id))
    session.commit()
    return cursor


def PullLease(ctx: AppContext, cursor_id: int) -> RowLease:  # noqa: N802 - reads as the thing it is
    """Who is pulling a connection now (the cursor row's lease): taken by a conditional UPDATE, kept
    renewed while the puller reads (however long the channel makes it wait or however many known
    orders it skips), released when it is done; a puller that died frees it when it runs out."""
    return RowLease(ctx.db, SyncCursor, cursor_id, ctx.settings.pull_lease_seconds,
                    token_column="lease_token", until_column="leased_until")


def _store(session, connection, adapter, pulled) -> str:
    """Store one pulled order; when another process changed it at the same moment, re-read and retry."""
    for attempt in range(3):
        try:
            with session.begin_nested():
                return store_pulled_order(session, connection, adapter, pulled)
        except (StaleDataError, IntegrityError):
            if attempt == 2:
                raise
            session.expire_all()
    return "unchanged"


def sync_once(ctx: AppContext, account_id: int | None = None, *, drain: bool = False,
              progress: Progress | None = None) -> SyncSummary:
    """Pull every enabled channel connection (of one account, or all), then process due orders.

    Held orders a fix has freed since (a mapping, a product now in the catalog) are released first.
    With ``drain`` (``sync --once``), due orders are processed round after round until none is due or a
    round frees nothing new; ``remaining`` says how many are still due (e.g. waiting for the ERP
    window). ``progress`` is told each step (the CLI's progress bars)."""
    summary = SyncSummary()
    with ctx.db.session() as session:
        query = select(ChannelConnection.id).where(ChannelConnection.enabled.is_(True)).order_by(ChannelConnection.id)
        if account_id is not None:
            query = query.where(ChannelConnection.account_id == account_id)
        connection_ids = list(session.scalars(query))
    if progress:
        progress.start("pull", len(connection_ids))
    for connection_id in connection_ids:
        summary.pulls.append(pull_channel_connection(ctx, connection_id))
        if progress:
            progress.advance("pull")
    summary.released = len(release_fixed_everywhere(ctx, account_id))  # held orders a fix has freed
    summary.processed = _process_due(ctx, account_id, drain=drain, progress=progress)
    summary.followups = run_due_followups(ctx, account_id)  # after the invoices: lower priority
    summary.remaining = count_due_orders(ctx, account_id)
    with ctx.db.session() as session:
        query = select(func.count()).select_from(Order).where(Order.state.in_([s.value for s in ERROR_QUEUE_STATES]))
        if account_id is not None:
            query = query.where(Order.account_id == account_id)
        summary.error_queue = session.scalar(query) or 0
    return summary


# Rounds ``drain`` runs at most: a backlog of this many times one round (500) is left for the
# scheduler rather than holding a terminal for hours; ``remaining`` then says how many are due.
MAX_DRAIN_ROUNDS = 40


def _process_due(ctx: AppContext, account_id: int | None, *, drain: bool,
                 progress: Progress | None) -> dict[str, int]:
    counts: dict[str, int] = {}
    refreshes = CatalogRefreshes()
    seen_rounds: set[tuple[int, ...]] = set()
    for _round in range(MAX_DRAIN_ROUNDS if drain else 1):
        due = due_order_ids(ctx, account_id)
        key = tuple(due)
        if not due or key in seen_rounds:  # nothing due, or the same orders again: they are not moving
            break
        seen_rounds.add(key)
        if progress:
            progress.start("process", len(due))
        for order_id in due:
            state = process_order_safely(ctx, order_id, refreshes=refreshes)
            counts[state] = counts.get(state, 0) + 1
            if progress:
                progress.advance("process")
    return counts
