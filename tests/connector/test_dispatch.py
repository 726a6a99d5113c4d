"""Handing due orders to workers: fair across sellers, within each seller's ERP window, one message
per order; a worker never sleeps on a spent window; a live worker's claim never expires."""

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from connector.dispatch import dispatch_due_orders, due_order_ids, mark_handled
from connector.invoicing import claim_for_invoicing, keep_claim
from connector.models import ActivityEvent, ChannelConnection, ERPConnection, Order, utcnow
from connector.pipeline import process_order
from connector.ratelimit import WindowReading
from connector.states import OrderState
from connector.sync import pull_channel_connection
from sandbox import server as sandbox_server
from sandbox.knobs import Knobs
from tests.conftest import connect_seller

S = OrderState


@pytest.fixture
def two_sellers(ctx, sandbox):
    """Two accounts, each with its own sandbox's 40 Mercado Libre orders pulled (not processed). Both
    sandboxes know the same Alegra user, so the two sellers share one rate-limit window."""
    other = sandbox_server.Sandbox(order_count=40, seed=6, alegra_knobs=Knobs(rate_limit_per_minute=0),
                                   ml_user_id=sandbox_server.ML_USER_ID + 1).start()  # another store
    try:
        accounts = [connect_seller(ctx, sandbox), connect_seller(ctx, other)]
        with ctx.db.session() as session:
            channel_ids = list(session.scalars(select(ChannelConnection.id).order_by(ChannelConnection.id)))
        for channel_id in channel_ids:
            assert not pull_channel_connection(ctx, channel_id).error
        yield accounts
    finally:
        other.stop()


def _account_of(ctx, order_ids):
    with ctx.db.session() as session:
        return [session.get(Order, i).account_id for i in order_ids]


def _make_ready(ctx, account_id):
    with ctx.db.transaction() as session:
        session.execute(update(Order).where(Order.account_id == account_id).values(state=S.READY.value))


def _spend_window(ctx, account_id, remaining=0, reset=30):
    with ctx.db.session() as session:
        erp = session.scalar(select(ERPConnection).where(ERPConnection.account_id == account_id))
        limiter = ctx.erp_adapter(erp).rate_limit
    limiter.acquire()
    limiter.backend.learn(limiter.key, WindowReading(limit=150, remaining=remaining, reset_seconds=reset))
    return limiter


def test_due_orders_are_interleaved_across_sellers(ctx, two_sellers):
    first, second = two_sellers
    ids = due_order_ids(ctx, limit=6)
    assert _account_of(ctx, ids) == [first, second] * 3
    assert ids[0::2] == sorted(ids[0::2]) and ids[1::2] == sorted(ids[1::2])  # oldest first in each


def test_an_order_is_handed_out_once_until_a_worker_picks_it_up(ctx, two_sellers):
    sent: list[int] = []
    assert dispatch_due_orders(ctx, sent.append) == 80
    assert _account_of(ctx, sent[:4]) == [two_sellers[0], two_sellers[1]] * 2
    assert dispatch_due_orders(ctx, sent.append) == 0  # all 80 are in the queue already
    mark_handled(ctx, sent[0])  # a worker is done with it (and, say, left it due)
    assert dispatch_due_orders(ctx, sent.append) == 1 and sent[-1] == sent[0]
    ctx.settings.dispatch_lease_seconds = 0  # messages lost (a dead worker, a restarted Redis)
    assert dispatch_due_orders(ctx, sent.append) == 80


def test_two_sweeps_at_once_hand_each_order_out_once(ctx, two_sellers, monkeypatch):
    from connector import dispatch

    if ctx.db.url.startswith("sqlite"):
        pytest.skip("SQLite: every transaction takes the write lock first, so two sweeps cannot overlap")
    sent: list[int] = []
    window_room = dispatch._window_room

    def another_sweep_meanwhile(*args):  # between this sweep's read and its stamp
        monkeypatch.setattr(dispatch, "_window_room", window_room)
        assert dispatch_due_orders(ctx, sent.append) == 80
        return window_room(*args)

    monkeypatch.setattr(dispatch, "_window_room", another_sweep_meanwhile)
    assert dispatch_due_orders(ctx, sent.append) == 0
    assert len(sent) == len(set(sent)) == 80


