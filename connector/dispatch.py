"""Which orders are due, and handing them to workers fairly.

The database is the system of record; a queue message is only a hint that an order is due. The
sweeper (``connector.sweep_due_orders``, every ``CONNECTOR_SWEEP_INTERVAL`` seconds) hands due
orders to the Celery workers with :func:`dispatch_due_orders`:

* **round-robin across sellers** — due orders are ranked within each account and taken rank by
  rank, so one seller's backlog never queues in front of everyone else's;
* **never more than the seller's ERP window has room for** — orders that need the ERP are handed
  out only up to the requests left in that seller's rate-limit window, less the seller's orders
  still in the queue (none while it is spent, unless it ends within
  ``CONNECTOR_RATE_LIMIT_MAX_SLEEP``: then workers are waiting when it opens), so workers do not
  pick up orders only to put them back;
* **once per message** — a handed-out order is stamped ``dispatched_at`` and not handed out again
  until a worker is done with it (:func:`mark_handled`) or ``CONNECTOR_DISPATCH_LEASE`` seconds
  pass: a message lost with a dead worker or a restarted Redis only delays its order by the lease.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from datetime import timedelta

from sqlalchemy import Integer, bindparam, func, or_, select, update

from connector.context import AppContext
from connector.models import ERPConnection, Invoice, Order, utcnow
from connector.states import OrderState

log = logging.getLogger(__name__)
S = OrderState
_UNLIMITED = 10**9


# The dispatcher's statements are built once, with bound parameters (:now, :lease, :lease_start, :room,
# :ids): it runs every few seconds in every deployment, and building a windowed query like these afresh
# costs SQLAlchemy more CPU (about 1.3 ms) than running it.
_NOW, _LEASE, _LEASE_START = bindparam("now"), bindparam("lease"), bindparam("lease_start")


def _due_condition():
    """New, ready and waiting orders whose time came (a new order has none: it is due at once), and
    in-flight ones whose reconciliation is due or whose owner stopped renewing its claim (:now, :lease)."""
    due = or_(Order.next_attempt_at.is_(None), Order.next_attempt_at <= _NOW)
    return or_(
        Order.state.in_([S.RECEIVED.value, S.READY.value, S.WAITING_ERP.value]) & due,
        (Order.state == S.INVOICING.value) & or_(Order.next_attempt_at <= _NOW, Order.claimed_at <= _LEASE),
    )


def _due_params(ctx: AppContext) -> dict:
    now = utcnow()
    return {"now": now, "lease": now - timedelta(seconds=ctx.settings.claim_lease_seconds)}


def _ranked(*conditions):
    """Due orders ranked within their account (oldest first), for taking rank by rank across accounts."""
    rank = func.row_number().over(partition_by=Order.account_id, order_by=Order.id).label("rank")
    return select(Order.id, Order.account_id, Order.state, rank).where(_due_condition(), *conditions).subquery()


def _interleaved(ranked, *columns):
    return select(*(ranked.c[name] for name in columns)).order_by(ranked.c.rank, ranked.c.account_id) \
        .limit(bindparam("room", type_=Integer))


_NOT_IN_QUEUE = or_(Order.dispatched_at.is_(None), Order.dispatched_at <= _LEASE_START)
_DUE_IDS = _interleaved(_ranked(), "id")
_DUE_IDS_OF_ACCOUNT = _interleaved(_ranked(Order.account_id == bindparam("account_id")), "id")
_COUNT_DUE = select(func.count()).select_from(Order).where(_due_condition())
_COUNT_DUE_OF_ACCOUNT = _COUNT_DUE.where(Order.account_id == bindparam("account_id"))
_IN_QUEUE = (select(Order.account_id, func.count()).where(Order.dispatched_at > _LEASE_START)
             .group_by(Order.account_id))
_DISPATCHABLE = _interleaved(_ranked(_NOT_IN_QUEUE), "id", "account_id", "state")
_STAMP = (update(Order).where(Order.id.in_(bindparam("ids", expanding=True)), _NOT_IN_QUEUE)
          .values(dispatched_at=_NOW, updated_at=Order.updated_at).returning(Order.id)
          .execution_options(synchronize_session=False))
_ERPS_OF = select(ERPConnection).where(ERPConnection.account_id.in_(bindparam("accounts", expanding=True)))


def due_order_ids(ctx: AppContext, account_id: int | None = None, limit: int = 500) -> list[int]:
    """Orders the pipeline should look at now, interleaved across sellers (oldest first in each)."""
    params = {**_due_params(ctx), "room": limit}
    query = _DUE_IDS if account_id is None else _DUE_IDS_OF_ACCOUNT
    if account_id is not None:
        params["account_id"] = account_id
    with ctx.db.session() as session:
        return list(session.scalars(query, params))


def count_due_orders(ctx: AppContext, account_id: int | None = None) -> int:
    """How many orders are due now (of one account, or all)."""
    params = _due_params(ctx)
    if account_id is not None:
        params["account_id"] = account_id
    with ctx.db.session() as session:
        return session.scalar(_COUNT_DUE if account_id is None else _COUNT_DUE_OF_ACCOUNT, params) or 0


def dispatch_due_orders(ctx: AppContext, enqueue: Callable[[int], object], *, limit: int = 500) -> int:
    """Hand due orders to ``enqueue`` (the Celery task's ``delay``), fairly; returns how many.

    At most ``limit`` orders wait in the queue (or in a worker's hands) at any time: a big backlog is
    fed to the workers as they drain it, not poured into Redis all at once (and re-poured when the
    lease runs out)."""
    params = _due_params(ctx)
    params["lease_start"] = params["now"] - timedelta(seconds=ctx.settings.dispatch_lease_seconds)
    with ctx.db.session() as session:
        in_queue = dict(session.execute(_IN_QUEUE, params).all())
        queued = sum(in_queue.values())
        if queued >= limit:
            return 0
        rows = session.execute(_DISPATCHABLE, {**params, "room": limit - queued}).all()
        needing_erp = {account for _, account, state in rows if state != S.RECEIVED}
        erps = _erps_of(session, needing_erp)
    room = _window_room(ctx, needing_erp, erps)
    # Orders still in the queue or in a worker's hands will spend this window too: handing out more
    # would only have workers put them aside again (a wasted message, transaction and wake-up each).
    room = {account: left - in_queue.get(account, 0) for account, left in room.items()}
    chosen, held_back = [], set()
    for order_id, account_id, state in rows:
        if state != S.RECEIVED:  # new orders may end without the ERP (rules, unknown SKUs): always go
            if room.get(account_id, 0) <= 0:
                held_back.add(account_id)
                continue
            room[account_id] -= 1
        chosen.append(order_id)
    _note_backlogs(ctx, [erp for account, erp in erps.items() if account in held_back])
    if not chosen:
        return 0
    with ctx.db.transaction() as session:
        # Checked again as they are stamped: a sweep running at the same moment (beat's, and the one
        # after a pull) hands each order out only once.
        stamped = set(session.scalars(_STAMP, {**params, "ids": chosen}))
    handed = [order_id for order_id in chosen if order_id in stamped]
    for order_id in handed:
        enqueue(order_id)
    return len(handed)


def _erps_of(session, account_ids: set[int]) -> dict[int, ERPConnection]:
    if not account_ids:
        return {}
    return {erp.account_id: erp for erp in session.scalars(_ERPS_OF, {"accounts": sorted(account_ids)})}


def _note_backlogs(ctx: AppContext, erps: list[ERPConnection]) -> None:
    """Accounts whose orders wait for window room: the ERP mirror's bulk reads stay out of their windows
    (connector/ratelimit.py), so an import never takes room a backlog needs."""
    for erp in erps:
        try:
            ctx.erp_adapter(erp).rate_limit.note_backlog()
        except Exception:  # noqa: BLE001 - only a hint to the mirror; dispatching goes on
            log.warning("erp connection %s: backlog not noted", erp.id, exc_info=True)


def _window_room(ctx: AppContext, account_ids: set[int], erps: dict[int, ERPConnection]) -> dict[int, int]:
    """Requests each account's ERP rate-limit window has room for now (see ``SharedRateLimit.dispatchable``);
    ``erps``: the accounts' ERP connections (:func:`_erps_of`)."""
    room = {}
    for account_id, erp in erps.items():
        try:
            room[account_id] = ctx.erp_adapter(erp).rate_limit.dispatchable()
        except Exception:  # noqa: BLE001 - a connection that cannot even build its adapter: let the task say why
            log.warning("erp connection %s: rate-limit window unknown", erp.id, exc_info=True)
            room[account_id] = 1
    # An account without an ERP: its orders go, to land in the error queue with the reason.
    return {account: room.get(account, _UNLIMITED) for account in account_ids}


# The order whose queue message this worker is handling (handle_dispatched_order), until the pass over it
# commits with the message released (commit_releasing).
_handling: ContextVar[set[int] | None] = ContextVar("handling_dispatched_order", default=None)


def handle_dispatched_order(ctx: AppContext, order_id: int, process: Callable[[int], str]) -> str:
    """What a worker does with an order's queue message: ``process`` it, then :func:`mark_handled` —
    unless the pass already released the message in the commit that recorded its outcome (an invoice,
    an order put aside until its seller's window opens, one the rules stopped: see
    :func:`commit_releasing`): a transaction less on nearly every pass."""
    state = None
    unreleased = {order_id}
    token = _handling.set(unreleased)
    try:
        state = process(order_id)
        return state
    finally:  # a worker killed before this line: the dispatch lease frees the order instead
        _handling.reset(token)
        if state != S.INVOICED and order_id in unreleased:
            mark_handled(ctx, order_id)


def commit_releasing(session, order: Order) -> None:
    """Commit a pass over ``order``; when a worker is handling its queue message, release the message in
    this same commit (what :func:`mark_handled` would do in a transaction of its own)."""
    unreleased = _handling.get()
    mine = unreleased is not None and order.id in unreleased
    if mine:
        order.dispatched_at = None
    session.commit()
    if mine:  # only once it is committed: a failed commit leaves the release to mark_handled
        unreleased.discard(order.id)


def mark_handled(ctx: AppContext, order_id: int) -> None:
    """A worker is done with the order's message (whatever became of the order): the sweeper may
    hand it out again when it is due again. Until then the order counts as in the queue, against
    its seller's window, and no second worker is handed it while the first still works on it."""
    with ctx.db.transaction() as session:
        session.execute(update(Order).where(Order.id == order_id, Order.dispatched_at.is_not(None))
                        .values(dispatched_at=None, updated_at=Order.updated_at)
                        .execution_options(synchronize_session=False))


# -- after the invoice: status checks and remote writes (connector/followup.py) ---------------------


_FOLLOWUP_NOT_IN_QUEUE = or_(Invoice.followup_dispatched_at.is_(None), Invoice.followup_dispatched_at <= _LEASE_START)
_DUE_FOLLOWUPS = (select(Invoice.id, Order.account_id).join(Order, Order.id == Invoice.order_id)
                  .where(Invoice.next_followup_at <= _NOW, _FOLLOWUP_NOT_IN_QUEUE)
                  .order_by(Invoice.next_followup_at).limit(bindparam("room", type_=Integer)))


def dispatch_due_followups(ctx: AppContext, enqueue: Callable[[int], object], *, limit: int = 200) -> int:
    """Hand due invoice follow-ups to ``enqueue``, at a lower priority than invoices: a seller's
    follow-ups go only while none of its orders waits for the ERP (due, or in the queue) and only as
    many as its rate window still has room for. Once per message, like orders."""
    params = _due_params(ctx)
    now = params["now"]
    lease_start = params["lease_start"] = now - timedelta(seconds=ctx.settings.dispatch_lease_seconds)
    not_in_queue = _FOLLOWUP_NOT_IN_QUEUE
    with ctx.db.session() as session:
        rows = session.execute(_DUE_FOLLOWUPS, {**params, "room": limit}).all()
        if not rows:
            return 0
        accounts = {account for _, account in rows}
        busy = set(session.scalars(
            select(Order.account_id).where(Order.account_id.in_(accounts), or_(
                _due_condition() & (Order.state != S.RECEIVED.value), Order.dispatched_at > lease_start))
            .distinct(), params))
        in_queue = dict(session.execute(
            select(Order.account_id, func.count()).join(Invoice, Invoice.order_id == Order.id)
            .where(Order.account_id.in_(accounts), Invoice.followup_dispatched_at > lease_start)
            .group_by(Order.account_id)).all())
        room = _window_room(ctx, accounts - busy, _erps_of(session, accounts - busy))
    room = {account: left - in_queue.get(account, 0) for account, left in room.items()}
    chosen = []
    for invoice_id, account_id in rows:
        if room.get(account_id, 0) > 0:
            room[account_id] -= 1
            chosen.append(invoice_id)
    if not chosen:
        return 0
    with ctx.db.transaction() as session:
        stamped = set(session.scalars(update(Invoice).where(Invoice.id.in_(chosen), not_in_queue)
                                      .values(followup_dispatched_at=now).returning(Invoice.id)
                                      .execution_options(synchronize_session=False), params))
    handed = [invoice_id for invoice_id in chosen if invoice_id in stamped]
    for invoice_id in handed:
        enqueue(invoice_id)
    return len(handed)


def mark_followup_handled(ctx: AppContext, invoice_id: int) -> None:
    """A worker is done with the follow-up's message: it may be handed out again when due again."""
    with ctx.db.transaction() as session:
        session.execute(update(Invoice).where(Invoice.id == invoice_id, Invoice.followup_dispatched_at.is_not(None))
                        .values(followup_dispatched_at=None).execution_options(synchronize_session=False))
