"""A spent ERP rate-limit window on a worker that must not sleep long (a Celery worker): nothing is
sent, nothing fails, and each order says why it waits — the automatic run and the "Facturar" button."""

import pytest
from sqlalchemy import select

from connector import services
from connector.models import ERPConnection, Order, utcnow
from connector.states import OrderState
from connector.sync import sync_once
from tests.conftest import connect_seller, make_settings

pytestmark = pytest.mark.e2e


@pytest.fixture
def settings(tmp_path, database_url):
    """Ten ERP requests a minute: connecting spends half, the first orders the rest."""
    return make_settings(tmp_path, database_url, erp_rate_limit_per_minute=10)


def test_a_spent_window_defers_orders_with_a_reason_and_the_button_says_so_too(ctx, sandbox):
    seller = connect_seller(ctx, sandbox)
    with ctx.db.session() as session:
        erp = session.scalar(select(ERPConnection))
    ctx.erp_adapter(erp).rate_limit.max_wait = 0.5  # as on a Celery worker (CONNECTOR_RATE_LIMIT_MAX_SLEEP)

    sync_once(ctx, seller)
    with ctx.db.session() as session:
        deferred = session.scalars(select(Order).where(Order.state == OrderState.READY.value)).all()
        invoiced = session.scalars(select(Order).where(Order.state == OrderState.INVOICED.value)).all()
    assert deferred, "the window should have been spent before the backlog"
    assert len(sandbox.alegra_state.invoices) == len(invoiced)
    for order in deferred:
        assert "límite de peticiones del ERP está agotado" in order.state_reason
        assert order.attempts == 0  # a spent window is not a failed attempt
        assert 0 < (order.next_attempt_at - utcnow()).total_seconds() <= 60

    posts = sandbox.alegra_state.count("POST /invoices")
    pressed = services.invoice_orders(ctx, [deferred[0].id], account_ref=seller, actor="ui")[deferred[0].id]
    assert pressed.state == OrderState.READY.value
    assert "límite de peticiones del ERP está agotado" in pressed.state_reason
    assert "Se reintentará automáticamente" in pressed.state_reason
    assert sandbox.alegra_state.count("POST /invoices") == posts  # nothing sent, nothing lost
    assert services.error_queue(ctx, seller) == [] or all(
        "agotado" not in o.state_reason for o in services.error_queue(ctx, seller))
