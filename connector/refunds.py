"""Refunds, returns and cancellations after payment become credit notes — exactly once.

::

    channel shows a refund ─► refunds row (unique per order and refund id: any number of pulls and
                              webhooks store it once)
        no invoice yet  → before_invoice: credited once the order is invoiced; never, if it never is
        rules "off"     → off (kept, shown, not credited)
        rules "approval"→ waiting_approval ─► a person approves (→ approved) or declines (→ declined)
        rules "automatic" or approved → a credit-note remote write (connector/remote_writes.py): the
                              attempt recorded first, a lost answer settled by finding the note's
                              marker in the ERP, never a blind repeat

The note is the invoice's own items in the refunded quantities, priced like the invoice (prices
before tax when taxes apply), so its total is what was refunded of what the invoice holds; the notes of
one invoice never add up to more than the invoice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connector.canonical import Order as CanonicalOrder
from connector.errors import ConfigurationError
from connector.fiscal import fiscal_profile_of
from connector.invoice_builder import issue_day
from connector.models import ActivityEvent, ERPConnection, Invoice, Order, Refund, RemoteWrite, utcnow
from connector.money import erp_line_total, price_line, round_money
from connector.reasons import code_columns, reason
from connector.remote_writes import NOT_DONE, Remote, WriteAction
from connector.rules import InvoicingSettings
from connector.stock_pending import mark_items_changed
from erp.base import CreditNoteDraft, InvoiceLineDraft
from mapping.resolver import LineMatch

log = logging.getLogger(__name__)

STATE_LABELS = {"before_invoice": "Sin factura todavía", "waiting_approval": "Por aprobar", "approved": "Aprobada",
                "declined": "Rechazada por el vendedor", "off": "Notas crédito desactivadas"}


def credit_note_marker(order: Order, refund: Refund) -> str:
    """What identifies a refund's credit note inside the ERP (in its observations)."""
    return f"[NC-{order.channel_connection_id}-{order.external_id}-{refund.id}]"


# -- noting refunds as the channel shows them ---------------------------------------------------


def note_refunds(session: Session, order: Order, canonical: CanonicalOrder, *, actor: str) -> int:
    """Store the refunds of ``canonical`` not seen before and decide what each becomes. Returns how
    many were new."""
    if not canonical.refunds:
        return 0
    stored: dict[str, Decimal] = {}
    for external_id, amount in session.execute(select(Refund.external_id, Refund.amount)
                                               .where(Refund.order_id == order.id)):
        base = external_id.split("+", 1)[0]
        stored[base] = stored.get(base, Decimal("0")) + Decimal(amount)
    new = 0
    for refund in canonical.refunds:
        external_id, amount, lines = refund.refund_id[:100], refund.amount, refund.lines
        if external_id in stored:
            # Some marketplaces grow one refund (a payment refunded twice shows one total): the growth
            # is a refund of its own, "<id>+<total so far>", so a re-read of the same total adds nothing.
            grown = refund.amount - stored[external_id]
            if grown <= 0:
                continue
            external_id, amount, lines = f"{external_id}+{refund.amount}", grown, []
        grew = external_id != refund.refund_id[:100]
        row = Refund(order_id=order.id, account_id=order.account_id, external_id=external_id[:120],
                     amount=amount, shipping=Decimal(0) if grew else refund.shipping, full=refund.full and not grew,
                     restocked=refund.restocked,
                     lines=[line.model_dump(mode="json") for line in lines], reason=refund.reason[:500],
                     refunded_at=refund.created_at, state="before_invoice")
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:  # another process stored it a moment ago
            continue
        new += 1
        amount = _money(refund.amount)
        if refund.full:
            said = (reason("Cancelación de %(amount)s en el canal (%(why)s).", amount=amount, why=refund.reason)
                    if refund.reason else reason("Cancelación de %(amount)s en el canal.", amount=amount))
        else:
            said = (reason("Reembolso de %(amount)s en el canal (%(why)s).", amount=amount, why=refund.reason)
                    if refund.reason else reason("Reembolso de %(amount)s en el canal.", amount=amount))
        _note(session, order, said, actor)
        invoice = session.scalar(select(Invoice).where(Invoice.order_id == order.id))
        if invoice is not None:
            decide(session, order, invoice, row, actor=actor)
    return new


