"""End to end with each registered ERP that has a sandbox: marketplace orders from the three channels
become exactly one invoice each whose total is what the buyer paid, a second sync invoices nothing
twice, and an invoice whose answer was lost is found again by its marker instead of sent twice."""

from __future__ import annotations

import time
from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from connector import services
from connector.models import Order, utcnow
from connector.states import OrderState
from connector.sync import sync_once
from sandbox.erp_sandboxes import ERP_SANDBOXES
from tests.conftest import each_on_one_database
from tests.e2e.conftest import buyer_paid, connect_channels_seller

pytestmark = pytest.mark.e2e

# Each ERP on one database in `make test` (both databases covered), on the other in `make test-slow`.
ERPS = sorted(ERP_SANDBOXES)


def invoiced_orders(ctx, account_id: int) -> list[Order]:
    with ctx.db.session() as session:
        orders = session.scalars(select(Order).where(Order.account_id == account_id)).all()
        for order in orders:
            _ = order.invoice, order.lines, order.channel_connection
        return [o for o in orders if o.state in (OrderState.INVOICED, OrderState.REJECTED)]


def settle_retries(ctx, account_id: int, rounds: int = 6) -> None:
    """What the scheduler does over the next minutes, now: orders waiting for a retry (an answer lost
    after the ERP committed leaves one ``ready`` with its attempt to settle) are made due and taken again
    — after a paused circuit's pause — until none waits."""
    for _ in range(rounds):
        with ctx.db.transaction() as session:
            waiting = session.execute(update(Order).where(
                Order.account_id == account_id, Order.state.in_([OrderState.READY.value, OrderState.INVOICING.value]))
                .values(next_attempt_at=utcnow())).rowcount
        if not waiting:
            return
        time.sleep(0.6)  # circuit_first_pause_seconds is 0.5 in the tests
        sync_once(ctx, account_id)


def assert_one_invoice_each_for_what_was_paid(box, orders: list[Order]) -> None:
    assert orders
    assert len(box.invoices()) == len(orders)
    for order in orders:
        [remote] = box.invoices_for_marker(order.invoice.marker)
        assert Decimal(str(remote["total"])) == order.invoice.total
        tolerance = Decimal("0.01") * (len(order.lines) + 1)  # each line's tax is rounded to the cent
        assert abs(order.invoice.total - buyer_paid(order.channel_connection.kind, order.raw)) <= tolerance, \
            (order.channel_connection.kind, order.external_id)


@pytest.mark.parametrize(("erp", "database_url"), each_on_one_database(ERPS), indirect=["database_url"])
def test_every_channel_invoices_into_the_erp_once_for_what_the_buyer_paid(ctx, sandbox, erp):
    seller = connect_channels_seller(ctx, sandbox, ("mercadolibre", "shopify", "woocommerce"), erp=erp)
    summary = sync_once(ctx, seller.account_id)
    assert summary.pulled == 120 and not any(p.error for p in summary.pulls)
    box = sandbox.erp(erp)
    invoiced = invoiced_orders(ctx, seller.account_id)
    assert_one_invoice_each_for_what_was_paid(box, invoiced)
    states = Counter(o.state for o in services.list_orders(ctx, seller.account_id, limit=1000))
    assert states[OrderState.ERROR] > 0  # the SKUs nobody entered in the ERP wait, with a reason

    before = len(box.invoices())
    sync_once(ctx, seller.account_id)
    assert len(box.invoices()) == before
    markers = Counter(inv["observations"] for inv in box.invoices())
    assert max(markers.values()) == 1


@pytest.mark.parametrize(("erp", "database_url"), each_on_one_database(ERPS), indirect=["database_url"])
def test_an_invoice_whose_answer_was_lost_is_found_not_sent_twice(ctx, sandbox, erp):
    box = sandbox.erp(erp)
    box.knobs.update({"reset_after_commit_rate": 0.35, "seed": 11})  # committed, then the connection dies
    seller = connect_channels_seller(ctx, sandbox, ("mercadolibre",), erp=erp)
    for _ in range(4):  # the sync, then the retries the scheduler would run
        sync_once(ctx, seller.account_id)
        services.invoice_orders(ctx, [o.id for o in services.error_queue(ctx, seller.account_id)],
                                account_ref=seller.account_id, actor="test")
    box.knobs.update({"reset_after_commit_rate": 0.0})
    settle_retries(ctx, seller.account_id)
    assert box.knobs.injected["reset_after_commit_rate"] > 0
    invoiced = invoiced_orders(ctx, seller.account_id)
    assert_one_invoice_each_for_what_was_paid(box, invoiced)
    assert any(o.invoice.recovered for o in invoiced)  # found by its marker after the lost answer
