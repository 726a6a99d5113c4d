"""The credit-note money invariant, over many generated orders and refunds: a note's total, as the ERP
computes it, equals what was refunded of what the invoice holds; the notes of one invoice never add
up to more than the invoice."""

from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.canonical import Order, OrderLine, OrderStatus
from connector.invoice_builder import build_invoice
from connector.money import round_money
from connector.refunds import build_credit_note
from connector.rules import InvoicingSettings
from erp.registry import erp_class
from mapping.resolver import LineMatch
from tests.connector.test_money_invariant import TAX_RATES, alegra_total

PROFILE = erp_class("alegra").fiscal_profile("CO")  # the country these amounts are in

prices = st.decimals(min_value=Decimal("100"), max_value=Decimal("2000000"), places=0)
lines = st.lists(st.tuples(prices, st.integers(1, 20), st.sampled_from(sorted(TAX_RATES))), min_size=1, max_size=4)


@st.composite
def refunds(draw, order_lines):
    """A refund as a channel reports it: some units of some lines (+ shipping), the whole order, or an amount."""
    kind = draw(st.sampled_from(["lines", "full", "amount"]))
    if kind == "full":
        return SimpleNamespace(lines=[], full=True, amount=Decimal("0"), shipping=Decimal("0"), external_id="r")
    if kind == "amount":
        return SimpleNamespace(lines=[], full=False, shipping=Decimal("0"), external_id="r",
                               amount=draw(st.decimals(min_value=Decimal("1"), max_value=Decimal("500000"), places=2)))
    picked = []
    for line in order_lines:
        if draw(st.booleans()):
            units = draw(st.integers(1, int(line.quantity)))
            picked.append({"line_id": line.line_id, "quantity": str(units), "amount": str(line.unit_price * units)})
    if not picked:
        line = order_lines[0]
        picked = [{"line_id": line.line_id, "quantity": "1", "amount": str(line.unit_price)}]
    return SimpleNamespace(lines=picked, full=False, amount=sum(Decimal(p["amount"]) for p in picked),
                           shipping=Decimal("0"), external_id="r")


class InvoiceRow(SimpleNamespace):
    """What build_credit_note reads of the invoice: its total and the notes already made."""


@settings(max_examples=300, deadline=None)
@given(lines, st.booleans(), st.data())
def test_notes_credit_what_was_refunded_and_never_more_than_the_invoice(raw_lines, apply_taxes, data):
    order_lines, matches = [], []
    for i, (price, quantity, tax_id) in enumerate(raw_lines):
        order_lines.append(OrderLine(line_id=str(i), sku=f"SKU{i}", title=f"Producto {i}",
                                     quantity=Decimal(quantity), unit_price=price))
        matches.append(LineMatch(str(100 + i), f"Producto {i}", "barcode", (tax_id,), TAX_RATES[tax_id]))
    now = datetime(2026, 11, 20, tzinfo=UTC)
    order = Order(channel="shopify", external_id="1", status=OrderStatus.COMPLETED, raw_status="paid",
                  created_at=now, updated_at=now, lines=order_lines)
    rules = InvoicingSettings(apply_taxes=apply_taxes)
    invoice_draft = build_invoice(order, matches, rules, contact_id="7", marker="m", shipping=None, profile=PROFILE)
    invoice = InvoiceRow(total=alegra_total(invoice_draft), erp_id="55", writes=[])
    credited = Decimal("0")
    for n in range(data.draw(st.integers(1, 3))):
        refund = data.draw(refunds(order_lines))
        note = build_credit_note(canonical=order, refund=refund, invoice=invoice, matches=matches, shipping=None,
                                 settings=rules, contact_id="7", marker=f"[NC-1-1-{n}]", note_type="T",
                                 issue_date=date(2026, 11, 21), stamp=False)
        left = invoice.total - credited
        if note is None:
            assert left <= 0 or (refund.amount <= 0 and not refund.full and not refund.lines)
            continue
        total = alegra_total(note)  # what the ERP computes for the note's lines
        assert abs(total - note.amount) <= Decimal("0.01")
        wanted = invoice.total if refund.full else round_money(refund.amount, "COP")
        assert abs(total - min(wanted, left)) <= Decimal("0.01") * (len(note.lines) + 1), (total, wanted, left)
        credited += total
        assert credited <= invoice.total + Decimal("0.01")
        invoice.writes.append(SimpleNamespace(kind="credit_note", state="done", id=n, result={"total": str(total)}))
