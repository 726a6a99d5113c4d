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


def test_an_invoice_recorded_meanwhile_by_a_repair_is_told_apart_at_the_commit(ctx, sandbox, monkeypatch, caplog):
    """The invoicing path flushes the invoice once, at its commit (no savepoint): when the same invoice
    was recorded meanwhile without the order being taken over (a repair), that commit clashes on the
    invoice — and the order is still invoiced, with the one row that exists, not parked as crashed."""
    from erp.alegra.adapter import AlegraAdapter

    account_id = connect_seller(ctx, sandbox)
    original, raced = AlegraAdapter.create_invoice, []

    def create_then_race(self, draft):
        result = original(self, draft)
        if not raced:
            with ctx.db.transaction() as other:
                order_id = other.scalar(select(Order.id).where(Order.state == OrderState.INVOICING.value))
                erp_connection_id = other.scalar(select(Order.account_id).where(Order.id == order_id))
                from connector.models import ERPConnection

                erp_id = other.scalar(select(ERPConnection.id).where(ERPConnection.account_id == erp_connection_id))
                other.add(Invoice(order_id=order_id, erp_connection_id=erp_id, erp_id=result.erp_id,
                                  number=result.number, status=result.status, total=result.total,
                                  marker=draft.marker, recovered=True))
            raced.append(order_id)
        return result

    monkeypatch.setattr(AlegraAdapter, "create_invoice", create_then_race)
    sync_once(ctx, account_id)
    assert raced
    with ctx.db.session() as session:
        order = session.get(Order, raced[0])
        rows = list(session.scalars(select(Invoice).where(Invoice.order_id == order.id)))
    assert order.state == OrderState.INVOICED.value and order.claim_token is None
    assert len(rows) == 1 and rows[0].recovered  # the repair's row, kept
    assert "invoice already recorded" in caplog.text
