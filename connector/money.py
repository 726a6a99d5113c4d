"""Money: marketplaces show tax-included prices, Alegra wants prices before tax.

With taxes on, each unit price is divided by (1 + rate) and sent with 6 decimals, so the ERP's
own arithmetic (price × quantity × (1 + rate), rounded to cents) lands on what the buyer paid.
Line discounts become a percentage of the line, as the ERP expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

UNIT_PRICE_PLACES = Decimal("0.000001")
PERCENT_PLACES = Decimal("0.000001")
CENT = Decimal("0.01")
TOLERANCE = Decimal("0.001")  # a line total this close to what the buyer paid is exact enough

# Minor unit each currency is rounded to on an invoice (Alegra keeps two decimals even for COP).
CURRENCY_ROUNDING = {"COP": CENT, "MXN": CENT, "ARS": CENT, "CLP": Decimal("1"), "PEN": CENT, "USD": CENT}


def currency_rounding(currency: str | None) -> Decimal:
    return CURRENCY_ROUNDING.get((currency or "").upper(), CENT)


@dataclass(frozen=True)
class PricedLine:
    unit_price: Decimal  # what to send to the ERP
    discount_percent: Decimal
    tax_ids: tuple[str, ...]


def price_line(*, unit_price: Decimal, quantity: Decimal, discount: Decimal, prices_include_tax: bool,
               apply_taxes: bool, tax_ids: tuple[str, ...], tax_rate: Decimal) -> PricedLine:
    """The ERP line for a marketplace line, so the ERP total equals what the buyer paid for it.

    ``discount`` is an amount off the whole line in the channel's tax convention.
    """
    gross = unit_price * quantity
    percent = Decimal("0")
    if discount and gross > 0:
        percent = min(Decimal("100"), (discount / gross * 100)).quantize(PERCENT_PLACES, ROUND_HALF_UP)
    taxed = apply_taxes and bool(tax_ids)
    # No tax on the invoice: the buyer's price is the ERP price, whatever its convention.
    divisor = (1 + tax_rate / 100) if taxed and prices_include_tax else Decimal(1)
    net = (unit_price / divisor).quantize(UNIT_PRICE_PLACES, ROUND_HALF_UP)
    if percent:
        # A discount rarely fits a 6-decimal percentage exactly; on a large line the rest is worth cents
        # (2 000 000 × 0.0000005 % = 0.01), and a few lines break the total. The unit price then takes up
        # the rest (a few millionths), so the ERP's line total lands on what the buyer paid for the line.
        target = (gross - discount) / divisor
        if abs(erp_line_total(net, quantity, percent, Decimal(0)) - target) > TOLERANCE:
            net = (target / (quantity * (1 - percent / 100))).quantize(UNIT_PRICE_PLACES, ROUND_HALF_UP) \
                if percent < 100 else net
    return PricedLine(net, percent, tax_ids if taxed else ())


def erp_line_total(unit_price: Decimal, quantity: Decimal, discount_percent: Decimal, tax_rate: Decimal) -> Decimal:
    """The ERP's arithmetic for one line (before the invoice-level rounding)."""
    subtotal = unit_price * quantity
    subtotal -= subtotal * discount_percent / 100
    return subtotal * (1 + tax_rate / 100)


def round_money(amount: Decimal, currency: str | None) -> Decimal:
    return amount.quantize(currency_rounding(currency), ROUND_HALF_UP)
