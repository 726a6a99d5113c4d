"""Seed 001: while the ERP is in maintenance nothing is lost and nothing floods the error queue;
invoicing pauses (circuit breaker) and resumes by itself when the ERP is back."""

import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from connector import services
from connector.models import ERPConnection, Order, utcnow
from connector.states import OrderState
from connector.sync import sync_once

pytestmark = pytest.mark.e2e


def states(ctx) -> dict[str, int]:
    with ctx.db.session() as session:
        counts: dict[str, int] = {}
        for order in session.scalars(select(Order)):
            counts[order.state] = counts.get(order.state, 0) + 1
        return counts


def pass_time_until_the_pause_ends(ctx) -> None:
    """Move the circuit's and the waiting orders' clocks past the pause (instead of sleeping it): those
    waiting for the ERP, and those a transient failure before the circuit opened left ``ready`` for a
    retry after ``CONNECTOR_RETRY_BACKOFF`` (30 s)."""
    past = utcnow() - timedelta(seconds=1)
    waiting = (OrderState.WAITING_ERP.value, OrderState.READY.value)
    with ctx.db.transaction() as session:
        session.execute(update(ERPConnection).values(circuit_open_until=past))
        session.execute(update(Order).where(Order.state.in_(waiting), Order.next_attempt_at > past)
                        .values(next_attempt_at=past))


@pytest.fixture
def settings(tmp_path, database_url):
    """A realistic first pause (30 s): the outage is detected by three failures, then nothing is tried."""
    from tests.conftest import make_settings

    return make_settings(tmp_path, database_url, circuit_first_pause_seconds=30)


def test_maintenance_window_pauses_invoicing_and_it_resumes_by_itself(ctx, sandbox, seller):
    sandbox.alegra_knobs.maintenance_until = time.time() + 3600
    sync_once(ctx, seller)
    during = states(ctx)
    assert during.get("waiting_erp", 0) > 0 and during.get("invoiced", 0) == 0
    assert services.error_queue(ctx, seller) == [] or all(
        "no coincide" in o.state_reason for o in services.error_queue(ctx, seller))  # only real SKU problems
    with ctx.db.session() as session:
        erp = session.scalar(select(ERPConnection))
        assert erp.circuit_open_until is not None and "mantenimiento" in erp.circuit_reason
        waiting = session.scalars(select(Order).where(Order.state == OrderState.WAITING_ERP.value)).all()
        assert all("Se reanudará sola" in o.state_reason for o in waiting)
    posts_during = sandbox.alegra_state.count("POST /invoices")
    requests_during = sum(sandbox.alegra_state.requests.values())
    assert posts_during == 0
    # While the circuit is open, another sweep spends no request on the ERP.
    sync_once(ctx, seller)
    assert sum(sandbox.alegra_state.requests.values()) == requests_during

    sandbox.alegra_knobs.maintenance_until = 0  # maintenance is over
    pass_time_until_the_pause_ends(ctx)
    sync_once(ctx, seller)
    after = states(ctx)
    assert after.get("waiting_erp", 0) == 0 and after["invoiced"] == len(sandbox.alegra_state.invoices) > 0
    with ctx.db.session() as session:
        erp = session.scalar(select(ERPConnection))
        assert erp.circuit_failures == 0 and erp.circuit_open_until is None


def test_only_outages_open_the_circuit():
    from connector.circuit import is_outage
    from connector.errors import AmbiguousOutcome, PermanentRejection, RateLimited, TransientError

    assert is_outage(TransientError("503")) and is_outage(AmbiguousOutcome("timeout"))
    assert not is_outage(RateLimited("429")) and not is_outage(PermanentRejection("400"))
