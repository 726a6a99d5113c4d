"""``connector reconcile``: the ERP's invoices against our records, with a safe repair."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select

from connector.models import Invoice, Order
from connector.reconcile import reconcile_invoices
from connector.states import OrderState
from connector.sync import sync_once

pytestmark = pytest.mark.e2e


def today():
    return datetime.now(ZoneInfo("America/Bogota")).date()  # the sandbox account is Colombian


def test_a_clean_run_matches_every_invoice(ctx, sandbox, seller):
    sync_once(ctx, seller)
    report = reconcile_invoices(ctx, seller, today(), today())
    assert report.clean and report.matched == report.erp_invoices == len(sandbox.alegra_state.invoices) > 0


def test_invoice_lost_between_the_erps_commit_and_ours_is_reported_then_repaired(ctx, sandbox, seller):
    sync_once(ctx, seller)
    with ctx.db.transaction() as session:  # as if we crashed after Alegra committed
        lost = session.scalars(select(Invoice)).first()
        order = session.get(Order, lost.order_id)
        order.state, order.claim_token = OrderState.READY.value, None
        session.execute(delete(Invoice).where(Invoice.id == lost.id))
    report = reconcile_invoices(ctx, seller, today(), today())
    [finding] = report.findings
    assert (finding.kind, finding.order_id, finding.repaired) == ("missing_here", order.id, False)

    repaired = reconcile_invoices(ctx, seller, today(), today(), repair=True)
    assert [f.repaired for f in repaired.findings] == [True]
    with ctx.db.session() as session:
        assert session.get(Order, order.id).state == OrderState.INVOICED
        assert session.scalar(select(Invoice).where(Invoice.order_id == order.id)).recovered
    assert reconcile_invoices(ctx, seller, today(), today()).clean
    assert sum(1 for _ in sandbox.alegra_state.invoices) == report.erp_invoices  # nothing was re-sent


def test_duplicates_and_invoices_gone_from_the_erp_are_reported(ctx, sandbox, seller):
    sync_once(ctx, seller)
    with sandbox.alegra_state.lock:
        first, second = sandbox.alegra_state.invoices[0], sandbox.alegra_state.invoices[1]
        copy = dict(first, id=99999)
        sandbox.alegra_state.invoices.append(copy)  # a second invoice with the same marker
        sandbox.alegra_state.invoices.remove(second)  # voided and deleted in Alegra
    report = reconcile_invoices(ctx, seller, today(), today())
    kinds = {f.kind for f in report.findings}
    assert kinds == {"duplicated_in_erp", "missing_in_erp"} and not report.clean
    duplicated = next(f for f in report.findings if f.kind == "duplicated_in_erp")
    assert "99999" in duplicated.erp_ids
