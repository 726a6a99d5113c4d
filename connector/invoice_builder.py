"""From a canonical order, its matched lines and the seller's settings to an ERP-neutral invoice.

Pure functions: no database, no network. The pipeline supplies the matches and the contact id.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from connector.canonical import Order
from connector.errors import ConfigurationError, InvalidPayload
from connector.money import price_line, round_money
from connector.rules import InvoicingSettings
from erp.base import ContactDraft, InvoiceDraft, InvoiceLineDraft, PaymentDraft
from mapping.resolver import LineMatch

COLOMBIA = timezone(timedelta(hours=-5))
FINAL_CONSUMER_NAME = "Consumidor final"


MISSING_EMAIL_REASON = ("El comprador no tiene e-mail y la factura electrónica lo necesita: configura un "
                        "«Email por defecto».")
NO_SHIPPING_ITEM_REASON = ("La orden tiene costo de envío y no hay un producto que facture el envío: elígelo en "
                           "Configuración («Producto del ERP que factura el envío») o desactiva «Facturar el costo "
                           "de envío».")
SHIPPING_ITEM_GONE_REASON = "El producto de envío"  # "… {id} no existe en el catálogo del ERP." (invoicing.py)
# Reasons an order is held for before any request to the ERP (connector/held_orders.py releases them).
LOCAL_INVOICE_REASONS = (MISSING_EMAIL_REASON, NO_SHIPPING_ITEM_REASON, SHIPPING_ITEM_GONE_REASON,
                         "La línea «")


class MissingInvoiceData(InvalidPayload):
    """The order lacks something the invoice needs and no fallback is configured."""


def issue_day(at: datetime) -> date:
    """The day a document made at ``at`` is dated (where the seller invoices)."""
    return at.astimezone(COLOMBIA).date()


def invoice_marker(channel_connection_id: int, external_id: str) -> str:
    """What identifies an order inside the ERP (written into the invoice's internal observations)."""
    return f"[CX-{channel_connection_id}-{external_id}]"


def build_contact(order: Order, settings: InvoicingSettings) -> ContactDraft:
    """The buyer as an ERP contact, with the seller's fallbacks for what the marketplace did not give."""
    buyer = order.buyer
    email = buyer.email or settings.default_email
    phone = buyer.phone or settings.default_phone
    if settings.stamp and not email:
        raise MissingInvoiceData(MISSING_EMAIL_REASON)
    address = buyer.address
    common = dict(email=email, phone=phone, regime=settings.regime,
                  address=address.street if address else None, city=address.city if address else None,
                  department=address.department if address else None,
                  country=(address.country if address and address.country else "Colombia"))
    if buyer.identification is not None:
        kind = buyer.kind_of_person.value if buyer.kind_of_person else settings.kind_of_person
        return ContactDraft(
            name=(buyer.name or f"Cliente {order.channel} {buyer.marketplace_id or order.external_id}")[:200],
            identification_type=buyer.identification.type or settings.identification_type,
            identification_number=buyer.identification.number, dv=buyer.identification.dv,
            kind_of_person=kind, **common)
    if settings.default_document:
        return ContactDraft(name=(buyer.name or FINAL_CONSUMER_NAME)[:200],
                            identification_type=settings.identification_type,
                            identification_number=settings.default_document,
                            kind_of_person=settings.kind_of_person, **common)
    return ContactDraft(name=FINAL_CONSUMER_NAME, identification_type="CC",
                        identification_number=settings.final_consumer_document, kind_of_person="PERSON_ENTITY",
                        **common)


def build_invoice(order: Order, matches: list[LineMatch], settings: InvoicingSettings, *, contact_id: str,
                  marker: str, shipping: LineMatch | None, today: date | None = None) -> InvoiceDraft:
    """The invoice for ``order``. ``matches`` are in line order; ``shipping`` is the shipping item, if any."""
    if len(matches) != len(order.lines):
        raise ValueError("every line needs a match")
    lines = []
    for line, match in zip(order.lines, matches, strict=True):
        priced = price_line(unit_price=line.unit_price, quantity=line.quantity, discount=line.discount,
                            prices_include_tax=order.prices_include_tax, apply_taxes=settings.apply_taxes,
                            tax_ids=match.tax_ids, tax_rate=match.tax_rate)
        lines.append(InvoiceLineDraft(item_id=match.erp_item_id, quantity=line.quantity,
                                      unit_price=priced.unit_price, description=line.title[:300],
                                      reference=line.sku, discount_percent=priced.discount_percent,
                                      tax_ids=priced.tax_ids))
    if order.shipping_cost > 0 and settings.invoice_shipping:
        if shipping is None:
            raise ConfigurationError(NO_SHIPPING_ITEM_REASON)
        priced = price_line(unit_price=order.shipping_cost, quantity=Decimal(1), discount=Decimal(0),
                            prices_include_tax=order.prices_include_tax, apply_taxes=settings.apply_taxes,
                            tax_ids=shipping.tax_ids, tax_rate=shipping.tax_rate)
        lines.append(InvoiceLineDraft(item_id=shipping.erp_item_id, quantity=Decimal(1),
                                      unit_price=priced.unit_price, description="Envío", tax_ids=priced.tax_ids))
    issue = today or datetime.now(COLOMBIA).date()
    text = render_observations(settings.observations, order)
    marker_note = marker
    if settings.show_observations_on_pdf:
        annotation, observations = text, marker_note
    else:
        annotation, observations = "", f"{text} {marker_note}".strip()
    payment = None
    if settings.record_payment and settings.invoice_status == "open" and settings.payment_account_id:
        # The marketplace already collected the money: invoice and payment are one write (a draft
        # takes no payment; its payment follows once it is open, connector/followup.py).
        payment = PaymentDraft(marker=f"{marker}-pago", date=issue, account_id=settings.payment_account_id,
                               amount=round_money(paid_for_invoiced_lines(order, settings), order.currency),
                               method=settings.payment_account_method)
    return InvoiceDraft(
        marker=marker, contact_id=contact_id, issue_date=issue, due_date=issue + timedelta(days=settings.due_days),
        lines=tuple(lines), status=settings.invoice_status, stamp=settings.stamp,
        warehouse_id=settings.invoice_warehouse_id, price_list_id=settings.invoice_price_list_id,
        number_template_id=settings.number_template_id, payment_form=settings.payment_form,
        payment_method=settings.payment_method, observations=observations, annotation=annotation,
        currency=order.currency, payment=payment,
    )


def render_observations(template: str, order: Order) -> str:
    values = {"channel": order.channel, "order_id": order.external_id, "pack_id": order.pack_id or ""}
    try:
        return template.format(**values)[:400]
    except (KeyError, IndexError, ValueError):
        return template[:400]  # a seller's typo in a placeholder must not block invoicing


def paid_for_invoiced_lines(order: Order, settings: InvoicingSettings) -> Decimal:
    """What the buyer paid for what the invoice contains (the invariant the totals must meet)."""
    total = sum((line.amount_paid for line in order.lines), Decimal("0"))
    if settings.invoice_shipping:
        total += order.shipping_cost
    return total