def decide(session: Session, order: Order, invoice: Invoice, refund: Refund, *, actor: str) -> None:
    """What the seller's rules make of a refund of an invoiced order."""
    from connector.followup import schedule
    from connector.followup_writes import settings_of

    settings = settings_of(order, session.get(ERPConnection, invoice.erp_connection_id))
    mode = settings.credit_notes if settings is not None else "approval"
    if mode == "off":
        refund.state = "off"
        _note(session, order, reason("Las notas crédito están desactivadas: este reembolso no se acredita."), actor)
    elif mode == "approval":
        refund.state = "waiting_approval"
        _note(session, order, reason("Nota crédito por aprobar (Notas crédito por aprobar)."), actor)
    else:
        approve(session, order, invoice, refund, actor=actor)
    schedule(session, invoice)


def plan_refunds_after_invoice(session: Session, order: Order, invoice: Invoice, *, actor: str) -> None:
    """Refunds that came before the invoice are credited now that it exists."""
    if not (order.canonical or {}).get("refunds"):
        return  # refunds are only stored from the order's own list (note_refunds): none, no query
    for refund in session.scalars(select(Refund).where(Refund.order_id == order.id,
                                                       Refund.state == "before_invoice")):
        decide(session, order, invoice, refund, actor=actor)


def approve(session: Session, order: Order, invoice: Invoice, refund: Refund, *, actor: str) -> RemoteWrite | None:
    """Open the refund's credit-note write (once: an earlier open or done one is kept)."""
    subject = f"refund:{refund.external_id}"[:160]
    earlier = list(session.scalars(select(RemoteWrite).where(RemoteWrite.refund_id == refund.id)))
    refund.state, refund.decided_by, refund.decided_at = "approved", actor, utcnow()
    if any(w.state not in ("failed",) for w in earlier):
        return None
    write = RemoteWrite(invoice=invoice, order_id=order.id, kind="credit_note", subject=subject, refund_id=refund.id,
                        generation=1 + max((w.generation for w in earlier), default=0), via="erp",
                        marker=credit_note_marker(order, refund))
    session.add(write)
    session.flush()
    _note(session, order, reason("Nota crédito aprobada por %(who)s; se crea en el ERP.", who=actor), actor)
    return write


def decline(session: Session, order: Order, refund: Refund, *, actor: str) -> None:
    refund.state, refund.decided_by, refund.decided_at = "declined", actor, utcnow()
    _note(session, order, reason("Nota crédito del reembolso %(refund)s rechazada por %(who)s.",
                                 refund=refund.external_id, who=actor), actor)


# -- building the note -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CreditPart:
    """What is credited of one thing the invoice holds: ``amount`` in the order's tax convention."""

    match: LineMatch
    quantity: Decimal
    amount: Decimal
    description: str


def credited_so_far(invoice: Invoice, *, besides: int | None = None) -> Decimal:
    """What the invoice's done credit notes took off it already."""
    return sum((Decimal(str(w.result.get("total") or "0")) for w in invoice.writes
                if w.kind == "credit_note" and w.state == "done" and w.id != besides), Decimal("0"))


def credit_parts(canonical: CanonicalOrder, refund: Refund, matches: list[LineMatch], shipping: LineMatch | None,
                 settings: InvoicingSettings) -> list[CreditPart]:
    """What the refund takes back of each invoiced line (and of the shipping, when it was invoiced).

    Refunded lines are credited as the channel says; a whole cancellation credits everything; a refund
    that names only an amount (some marketplaces' partial refunds) is spread over the invoiced lines in
    proportion to what the buyer paid for each."""
    by_id = {line.line_id: (line, match) for line, match in zip(canonical.lines, matches, strict=True)}
    parts: list[CreditPart] = []
    shipping_invoiced = shipping is not None and settings.invoice_shipping and canonical.shipping_cost > 0
    if refund.lines:
        for raw in refund.lines:
            if raw["line_id"] not in by_id:
                continue
            line, match = by_id[raw["line_id"]]
            quantity = min(Decimal(str(raw["quantity"])) or line.quantity, line.quantity)
            parts.append(CreditPart(match, quantity, min(Decimal(str(raw["amount"])), line.amount_paid), line.title))
        if shipping_invoiced and refund.shipping > 0:
            parts.append(CreditPart(shipping, Decimal(1), min(refund.shipping, canonical.shipping_cost), "Envío"))
        return parts
    whole = [CreditPart(match, line.quantity, line.amount_paid, line.title)
             for line, match in zip(canonical.lines, matches, strict=True)]
    if shipping_invoiced:
        whole.append(CreditPart(shipping, Decimal(1), canonical.shipping_cost, "Envío"))
    if refund.full:
        return whole
    total = sum((p.amount for p in whole), Decimal("0"))
    wanted = min(Decimal(refund.amount), total)
    return scale(whole, wanted / total) if total > 0 else []


