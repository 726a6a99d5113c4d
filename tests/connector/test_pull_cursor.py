"""The pull cursor: an order stamped in the future must not hide the orders that arrive after it."""

from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select, update

from connector.models import ChannelConnection, Order, SyncCursor, utcnow
from connector.sync import pull_channel_connection
from sandbox.catalog import BOGOTA, generate_sales
from sandbox.mercadolibre import ORDER_ID_BASE


def test_an_order_stamped_in_the_future_does_not_move_the_cursor_past_now(ctx, sandbox, seller):
    with ctx.db.session() as session:
        channel_id = session.scalar(select(ChannelConnection.id))
    pull_channel_connection(ctx, channel_id)
    future, later = generate_sales(42, seed=5)[40:]
    sandbox.ml_state.add_sale(replace(future, created_at=datetime.now(BOGOTA) + timedelta(days=3)))  # a skewed clock
    assert pull_channel_connection(ctx, channel_id).new == 1
    with ctx.db.session() as session:
        assert session.scalar(select(SyncCursor.cursor_at)) <= utcnow()

    sandbox.ml_state.add_sale(replace(later, created_at=datetime.now(BOGOTA) - timedelta(minutes=4)))
    assert pull_channel_connection(ctx, channel_id).new == 1
    with ctx.db.session() as session:
        assert session.scalar(select(Order.id).where(Order.external_id == str(ORDER_ID_BASE + later.number)))


def test_one_pull_per_connection_at_a_time_and_a_dead_pullers_lease_runs_out(ctx, sandbox, seller):
    from connector.sync import PullLease, _cursor_of

    with ctx.db.session() as session:
        channel_id = session.scalar(select(ChannelConnection.id))
        cursor_id = _cursor_of(session, channel_id).id
    ctx.settings.pull_lease_seconds = 1
    assert PullLease(ctx, cursor_id).take()  # a pull in another process, still running
    busy = pull_channel_connection(ctx, channel_id)
    assert busy.busy and busy.pulled == 0 and not busy.error

    import time

    time.sleep(1.1)  # that process died: its lease runs out
    done = pull_channel_connection(ctx, channel_id)
    assert not done.busy and done.new == 40
    with ctx.db.session() as session:
        assert session.scalar(select(SyncCursor.leased_until)) is None  # released at the end
    assert pull_channel_connection(ctx, channel_id).busy is False


def test_a_pull_that_starts_over_only_reads_what_changed(ctx, sandbox, seller):
    """A pull killed part-way leaves the cursor where it was; the next one lists everything again,
    but fetches and stores only the orders that changed (an interrupted backlog pull makes progress)."""
    with ctx.db.session() as session:
        channel_id = session.scalar(select(ChannelConnection.id))
    assert pull_channel_connection(ctx, channel_id).new == 40
    with ctx.db.transaction() as session:  # as if that pull had died before moving the cursor
        session.execute(update(SyncCursor).values(cursor_at=None))
    again = pull_channel_connection(ctx, channel_id)
    assert (again.pulled, again.new, again.updated) == (0, 0, 0)

    changed = sandbox.ml_state.order_ids()[3]
    sandbox.ml_state.update_status(changed, "cancelled")
    with ctx.db.transaction() as session:
        session.execute(update(SyncCursor).values(cursor_at=None))
    once_more = pull_channel_connection(ctx, channel_id)
    assert (once_more.pulled, once_more.updated) == (1, 1)


def test_a_live_pull_keeps_its_lease_however_long_the_channel_takes(ctx, sandbox, seller):
    import threading
    import time

    with ctx.db.session() as session:
        channel_id = session.scalar(select(ChannelConnection.id))
    ctx.settings.pull_lease_seconds = 1
    sandbox.ml_knobs.latency_ms = 40  # about three seconds for the 40 orders: three leases' worth
    results = {}
    first = threading.Thread(target=lambda: results.update(first=pull_channel_connection(ctx, channel_id)))
    first.start()
    time.sleep(1.6)  # past the first lease: only a renewal keeps a second pull out
    assert first.is_alive()
    assert pull_channel_connection(ctx, channel_id).busy
    first.join()
    assert results["first"].new == 40 and not results["first"].busy
