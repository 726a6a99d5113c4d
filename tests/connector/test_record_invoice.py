"""Recording an invoice the ERP created: only a second record of the same invoice (another process got
there first) passes for "already recorded"; any other clash fails the transaction, and the order is
settled from the ERP's records later — never called invoiced with no invoice behind it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connector import invoicing
from connector.models import Invoice, Order
from connector.states import OrderState
from connector.sync import sync_once
from tests.conftest import connect_seller


def test_a_clash_other_than_the_invoice_itself_does_not_pass_for_already_recorded(ctx, sandbox, monkeypatch):
    account_id = connect_seller(ctx, sandbox)
    original, clashes = invoicing.plan_after_invoice, []

    def clash_once(*args, **kwargs):
        if not clashes:  # e.g. a follow-up write's unique key: not the invoice's
            clashes.append(1)
            raise IntegrityError("INSERT INTO remote_writes ...", {}, Exception("uq_remote_write"))
        return original(*args, **kwargs)

    monkeypatch.setattr(invoicing, "plan_after_invoice", clash_once)
    sync_once(ctx, account_id)
    assert clashes
    with ctx.db.session() as session:
        invoiced = list(session.scalars(select(Order).where(Order.account_id == account_id,
                                                            Order.state == OrderState.INVOICED.value)))
        recorded = set(session.scalars(select(Invoice.order_id)))
    assert invoiced and all(order.id in recorded for order in invoiced)
