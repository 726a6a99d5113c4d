"""The pull cursor: an order stamped in the future must not hide the orders that arrive after it."""

from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select

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
