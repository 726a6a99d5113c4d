"""Refunds and cancellations become credit notes, exactly once, end to end through the sandboxes:
automatic or after approval, never more than the invoice, none for an order never invoiced — judged
from the Alegra sandbox's own records."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from connector import services
from connector.cli import main as cli_main
from connector.errors import ConfigurationError
from connector.states import OrderState
from connector.sync import sync_once
from sandbox import server as sandbox_server
from sandbox.knobs import Knobs
from tests.conftest import make_settings
from tests.e2e.conftest import connect_channels_seller, follow_until_quiet

pytestmark = pytest.mark.e2e
S = OrderState


@pytest.fixture
def settings(tmp_path, database_url):
    return make_settings(tmp_path, database_url, legal_status_check_seconds=0.1)


@pytest.fixture
def box():
    box = sandbox_server.Sandbox(order_count=16, seed=21, alegra_knobs=Knobs(
        rate_limit_per_minute=0, stamp_answer_delay=0.1)).start()
    yield box
    box.stop()




def _invoiced(ctx, account_id: int, connection_id: int):
    return [o for o in services.list_orders(ctx, account_id, channel_connection_id=connection_id, limit=1000)
            if o.state == S.INVOICED and o.invoice is not None]


def _notes(box, order) -> list[dict]:
    return box.alegra_state.records()["credit_notes"].get(order.invoice.erp_id, [])


def test_refunds_become_credit_notes_once_automatic_or_after_approval(ctx, box, capsys, cli_env):
    seller = connect_channels_seller(ctx, box, ("shopify", "woocommerce"))
    shopify, woo = seller.connections["shopify"], seller.connections["woocommerce"]
    services.update_settings(ctx, seller.account_id, ["credit_notes=automatic"], channel_ref=shopify)
    sync_once(ctx, seller.account_id)
    follow_until_quiet(ctx, seller.account_id)
    partial_order = _invoiced(ctx, seller.account_id, shopify)[0]
    cancelled_order = _invoiced(ctx, seller.account_id, woo)[0]
    never_invoiced = next(o for o in services.list_orders(ctx, seller.account_id, channel_connection_id=woo, limit=1000)
                          if o.state == S.ERROR)

    partial = box.shopify_state.refund(int(partial_order.external_id), lines={0: 1}, reason="Talla equivocada")
    cancel = box.woo_state.refund(int(cancelled_order.external_id), full=True, reason="Cancelada por el comprador")
    box.woo_state.refund(int(never_invoiced.external_id), full=True)
    for _ in range(2):  # the second pull (and the webhooks the sandbox sends) bring nothing new
        sync_once(ctx, seller.account_id)
        follow_until_quiet(ctx, seller.account_id)

    # Automatic on Shopify: one note for what was refunded.
    notes = _notes(box, partial_order)
    assert len(notes) == 1 and abs(Decimal(notes[0]["total"]) - Decimal(partial["amount"])) <= Decimal("0.02")
    assert notes[0]["type"] == "PARTIALL_DEVOLUTION"
    # Approval on WooCommerce: nothing until a person approves.
    waiting = services.list_refunds(ctx, seller.account_id, states=["waiting_approval"])
    assert [r["external_id"] for r in waiting] == [cancelled_order.external_id]
    assert _notes(box, cancelled_order) == []
    assert services.count_refunds_waiting(ctx, seller.account_id) == 1
    services.decide_refunds(ctx, [waiting[0]["id"]], approve=True, account_ref=seller.account_id)
    with pytest.raises(ConfigurationError, match="ya no está por aprobar"):  # a second click creates nothing
        services.decide_refunds(ctx, [waiting[0]["id"]], approve=True, account_ref=seller.account_id)
    follow_until_quiet(ctx, seller.account_id)
    notes = _notes(box, cancelled_order)
    invoice_total = Decimal(str(services.get_order(ctx, cancelled_order.id, seller.account_id).invoice.total))
    assert len(notes) == 1 and notes[0]["type"] == "VOID_ELECTRONIC_INVOICE"
    assert abs(Decimal(notes[0]["total"]) - min(Decimal(cancel["amount"]), invoice_total)) <= Decimal("0.02")
    # The order that was never invoiced gets no note, and its refund says why.
    refunds = services.list_refunds(ctx, seller.account_id)
    assert next(r for r in refunds if r["order_id"] == never_invoiced.id)["state"] == "before_invoice"
    assert not any(n for n in box.alegra_state.records()["credit_notes"].values()
                   if any(never_invoiced.external_id in x["observations"] for x in n))

    # A second refund of the same order: a second note, the two never more than the invoice.
    box.shopify_state.refund(int(partial_order.external_id), full=True, reason="Devolución del resto")
    sync_once(ctx, seller.account_id)
    follow_until_quiet(ctx, seller.account_id)
    notes = _notes(box, partial_order)
    order = services.get_order(ctx, partial_order.id, seller.account_id)
    assert len(notes) == 2
    assert sum(Decimal(n["total"]) for n in notes) <= Decimal(str(order.invoice.total)) + Decimal("0.01")

    assert cli_main(["orders", "show", str(partial_order.id), "--json", "--account", str(seller.account_id)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [n["number"] for n in shown["credit_notes"]] == [n["number"] for n in notes]
    assert {"number", "type", "amount", "legal_status", "refund_id"} <= set(shown["credit_notes"][0])


def test_declined_and_off_refunds_write_nothing(ctx, box):
    seller = connect_channels_seller(ctx, box, ("shopify",))
    shopify = seller.connections["shopify"]
    sync_once(ctx, seller.account_id)
    follow_until_quiet(ctx, seller.account_id)
    first, second = _invoiced(ctx, seller.account_id, shopify)[:2]
    box.shopify_state.refund(int(first.external_id), full=True)
    sync_once(ctx, seller.account_id)
    [waiting] = services.list_refunds(ctx, seller.account_id, states=["waiting_approval"])
    services.decide_refunds(ctx, [waiting["id"]], approve=False, account_ref=seller.account_id)
    services.update_settings(ctx, seller.account_id, ["credit_notes=off"])
    box.shopify_state.refund(int(second.external_id), full=True)
    sync_once(ctx, seller.account_id)
    follow_until_quiet(ctx, seller.account_id)
    states = {r["order_id"]: r["state"] for r in services.list_refunds(ctx, seller.account_id)}
    assert (states[first.id], states[second.id]) == ("declined", "off")
    assert set(states.values()) <= {"declined", "off", "before_invoice"}  # the store's own cancelled sales
    assert box.alegra_state.records()["credit_notes"] == {}
    with pytest.raises(ConfigurationError, match="no está por aprobar"):
        services.decide_refunds(ctx, [waiting["id"]], approve=False, account_ref=seller.account_id)


def test_a_click_on_facturar_re_reads_the_order_and_does_not_invoice_a_cancelled_one(ctx, box):
    seller = connect_channels_seller(ctx, box, ("shopify",))
    sync_once(ctx, seller.account_id)
    held = next(o for o in services.list_orders(ctx, seller.account_id, limit=1000) if o.state == S.ERROR)
    box.shopify_state.refund(int(held.external_id), full=True, reason="Cancelada")
    order = services.invoice_orders(ctx, [held.id], account_ref=seller.account_id)[held.id]
    assert order.state != S.INVOICED and order.invoice is None


def test_a_refund_that_only_names_an_amount_is_credited_as_a_reduction_each_time_it_grows(ctx, box):
    """Mercado Libre's partial refunds name an amount on a payment (and grow it when refunded again):
    each growth is credited once, as a reduction, and the notes never pass the invoice."""
    seller = connect_channels_seller(ctx, box, ("mercadolibre",))
    services.update_settings(ctx, seller.account_id, ["credit_notes=automatic"])
    sync_once(ctx, seller.account_id)
    follow_until_quiet(ctx, seller.account_id)
    order = next(o for o in _invoiced(ctx, seller.account_id, seller.connections["mercadolibre"])
                 if len(o.lines) == 1 and o.lines[0].quantity > 1)
    first = box.ml_state.refund(int(order.external_id), lines={0: 1})
    for _ in range(2):
        sync_once(ctx, seller.account_id)
        follow_until_quiet(ctx, seller.account_id)
    box.ml_state.refund(int(order.external_id), full=True)
    for _ in range(2):
        sync_once(ctx, seller.account_id)
        follow_until_quiet(ctx, seller.account_id)
    notes = _notes(box, order)
    invoice = services.get_order(ctx, order.id, seller.account_id).invoice
    assert len(notes) == 2 and {n["type"] for n in notes} == {"REDUCTION_DISCOUNT_PARTIAL_TOTAL"}
    assert abs(Decimal(notes[0]["total"]) - Decimal(first["amount"])) <= Decimal("0.02")
    assert abs(sum(Decimal(n["total"]) for n in notes) - Decimal(str(invoice.total))) <= Decimal("0.02")


def test_reconcile_compares_credit_notes_and_repairs_one_recorded_only_in_the_erp(ctx, box):
    from datetime import date

    from sqlalchemy import update

    from connector.models import RemoteWrite
    from connector.reconcile import reconcile_invoices

    seller = connect_channels_seller(ctx, box, ("shopify",))
    services.update_settings(ctx, seller.account_id, ["credit_notes=automatic"])
    sync_once(ctx, seller.account_id)
    follow_until_quiet(ctx, seller.account_id)
    order = _invoiced(ctx, seller.account_id, seller.connections["shopify"])[0]
    box.shopify_state.refund(int(order.external_id), full=True)
    sync_once(ctx, seller.account_id)
    follow_until_quiet(ctx, seller.account_id)
    today, days = date.today(), [date.fromisoformat(i["date"]) for i in box.alegra_state.invoices]
    start, end = min(days + [today]), max(days + [today])
    report = reconcile_invoices(ctx, seller.account_id, start, end)
    assert report.clean and report.erp_credit_notes == report.matched_credit_notes == 1
    with ctx.db.transaction() as session:  # what a worker killed after the ERP's commit leaves behind
        session.execute(update(RemoteWrite).where(RemoteWrite.kind == "credit_note").values(state="sending"))
    report = reconcile_invoices(ctx, seller.account_id, start, end)
    assert [f.kind for f in report.findings] == ["credit_note_missing_here"] and not report.clean
    report = reconcile_invoices(ctx, seller.account_id, start, end, repair=True)
    assert report.findings[0].repaired
    assert reconcile_invoices(ctx, seller.account_id, start, end).clean
    assert len(_notes(box, order)) == 1
