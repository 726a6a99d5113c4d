"""The order page's money explanation: each line, shipping, fee and credit → what the invoice made of it,
and the entries' left-out amounts add up to paid − invoiced, to the cent (orders whose money does not
add up included)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from channels.woocommerce.parser import parse_order
from connector.canonical import Adjustment, AdjustmentTreatment, Order, OrderLine, OrderStatus, PulledOrder
from connector.invoice_builder import build_invoice
from connector.money_explained import MoneyExplanation, explain_invoice
from connector.rules import InvoicingSettings
from mapping.resolver import LineMatch
from tests.channels.conftest import fixture
from tests.connector.test_money_invariant import PROFILE, TAX_RATES, alegra_total

FEES = fixture("woocommerce", "order-completed-with-fees-nit-buyer.json")
SHIPPING = LineMatch("900", "Envío", "shipping", ("1",), Decimal("19"))


def explained(order: Order, matches: list[LineMatch], **rules) -> tuple[MoneyExplanation, Decimal]:
    settings = InvoicingSettings(shipping_item_id="900", **rules)
    draft = build_invoice(order, matches, settings, contact_id="7", marker="[CX-1-1]", shipping=SHIPPING,
                          profile=PROFILE)
    return explain_invoice(order, draft, matches, SHIPPING, invoice_shipping=settings.invoice_shipping), \
        alegra_total(draft)


def cash_on_delivery_order() -> Order:
    """The issue's example: the buyer paid 238.000; a 3.000 cash-on-delivery fee has no ERP product and a
    −2.000 fee is a discount. Products 225.000 (tax included), shipping 12.000."""
    document = copy.deepcopy(FEES["order"] if "order" in FEES else FEES)
    document.update(
        total="238000.00",
        line_items=[{"id": 1, "name": "Morral", "sku": "MOR-1", "product_id": 9, "variation_id": 0, "quantity": 1,
                     "subtotal": "189075.63", "subtotal_tax": "35924.37", "total": "189075.63",
                     "total_tax": "35924.37", "meta_data": []}],
        shipping_lines=[{"id": 5, "total": "12000.00", "total_tax": "0.00"}],
        fee_lines=[{"name": "Pago contra entrega", "total": "3000.00", "total_tax": "0.00"},
                   {"name": "Descuento pago en efectivo", "total": "-2000.00", "total_tax": "0.00"}])
    return parse_order(PulledOrder(external_id="1", raw={"order": document}))


def test_a_left_out_fee_and_a_credit_turned_discount_explain_paid_minus_invoiced_to_the_peso():
    order = cash_on_delivery_order()
    explanation, erp_total = explained(order, [LineMatch("55", "Morral", "reference", ("1",), Decimal("19"))])
    assert explanation.paid == Decimal("238000.00")
    assert explanation.invoiced == erp_total == Decimal("235000.00")
    assert explanation.difference == Decimal("3000.00") == explanation.left_out_total
    by_why = {entry.why: entry for entry in explanation.entries}
    fee, credit = by_why["fee_left_out"], by_why["credit_spread"]
    assert (fee.label, fee.shown_amount, fee.left_out) == ("Pago contra entrega", Decimal("3000.00"), Decimal("3000.00"))
    assert (credit.label, credit.shown_amount, credit.left_out) == ("Descuento pago en efectivo",
                                                                    Decimal("-2000.00"), 0)
    line = by_why["line_invoiced"]
    assert line.paid == Decimal("223000.00") and line.invoiced == Decimal("223000.00")  # 225.000 − the 2.000
    assert line.became.item_id == "55" and line.became.tax_rate == 19 and line.became.discount_percent > 0
    assert by_why["shipping_invoiced"].invoiced == Decimal("12000.00")


def test_shipping_off_is_left_out_with_its_reason():
    order = cash_on_delivery_order()
    explanation, erp_total = explained(order, [LineMatch("55", "Morral", "reference", ("1",), Decimal("19"))],
                                       invoice_shipping=False)
    shipping = next(e for e in explanation.entries if e.source == "shipping")
    assert shipping.why == "shipping_not_invoiced" and shipping.left_out == Decimal("12000.00")
    assert explanation.invoiced == erp_total == Decimal("223000.00")
    assert explanation.left_out_total == explanation.difference == Decimal("15000.00")


def test_a_channel_total_with_money_it_does_not_itemise_gets_its_own_entry():
    now = datetime(2026, 11, 20, tzinfo=UTC)
    order = Order(channel="x", external_id="9", status=OrderStatus.COMPLETED, raw_status="paid", created_at=now,
                  updated_at=now, lines=[OrderLine(line_id="1", title="Taza", quantity=Decimal(2),
                                                   unit_price=Decimal("10000"))],
                  total_paid=Decimal("20500"))
    explanation, _ = explained(order, [LineMatch("1", "Taza", "barcode", ("3",), Decimal("0"))])
    assert [e.why for e in explanation.entries] == ["line_invoiced", "not_detailed"]
    assert explanation.entries[-1].left_out == Decimal("500")
    assert explanation.left_out_total == explanation.difference == Decimal("500")


def test_the_erp_rounding_of_the_total_is_an_entry():
    now = datetime(2026, 11, 20, tzinfo=UTC)
    lines = [OrderLine(line_id=str(i), title=f"P{i}", quantity=Decimal(3), unit_price=Decimal("33.335"))
             for i in range(3)]
    order = Order(channel="x", external_id="9", status=OrderStatus.COMPLETED, raw_status="paid", created_at=now,
                  updated_at=now, lines=lines, currency="USD")
    explanation, erp_total = explained(order, [LineMatch(str(i), "P", "barcode", ("1",), Decimal("19"))
                                               for i in range(3)])
    assert explanation.invoiced == erp_total
    assert explanation.left_out_total == explanation.difference


def test_stored_and_read_back_it_is_the_same_explanation():
    order = cash_on_delivery_order()
    explanation, _ = explained(order, [LineMatch("55", "Morral", "reference", ("1",), Decimal("19"))])
    import json
    assert MoneyExplanation.from_json(json.loads(json.dumps(explanation.to_json()))) == explanation


amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999999.99"), places=2)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(amounts, st.integers(1, 50), st.sampled_from(sorted(TAX_RATES))), min_size=1, max_size=5),
       st.sampled_from([Decimal(0), Decimal("7900")]), st.lists(amounts, max_size=3),
       st.one_of(st.none(), amounts), st.booleans(), st.booleans())
def test_left_out_always_adds_up_to_paid_minus_invoiced(raw_lines, shipping, fees, total, invoice_shipping,
                                                        apply_taxes):
    now = datetime(2026, 11, 20, tzinfo=UTC)
    lines = [OrderLine(line_id=str(i), title=f"P{i}", quantity=Decimal(q), unit_price=price)
             for i, (price, q, _) in enumerate(raw_lines)]
    order = Order(channel="x", external_id="9", status=OrderStatus.COMPLETED, raw_status="paid", created_at=now,
                  updated_at=now, lines=lines, shipping_cost=shipping, total_paid=total,
                  adjustments=[Adjustment(label="Cargo", amount=fee, treatment=AdjustmentTreatment.LEFT_OUT)
                               for fee in fees])
    matches = [LineMatch(str(i), "P", "barcode", (tax,), TAX_RATES[tax]) for i, (_, _, tax) in enumerate(raw_lines)]
    explanation, erp_total = explained(order, matches, invoice_shipping=invoice_shipping, apply_taxes=apply_taxes)
    assert explanation.invoiced == erp_total  # the ERP's own arithmetic, computed independently
    assert explanation.left_out_total == explanation.difference
    if total is None:
        assert explanation.paid == sum((ln.amount_paid for ln in lines), Decimal(0)) + shipping + sum(fees, Decimal(0))
