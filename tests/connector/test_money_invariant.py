"""Invariant 3: with taxes on, the invoice total the ERP computes equals what the buyer paid for the
invoiced lines (+ shipping), within the currency's rounding — over many generated orders."""

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from connector.canonical import Order, OrderLine, OrderStatus
from connector.invoice_builder import build_contact, build_invoice, paid_for_invoiced_lines
from connector.rules import InvoicingSettings
from erp.registry import erp_class
from mapping.resolver import LineMatch

PROFILE = erp_class("alegra").fiscal_profile("CO")  # the country these amounts are in

TAX_RATES = {"1": Decimal("19"), "2": Decimal("5"), "3": Decimal("0"), "4": Decimal("8")}


def alegra_total(draft) -> Decimal:
    """Alegra's arithmetic, written independently of connector.money: per line price × quantity,
    minus the discount percentage, plus each tax's percentage; the invoice rounded to cents."""
    total = Decimal("0")
    for line in draft.lines:
        subtotal = line.unit_price * line.quantity
        subtotal -= subtotal * line.discount_percent / Decimal(100)
        rate = sum((TAX_RATES[t] for t in line.tax_ids), Decimal("0"))
        total += subtotal + subtotal * rate / Decimal(100)
    return total.quantize(Decimal("0.01"), ROUND_HALF_UP)


prices = st.decimals(min_value=Decimal("100"), max_value=Decimal("9999999"), places=0)
cents = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2)
lines = st.lists(
    st.tuples(st.one_of(prices, cents), st.integers(1, 1000), st.sampled_from(sorted(TAX_RATES)),
              st.sampled_from([Decimal(0), Decimal(0), Decimal("0.1"), Decimal("0.35")])),
    min_size=1, max_size=6)


def _order(raw_lines, shipping: Decimal) -> tuple[Order, list[LineMatch]]:
    order_lines, matches = [], []
    for i, (price, quantity, tax_id, discount_share) in enumerate(raw_lines):
        discount = (price * quantity * discount_share).quantize(Decimal("0.01"))
        order_lines.append(OrderLine(line_id=str(i), sku=f"SKU{i}", title=f"Producto {i}",
                                     quantity=Decimal(quantity), unit_price=price, discount=discount))
        matches.append(LineMatch(str(100 + i), f"Producto {i}", "barcode", (tax_id,), TAX_RATES[tax_id]))
    now = datetime(2026, 11, 20, tzinfo=UTC)
    order = Order(channel="mercadolibre", external_id="1", status=OrderStatus.COMPLETED, raw_status="paid",
                  created_at=now, updated_at=now, lines=order_lines, shipping_cost=shipping)
    return order, matches


@settings(max_examples=400, deadline=None)
@example(raw_lines=[(Decimal("5624.35"), 357, "1", Decimal("0.1"))] * 3, shipping=Decimal(0), apply_taxes=False)
@given(lines, st.sampled_from([Decimal(0), Decimal("7900"), Decimal("12500.50")]), st.booleans())
def test_invoice_total_equals_what_the_buyer_paid(raw_lines, shipping, apply_taxes):
    order, matches = _order(raw_lines, shipping)
    rules = InvoicingSettings(apply_taxes=apply_taxes, shipping_item_id="900", invoice_shipping=True)
    shipping_match = LineMatch("900", "Envío", "shipping", ("1",), TAX_RATES["1"])
    draft = build_invoice(order, matches, rules, contact_id="7", marker="CX-1-1", shipping=shipping_match,
                          profile=PROFILE)
    paid = paid_for_invoiced_lines(order, rules)
    assert abs(alegra_total(draft) - paid) <= Decimal("0.01"), (alegra_total(draft), paid)
    for sent, line, match in zip(draft.lines, order.lines, matches, strict=False):
        if apply_taxes and match.tax_rate > 0:
            assert sent.tax_ids == match.tax_ids and sent.unit_price < line.unit_price
        elif not line.discount:
            assert sent.unit_price == line.unit_price
        else:  # a discount that a 6-decimal percentage cannot carry moves the price by millionths at most
            assert abs(sent.unit_price - line.unit_price) < Decimal("0.001")


def test_prices_before_tax_are_sent_with_taxes_on():
    order, matches = _order([(Decimal("59381"), 1, "1", Decimal(0))], Decimal(0))
    draft = build_invoice(order, matches, InvoicingSettings(apply_taxes=True), contact_id="7", marker="m",
                          shipping=None, profile=PROFILE)
    assert draft.lines[0].unit_price == Decimal("49900.000000")
    assert draft.lines[0].tax_ids == ("1",)


def test_taxes_off_sends_the_price_the_buyer_saw_without_tax():
    order, matches = _order([(Decimal("59381"), 2, "1", Decimal(0))], Decimal(0))
    draft = build_invoice(order, matches, InvoicingSettings(apply_taxes=False), contact_id="7", marker="m",
                          shipping=None, profile=PROFILE)
    assert draft.lines[0].unit_price == Decimal("59381")
    assert draft.lines[0].tax_ids == ()


def test_shipping_not_invoiced_when_the_rule_says_so():
    order, matches = _order([(Decimal("10000"), 1, "1", Decimal(0))], Decimal("9900"))
    rules = InvoicingSettings(invoice_shipping=False)
    draft = build_invoice(order, matches, rules, contact_id="7", marker="m", shipping=None, profile=PROFILE)
    assert len(draft.lines) == 1
    assert paid_for_invoiced_lines(order, rules) == Decimal("10000")


def test_final_consumer_when_the_buyer_has_no_document_and_no_fallback():
    order, _ = _order([(Decimal("10000"), 1, "1", Decimal(0))], Decimal(0))
    contact = build_contact(order, InvoicingSettings(default_email="f@t.co"), PROFILE)
    assert contact.identification_number == "222222222222"
    assert contact.name == "Consumidor final"
    assert contact.email == "f@t.co"


def test_fallback_document_phone_and_email():
    order, _ = _order([(Decimal("10000"), 1, "1", Decimal(0))], Decimal(0))
    rules = InvoicingSettings(default_document="1017000111", default_phone="6045550000", default_email="x@y.co",
                              identification_type="CC", regime="COMMON_REGIME")
    contact = build_contact(order, rules, PROFILE)
    assert (contact.identification_number, contact.phone, contact.email, contact.regime) == (
        "1017000111", "6045550000", "x@y.co", "COMMON_REGIME")
