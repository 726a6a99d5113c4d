"""One order's trouble never stops the others: a bug parks the order with a reason; the database
being unavailable leaves it due for the next sweep, out of the error queue."""

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from connector import pipeline
from connector.dispatch import due_order_ids
from connector.models import ChannelConnection, Order
from connector.states import OrderState
from connector.sync import pull_channel_connection


@pytest.fixture
def order_id(ctx, sandbox, seller):
    with ctx.db.session() as session:
        channel_id = session.scalar(select(ChannelConnection.id))
    pull_channel_connection(ctx, channel_id)
    return due_order_ids(ctx, limit=1)[0]


def _fail_with(monkeypatch, exc):
    def failing(*_args, **_kwargs):
        raise exc

    monkeypatch.setattr(pipeline, "process_order", failing)


def test_an_unexpected_error_parks_the_order_with_its_name(ctx, order_id, monkeypatch):
    _fail_with(monkeypatch, KeyError("total_amount"))
    assert pipeline.process_order_safely(ctx, order_id) == OrderState.ERROR
    with ctx.db.session() as session:
        reason = session.get(Order, order_id).state_reason
    assert "Error interno" in reason and "KeyError" in reason


def test_the_database_unavailable_leaves_the_order_due_not_in_the_error_queue(ctx, order_id, monkeypatch):
    _fail_with(monkeypatch, OperationalError("SELECT 1", {}, Exception("server closed the connection")))
    assert pipeline.process_order_safely(ctx, order_id) == "db_unavailable"
    with ctx.db.session() as session:
        assert session.get(Order, order_id).state == OrderState.RECEIVED
    assert order_id in due_order_ids(ctx)