def scale(parts: list[CreditPart], factor: Decimal) -> list[CreditPart]:
    return [CreditPart(p.match, p.quantity, p.amount * factor, p.description) for p in parts if p.amount * factor > 0]


def build_credit_note(*, canonical: CanonicalOrder, refund: Refund, invoice: Invoice, matches: list[LineMatch],
                      shipping: LineMatch | None, settings: InvoicingSettings, contact_id: str, marker: str,
                      note_type: str, issue_date, stamp: bool) -> CreditNoteDraft | None:
    """The credit note of a refund, or None when nothing of the invoice is left to credit."""
    parts = credit_parts(canonical, refund, matches, shipping, settings)
    room = Decimal(invoice.total) - credited_so_far(invoice)
    lines, total = _priced(parts, canonical, settings)
    if total <= 0 or room <= 0:
        return None
    if total > room:  # the notes of one invoice never add up to more than the invoice
        lines, total = _priced(scale(parts, room / total), canonical, settings)
    return CreditNoteDraft(marker=marker, contact_id=contact_id, invoice_erp_id=invoice.erp_id,
                           issue_date=issue_date, lines=tuple(lines), amount=min(round_money(total, canonical.currency),
                                                                                room),
                           note_type=note_type, stamp=stamp,
                           observations=f"Reembolso {refund.external_id} de la orden {canonical.external_id}")


def _priced(parts: list[CreditPart], canonical: CanonicalOrder,
            settings: InvoicingSettings) -> tuple[list[InvoiceLineDraft], Decimal]:
    """The note's lines priced like the invoice's, and the total the ERP computes for them (tax included)."""
    lines, total = [], Decimal("0")
    for part in parts:
        priced = price_line(unit_price=part.amount / part.quantity, quantity=part.quantity, discount=Decimal(0),
                            prices_include_tax=canonical.prices_include_tax, apply_taxes=settings.apply_taxes,
                            tax_ids=part.match.tax_ids, tax_rate=part.match.tax_rate)
        lines.append(InvoiceLineDraft(item_id=part.match.erp_item_id, quantity=part.quantity,
                                      unit_price=priced.unit_price, description=part.description[:300],
                                      tax_ids=priced.tax_ids))
        rate = part.match.tax_rate if priced.tax_ids else Decimal(0)
        total += erp_line_total(priced.unit_price, part.quantity, Decimal(0), rate)
    return lines, total


