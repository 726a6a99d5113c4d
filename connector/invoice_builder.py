"""From a canonical order, its matched lines and the seller's settings to an ERP-neutral invoice.

Pure functions: no database, no network. The pipeline supplies the matches and the contact id.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from connector.canonical import Order
from connector.errors import ConfigurationError, InvalidPayload
from connector.fiscal import local_day, setting_or_default
from connector.money import price_line, round_money
from connector.rules import InvoicingSettings
from erp.base import ContactDraft, FiscalProfile, InvoiceDraft, InvoiceLineDraft, PaymentDraft
from mapping.resolver import LineMatch


class MissingInvoiceData(InvalidPayload):
    """The order lacks something the invoice needs and no fallback is configured."""


def issue_day(at: datetime, profile: FiscalProfile) -> date:
    """The day a document made at ``at`` is dated (in the time zone of the ERP account's country)."""
    return local_day(at, profile)


def invoice_marker(channel_connection_id: int, external_id: str) -> str:
    """What identifies an order inside the ERP (written into the invoice's internal observations)."""
    return f"[CX-{channel_connection_id}-{external_id}]"


def build_contact(order: Order, settings: InvoicingSettings, profile: FiscalProfile) -> ContactDraft:
    """The buyer as an ERP contact, with the seller's fallbacks for what the marketplace did not give and
    the country's profile for the rest (the ERP's identification type of the marketplace's document, the
    final consumer, the country's fiscal fields)."""
    buyer = order.buyer
    email = buyer.email or settings.default_email
    phone = buyer.phone or settings.default_phone
    if settings.stamp and not email:
        raise MissingInvoiceData(
            "El comprador no tiene e-mail y la factura electrónica lo necesita: configura un «Email por defecto».")
    address = buyer.address
    configured_type = setting_or_default(profile, "identification_type", settings.identification_type)
    configured_kind = setting_or_default(profile, "kind_of_person", settings.kind_of_person)
    common = dict(email=email, phone=phone, regime=setting_or_default(profile, "regime", settings.regime),
                  address=address.street if address else None, city=address.city if address else None,
                  department=address.department if address else None,
                  zip_code=address.zip_code if address else None,
                  country=(address.country if address and address.country else profile.country_name),
                  fiscal_fields={f.name: f.default for f in profile.contact_fields if f.default})
    if buyer.identification is not None:
        id_type = profile.identification_type_for(buyer.identification.type) or configured_type
        kind = (buyer.kind_of_person.value if buyer.kind_of_person
                else "LEGAL_ENTITY" if id_type in profile.legal_identification_types else configured_kind)
        return ContactDraft(
            name=(buyer.name or f"Cliente {order.channel} {buyer.marketplace_id or order.external_id}")[:200],
            identification_type=id_type, identification_number=buyer.identification.number,
            dv=buyer.identification.dv, kind_of_person=kind, **common)
    if settings.default_document:
        return ContactDraft(name=(buyer.name or profile.final_consumer.name)[:200],
                            identification_type=configured_type, identification_number=settings.default_document,
                            kind_of_person=configured_kind, **common)
    consumer = profile.final_consumer
    return ContactDraft(name=consumer.name, identification_type=consumer.identification_type,
                        identification_number=settings.final_consumer_document or consumer.identification_number,
                        kind_of_person=consumer.kind_of_person or configured_kind, **common)


def build_invoice(order: Order, matches: list[LineMatch], settings: InvoicingSettings, *, contact_id: str,
                  marker: str, shipping: LineMatch | None, profile: FiscalProfile, today: date | None = None,
                  contact: ContactDraft | None = None) -> InvoiceDraft:
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
            raise ConfigurationError(
                "La orden tiene costo de envío y no hay producto de envío configurado (shipping_item_id).")
        priced = price_line(unit_price=order.shipping_cost, quantity=Decimal(1), discount=Decimal(0),
                            prices_include_tax=order.prices_include_tax, apply_taxes=settings.apply_taxes,
                            tax_ids=shipping.tax_ids, tax_rate=shipping.tax_rate)
        lines.append(InvoiceLineDraft(item_id=shipping.erp_item_id, quantity=Decimal(1),
                                      unit_price=priced.unit_price, description="Envío", tax_ids=priced.tax_ids))
    issue = today or local_day(datetime.now().astimezone(), profile)
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
        number_template_id=settings.number_template_id,
        payment_form=setting_or_default(profile, "payment_form", settings.payment_form),
        payment_method=setting_or_default(profile, "payment_method", settings.payment_method),
        observations=observations, annotation=annotation, currency=order.currency, payment=payment,
        document_kind=profile.document_kind_for(contact.identification_type if contact else None),
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