def test_a_new_order_put_aside_waits_for_its_time(ctx, two_sellers):
    """A new order whose catalog could not be read (the ERP's window spent, say) comes back at its
    retry time, not at every sweep."""
    first = due_order_ids(ctx, limit=1)[0]
    with ctx.db.transaction() as session:
        session.execute(update(Order).where(Order.id == first).values(next_attempt_at=utcnow() + timedelta(minutes=1)))
    assert first not in due_order_ids(ctx)
    with ctx.db.transaction() as session:
        session.execute(update(Order).where(Order.id == first).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    assert first in due_order_ids(ctx)


def test_a_backlog_is_fed_to_the_queue_as_workers_drain_it(ctx, two_sellers):
    sent: list[int] = []
    assert dispatch_due_orders(ctx, sent.append, limit=10) == 10
    assert dispatch_due_orders(ctx, sent.append, limit=10) == 0  # ten are waiting in the queue already
    for order_id in sent[:3]:
        mark_handled(ctx, order_id)
        process_order(ctx, order_id)
    assert dispatch_due_orders(ctx, sent.append, limit=10) == 3
    assert len(set(sent)) == 13  # new ones, not the three that were processed


def test_orders_that_need_the_erp_are_handed_out_only_up_to_the_windows_room(ctx, two_sellers):
    account = two_sellers[0]
    _make_ready(ctx, account)
    _spend_window(ctx, account, remaining=3)
    sent: list[int] = []
    dispatch_due_orders(ctx, sent.append)
    mine = [i for i, a in zip(sent, _account_of(ctx, sent), strict=True) if a == account]
    assert len(mine) == 3  # the other seller's new orders all went (both share the sandbox's user: they
    # are new orders, which may never need the ERP)
    assert dispatch_due_orders(ctx, sent.append) == 0  # the window still has room for three, but the
    # three in the queue will spend it
    mark_handled(ctx, mine[0])  # a worker took one (and left it due, as if it had not sent anything)
    assert dispatch_due_orders(ctx, sent.append) == 1
    _spend_window(ctx, account, remaining=0)
    ctx.settings.dispatch_lease_seconds = 0
    sent.clear()
    dispatch_due_orders(ctx, sent.append)
    assert account not in _account_of(ctx, sent)


def test_a_worker_puts_an_order_aside_quietly_while_its_sellers_window_is_spent(ctx, sandbox, seller):
    with ctx.db.session() as session:
        channel_id = session.scalar(select(ChannelConnection.id))
    pull_channel_connection(ctx, channel_id)
    with ctx.db.session() as session:
        order_id = session.scalar(select(Order.id).where(Order.buyer_document.is_not(None)).order_by(Order.id))
    limiter = _spend_window(ctx, seller, remaining=0, reset=30)
    limiter.max_wait = 2.0  # as on a Celery worker
    requests_before = sum(sandbox.alegra_state.requests.values())
    with ctx.db.session() as session:
        events_before = session.scalar(select(func.count()).select_from(ActivityEvent)
                                       .where(ActivityEvent.order_id == order_id))
    state = process_order(ctx, order_id)
    assert state == S.READY
    with ctx.db.session() as session:
        order = session.get(Order, order_id)
        events = session.scalars(select(ActivityEvent).where(ActivityEvent.order_id == order_id)
                                 .order_by(ActivityEvent.id)).all()
    # Back when a short sleep (CONNECTOR_RATE_LIMIT_MAX_SLEEP) reaches the window's end.
    assert timedelta(seconds=25) < order.next_attempt_at - utcnow() <= timedelta(seconds=28)
    assert order.attempts == 0 and order.claim_token is None
    assert [e.to_state for e in events[events_before:]] == [S.READY]  # matched; no "invoicing", no retry noise
    assert sum(sandbox.alegra_state.requests.values()) == requests_before  # not one request spent
    assert order_id not in due_order_ids(ctx)


def test_a_worker_releases_the_message_of_an_order_it_puts_aside_in_the_same_commit(ctx, sandbox, seller,
                                                                                     monkeypatch):
    """A dispatched order put aside until its seller's window opens is free for the next sweep that
    finds it due (its queue message released), and releasing it costs no transaction of its own."""
    from connector import dispatch as dispatch_module
    from connector.dispatch import handle_dispatched_order
    from connector.pipeline import process_order_safely

    with ctx.db.session() as session:
        channel_id = session.scalar(select(ChannelConnection.id))
    pull_channel_connection(ctx, channel_id)
    _spend_window(ctx, seller, remaining=0, reset=30).max_wait = 2.0
    sent: list[int] = []
    dispatch_due_orders(ctx, sent.append)  # new orders always go
    with ctx.db.session() as session:  # one that matches (as in the test above)
        order_id = session.scalar(select(Order.id).where(Order.buyer_document.is_not(None)).order_by(Order.id))
    assert order_id in sent
    released_apart = []
    monkeypatch.setattr(dispatch_module, "mark_handled", lambda _ctx, oid: released_apart.append(oid))
    assert handle_dispatched_order(ctx, order_id, lambda oid: process_order_safely(ctx, oid)) == S.READY
    with ctx.db.session() as session:
        order = session.get(Order, order_id)
    assert order.dispatched_at is None and order.next_attempt_at is not None  # put aside, message released
    assert released_apart == []  # in the commit that put it aside
    # A pass that ends without committing the order (here: it is gone) still releases it apart.
    assert handle_dispatched_order(ctx, 10**9, lambda oid: process_order_safely(ctx, oid)) == "gone"
    assert released_apart == [10**9]


def test_a_live_workers_claim_is_renewed_and_a_dead_ones_expires(ctx, sandbox, seller):
    with ctx.db.session() as session:
        channel_id = session.scalar(select(ChannelConnection.id))
    pull_channel_connection(ctx, channel_id)
    with ctx.db.session() as session:
        order_id = session.scalar(select(Order.id).order_by(Order.id))
    _make_ready(ctx, seller)
    ctx.settings.claim_lease_seconds = 1
    token = claim_for_invoicing(ctx, order_id, "test")
    assert token
    with keep_claim(ctx, order_id, token):
        time.sleep(2.2)  # twice the lease: a slow ERP call, not a dead worker
        assert order_id not in due_order_ids(ctx, limit=1000)
    time.sleep(1.2)  # nobody renews it any more: as if the worker had been killed
    assert order_id in due_order_ids(ctx, limit=1000)


def test_follow_ups_go_after_the_orders_and_once_per_message(ctx, sandbox):
    """Invoices first: a seller's follow-ups (status checks, deliveries, payments) are handed out only
    while none of its orders waits for the ERP, within the window's room, one message per invoice."""
    from connector.dispatch import dispatch_due_followups, mark_followup_handled
    from connector.models import Invoice
    from connector.sync import sync_once

    account = connect_seller(ctx, sandbox)
    sync_once(ctx, account)
    with ctx.db.transaction() as session:  # every invoice has something due now
        session.execute(update(Invoice).values(next_followup_at=utcnow() - timedelta(seconds=1)))
        invoices = session.scalar(select(func.count()).select_from(Invoice))
        # One order of the seller is due for the ERP again: it goes first, follow-ups wait.
        waiting = session.scalar(select(Order.id).where(Order.account_id == account, Order.state == S.ERROR.value))
        session.execute(update(Order).where(Order.id == waiting).values(state=S.READY.value, next_attempt_at=None))
    sent: list[int] = []
    assert invoices > 5
    assert dispatch_due_followups(ctx, sent.append) == 0
    with ctx.db.transaction() as session:
        session.execute(update(Order).where(Order.id == waiting).values(state=S.ERROR.value))
    assert dispatch_due_followups(ctx, sent.append) == invoices
    assert dispatch_due_followups(ctx, sent.append) == 0  # in the queue already
    mark_followup_handled(ctx, sent[0])
    assert dispatch_due_followups(ctx, sent.append) == 1 and sent[-1] == sent[0]
    _spend_window(ctx, account)  # a spent window: nothing more goes out, even with every message lost
    ctx.settings.dispatch_lease_seconds = 0
    assert dispatch_due_followups(ctx, sent.append) == 0