def credit_note_action(ctx, session: Session, write: RemoteWrite, invoice: Invoice, order: Order,
                       erp: ERPConnection, settings: InvoicingSettings | None) -> WriteAction | str:
    """The exactly-once write of a refund's credit note, or the reason there is nothing to write."""
    from connector.followup_writes import contact_id_of
    from connector.invoicing import _matches_from_rows, _shipping_match, canonical_of

    if settings is None:
        raise ConfigurationError("La configuración de facturación no es válida: corrígela para crear la nota crédito.")
    refund = session.get(Refund, write.refund_id)
    adapter = ctx.erp_adapter(erp)
    canonical = canonical_of(order)
    matches = _matches_from_rows(session, erp, order)
    shipping = _shipping_match(session, erp, settings.shipping_item_id) if settings.invoice_shipping else None
    contact_id = contact_id_of(order)
    if not contact_id:
        raise ConfigurationError("No se sabe el contacto del ERP de esta factura; no se puede crear la nota crédito.")
    earlier = credited_so_far(invoice, besides=write.id) > 0
    full = not earlier and (refund.full or (not refund.lines and Decimal(refund.amount) >= Decimal(invoice.total)))
    # Goods come back with listed lines; an amount alone (or the rest after earlier notes) is a reduction.
    use = "full" if full else ("partial" if refund.lines and not earlier else "reduction")
    note_type = refund.note_type or _note_type(adapter, settings, use)
    issue_date = issue_day(write.created_at, fiscal_profile_of(erp))
    stamp = settings.credit_note_stamp and invoice.legal_status != "not_electronic"
    draft = build_credit_note(canonical=canonical, refund=refund, invoice=invoice, matches=matches, shipping=shipping,
                              settings=settings, contact_id=contact_id, marker=write.marker, note_type=note_type,
                              issue_date=issue_date, stamp=stamp)
    if draft is None:
        return "la factura ya está acreditada por completo."
    refund.note_type = note_type

    def as_kept(result) -> dict:
        return {"erp_id": result.erp_id, "number": result.number, "total": str(result.total), "type": note_type,
                "amount": str(draft.amount), "legal_status": str(result.legal_status), "cufe": result.cufe,
                "refund_id": refund.external_id}

    def returned_goods() -> None:
        # Goods that come back raise the ERP's stock: publish it (connector/stock.py) — however the
        # note is known to exist, answered or found in the ERP after a lost answer.
        mark_items_changed(ctx, erp.id, {line.item_id for line in draft.lines}, "nota crédito")

    def found() -> Remote:
        note = adapter.find_credit_note_by_marker(write.marker, contact_id=contact_id, around=issue_date)
        if note is None:
            return NOT_DONE
        returned_goods()
        return Remote(True, as_kept(note))

    def send() -> dict:
        kept = as_kept(adapter.create_credit_note(draft))
        returned_goods()
        return kept

    return WriteAction(send=send, read=found)


def _note_type(adapter, settings: InvoicingSettings, use: str) -> str:
    chosen = settings.credit_note_type_full if use == "full" else settings.credit_note_type_partial
    if chosen:
        return chosen
    types = adapter.credit_note_types()
    default = next((t for want in (use, "partial") for t in types if t.extra.get("use") == want),
                   types[0] if types else None)
    if default is None:
        raise ConfigurationError("El ERP no declara tipos de nota crédito para este país: elige uno en la configuración.")
    return default.id


# -- helpers ---------------------------------------------------------------------------------------


def _note(session: Session, order: Order, message: str, actor: str) -> None:
    msgid, params = code_columns(message)  # a reason keeps its template (connector/reasons.py)
    session.add(ActivityEvent(order_id=order.id, actor=actor, from_state=order.state, to_state=order.state,
                              message=str(message), message_msgid=msgid, message_params=params))


def _money(amount) -> str:
    return f"${Decimal(amount):,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")


def credit_notes_by_order(session: Session, order_ids: list[int]) -> dict[int, list[dict]]:
    """Each order's refunds and their credit notes, as the CLI's JSON and the panel show them."""
    notes: dict[int, list[dict]] = {order_id: [] for order_id in order_ids}
    if not order_ids:
        return notes
    writes: dict[int, RemoteWrite] = {}
    for write in session.scalars(select(RemoteWrite).where(RemoteWrite.order_id.in_(order_ids),
                                                           RemoteWrite.kind == "credit_note")
                                 .order_by(RemoteWrite.generation)):
        writes[write.refund_id] = write  # the newest generation
    for refund in session.scalars(select(Refund).where(Refund.order_id.in_(order_ids)).order_by(Refund.id)):
        write = writes.get(refund.id)
        result = write.result if write is not None else {}
        notes[refund.order_id].append({
            "id": refund.id, "refund_id": refund.external_id, "refunded": str(refund.amount), "full": refund.full,
            "state": refund.state, "note": write.state if write is not None else None,
            "detail": write.detail if write is not None else "",
            "number": result.get("number"), "type": result.get("type") or refund.note_type,
            "amount": result.get("amount"), "legal_status": result.get("legal_status"),
            "at": refund.refunded_at.isoformat() if isinstance(refund.refunded_at, datetime) else None,
        })
    return notes
