"""Where each peso of an order went: from what the buyer paid to what the invoice says.

A seller who sees "paid 238.000, invoiced 235.000" needs the list that closes the gap: each product
line, the shipping, each order-level fee or credit the channel reported, what invoice line each became
(or that it was left out, and why) and the ERP's rounding. :func:`explain_invoice` builds that list
from the very inputs of the invoice (the canonical order, the draft, the matched items' tax rates and
the settings), with the ERP's arithmetic (:func:`connector.money.erp_line_total`, one rounding on the
invoice's total).

Invariant (tests hold it): the entries' ``left_out`` add up to ``paid − invoiced`` exactly.

Entries carry codes (``why``) and plain values, not sentences: each reader sees them in their own
language (the panel turns the codes into text, :data:`WHY_TEXT`), and an explanation stored today
still reads right after a wording change. The explanation of an invoice is stored with its attempt
(``invoice_attempts.explanation``) because it must describe the invoice that was sent: recomputing it
later would use today's settings and catalog tax rates, which may have changed since.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from connector.canonical import AdjustmentTreatment, Order
from connector.money import erp_line_total, round_money
from connector.reasons import N_
from erp.base import InvoiceDraft
from mapping.resolver import LineMatch

ZERO = Decimal("0")

# Why an entry ended as it did. The texts are Spanish msgids for the panel's ``_()``.
WHY_TEXT = {
    "line_invoiced": N_("Facturada con su producto del ERP, precio antes de impuestos y descuento."),
    "shipping_invoiced": N_("Facturado con el producto de envío configurado."),
    "shipping_not_invoiced": N_("No se factura: «Facturar el costo de envío» está apagado."),
    "fee_left_out": N_("Cargo del pedido que no es un producto del ERP: no se factura."),
    "credit_spread": N_("Crédito del pedido: se repartió como descuento en las líneas (ya incluido en ellas)."),
    "not_detailed": N_("El total del canal incluye este valor sin decir de qué es; no se factura."),
    "rounding": N_("Redondeo del total de la factura a la moneda, como lo hace el ERP."),
}

SOURCE_TEXT = {"line": N_("Producto"), "shipping": "Envío", "adjustment": N_("Cargo o crédito"), "total": N_("Total del canal"),
               "rounding": N_("Redondeo")}


@dataclass(frozen=True)
class InvoiceLineShown:
    """The invoice line an entry became, as the ERP receives it."""

    item_id: str
    quantity: Decimal
    unit_price: Decimal  # before tax
    discount_percent: Decimal
    tax_rate: Decimal  # 0 when the line carries no tax


@dataclass(frozen=True)
class MoneyEntry:
    """One source of money and what became of it. ``paid`` is what the buyer paid for it (counted in
    the order's total), ``invoiced`` what the invoice carries for it, ``left_out`` the rest.
    ``shown_amount`` is the amount as the channel showed it (a credit spread over the lines is shown,
    though its money is already inside the lines' ``paid``)."""

    source: str  # line | shipping | adjustment | total | rounding
    label: str
    shown_amount: Decimal
    paid: Decimal
    invoiced: Decimal
    why: str
    became: InvoiceLineShown | None = None

    @property
    def left_out(self) -> Decimal:
        return self.paid - self.invoiced


@dataclass(frozen=True)
class MoneyExplanation:
    currency: str
    paid: Decimal  # what the buyer paid (the channel's total when it gives one)
    invoiced: Decimal  # the invoice's total, by the ERP's arithmetic
    entries: tuple[MoneyEntry, ...] = field(default_factory=tuple)

    @property
    def difference(self) -> Decimal:
        return self.paid - self.invoiced

    @property
    def left_out_total(self) -> Decimal:
        return sum((entry.left_out for entry in self.entries), ZERO)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (amounts as strings, so no float ever touches money)."""

        def plain(value: Any) -> Any:
            if isinstance(value, Decimal):
                return str(value)
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value

        return {"currency": self.currency, "paid": str(self.paid), "invoiced": str(self.invoiced),
                "entries": [plain(asdict(entry)) for entry in self.entries]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MoneyExplanation:
        entries = []
        for raw in data.get("entries", []):
            became = raw.get("became")
            entries.append(MoneyEntry(
                source=raw["source"], label=raw["label"], shown_amount=Decimal(raw["shown_amount"]),
                paid=Decimal(raw["paid"]), invoiced=Decimal(raw["invoiced"]), why=raw["why"],
                became=InvoiceLineShown(**{k: (v if k == "item_id" else Decimal(v)) for k, v in became.items()})
                if became else None))
        return cls(currency=data["currency"], paid=Decimal(data["paid"]), invoiced=Decimal(data["invoiced"]),
                   entries=tuple(entries))


def explain_invoice(order: Order, draft: InvoiceDraft, matches: list[LineMatch], shipping: LineMatch | None,
                    *, invoice_shipping: bool) -> MoneyExplanation:
    """Where the buyer's money went on ``draft`` (built by ``connector.invoice_builder.build_invoice``
    from the same ``order``, ``matches`` and ``shipping``)."""
    currency = order.currency
    entries: list[MoneyEntry] = []
    unrounded_total = ZERO
    draft_lines = list(draft.lines)

    def invoice_line(position: int, rate: Decimal) -> tuple[InvoiceLineShown, Decimal]:
        nonlocal unrounded_total
        line = draft_lines[position]
        taxed_rate = rate if line.tax_ids else ZERO
        total = erp_line_total(line.unit_price, line.quantity, line.discount_percent, taxed_rate)
        unrounded_total += total
        return (InvoiceLineShown(line.item_id, line.quantity, line.unit_price, line.discount_percent, taxed_rate),
                round_money(total, currency))

    for position, (line, match) in enumerate(zip(order.lines, matches, strict=True)):
        became, invoiced = invoice_line(position, match.tax_rate)
        label = line.title or line.sku or line.line_id
        entries.append(MoneyEntry("line", label, line.amount_paid, line.amount_paid, invoiced, "line_invoiced",
                                  became))
    if order.shipping_cost > 0:
        if invoice_shipping and len(draft_lines) > len(order.lines):
            became, invoiced = invoice_line(len(order.lines), shipping.tax_rate if shipping else ZERO)
            entries.append(MoneyEntry("shipping", "Envío", order.shipping_cost, order.shipping_cost, invoiced,
                                      "shipping_invoiced", became))
        else:
            entries.append(MoneyEntry("shipping", "Envío", order.shipping_cost, order.shipping_cost, ZERO,
                                      "shipping_not_invoiced"))
    for adjustment in order.adjustments:
        if adjustment.treatment is AdjustmentTreatment.SPREAD_AS_DISCOUNT:
            # Its money is already in the lines' ``paid`` (as part of their discount): shown, not counted.
            entries.append(MoneyEntry("adjustment", adjustment.label, adjustment.amount, ZERO, ZERO, "credit_spread"))
        else:
            entries.append(MoneyEntry("adjustment", adjustment.label, adjustment.amount, adjustment.amount, ZERO,
                                      "fee_left_out"))
    counted = sum((entry.paid for entry in entries), ZERO)
    paid = order.total_paid if order.total_paid is not None else counted
    if paid != counted:  # the channel's total holds something it does not itemise
        entries.append(MoneyEntry("total", N_("Sin detalle del canal"), paid - counted, paid - counted, ZERO,
                                  "not_detailed"))
    invoiced_total = round_money(unrounded_total, currency)
    per_line = sum((entry.invoiced for entry in entries), ZERO)
    if invoiced_total != per_line:  # one rounding on the total, not one per line
        entries.append(MoneyEntry("rounding", N_("Redondeo"), ZERO, ZERO, invoiced_total - per_line, "rounding"))
    return MoneyExplanation(currency=currency, paid=paid, invoiced=invoiced_total, entries=tuple(entries))
