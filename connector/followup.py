"""Life after the invoice: the e-invoice followed to the tax authority's answer, the invoice delivered
to the buyer, the payment recorded, refunds credited — each write exactly once
(:mod:`connector.remote_writes`; the writes themselves in :mod:`connector.followup_writes`, what the
seller sees in :mod:`connector.followup_view`). This module decides what is due and when.

::

    invoice recorded ─► plan: e-invoice pending? → status checks (growing intervals, up to an hour)
                             "registrar el pago"  → inline at creation (a done write) or POST later
                             "enviar al comprador" → after the authority accepts (at once if not electronic)
                             refunds (connector/refunds.py) → credit notes, once the invoice is accepted
    status final ─► accepted: the order says so, with the CUFE; the delivery may go
                 └► rejected: the order moves to the error queue (``rejected``) with the authority's
                    words; a person fixes the cause and :func:`resend_rejected` stamps it again

Work for one invoice is due at ``invoices.next_followup_at``; the sweeper hands it to the workers
after the orders (invoices before follow-ups in a seller's rate window), and the embedded loop runs
it after each sync. Nothing here names an ERP, a marketplace or a country: the adapters say how a
buyer gets the invoice and what the tax authority is called.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector import circuit
from connector.context import AppContext
from connector.errors import ConnectorError
from connector.fiscal import fiscal_profile_of
from connector.followup_writes import (
    canonical_order,
    contact_id_of,
    delivery_via,
    note_in_trail,
    run_write,
    settings_of,
)
from connector.invoice_builder import build_contact
from connector.models import ERPConnection, Invoice, Order, RemoteWrite, utcnow
from connector.outcomes import Outcome, outcome_of
from connector.ratelimit import RequestClass, request_class
from connector.reasons import joined, reason
from connector.refunds import plan_refunds_after_invoice
from connector.remote_writes import OPEN_STATES
from connector.states import OrderState, transition
from erp.base import InvoiceResult, LegalStatus

log = logging.getLogger(__name__)
S = OrderState
L = LegalStatus

# Status checks at these multiples of CONNECTOR_LEGAL_STATUS_CHECK, then every hour.
_CHECK_STEPS = (1, 2, 4, 8, 16, 32, 64)
_MAX_CHECK_SECONDS = 3600.0
# Writes run in this order within one follow-up: the stamp first (everything waits for it), then
# the payment, then the delivery.
_KIND_ORDER = {"stamp": 0, "credit_note": 1, "payment": 2, "delivery": 3}


# -- planning, when the invoice is recorded -------------------------------------------------------


def plan_after_invoice(session: Session, order: Order, erp: ERPConnection, invoice: Invoice,
                       result: InvoiceResult) -> None:
    """What must follow a newly recorded invoice (in the transaction that records it)."""
    settings = settings_of(order, erp)
    apply_erp_view(invoice, result)
    now = utcnow()
    if settings is not None and settings.record_payment:
        inline = result.payments[0] if result.payments else None
        session.add(RemoteWrite(
            invoice=invoice, order_id=order.id, kind="payment", via="inline" if inline else "erp",
            marker=f"{invoice.marker}-pago", state="done" if inline else "pending",
            finished_at=now if inline else None,
            result=({"erp_id": inline.erp_id, "amount": str(inline.amount),
                     "account": inline.account_id or settings.payment_account_id, "at": now.isoformat()}
                    if inline else {})))
    if settings is not None and settings.deliver_invoice:
        session.add(RemoteWrite(invoice=invoice, order_id=order.id, kind="delivery", via=delivery_via(order),
                                marker=invoice.marker))
    schedule(session, invoice)  # before the INSERT, so its time goes into it (no UPDATE after it)
    # Not flushed here: the caller flushes the invoice with the rest of its transaction (once), or
    # inside its savepoint (connector.invoicing.record_invoice). Refunds, when the order has any,
    # flush what they need.
    plan_refunds_after_invoice(session, order, invoice, actor="reglas")  # reschedules what it decides


def apply_erp_view(invoice: Invoice, result: InvoiceResult) -> None:
    """Copy what the ERP says of the invoice (e-invoice status, CUFE, reasons, open/draft)."""
    invoice.legal_status = LegalStatus(result.legal_status).value
    invoice.cufe = result.cufe or invoice.cufe
    invoice.legal_reasons = list(result.legal_reasons)
    invoice.stamp_status = result.stamp_status or invoice.stamp_status
    invoice.pdf_url = result.pdf_url or invoice.pdf_url
    if result.status:
        invoice.status = result.status


def _runnable(write: RemoteWrite, invoice: Invoice) -> bool:
    """Whether a write may go now, given the invoice: a stamped invoice is delivered once accepted,
    and a draft takes no payment."""
    if write.kind == "delivery":
        return invoice.legal_status in (L.NOT_ELECTRONIC, L.ACCEPTED, L.ACCEPTED_WITH_OBSERVATIONS)
    if write.kind == "payment":
        return invoice.status != "draft" and invoice.legal_status != L.PENDING
    if write.kind == "credit_note":  # a note references an invoice the authority accepted (or a plain one)
        return invoice.legal_status in (L.NOT_ELECTRONIC, L.ACCEPTED, L.ACCEPTED_WITH_OBSERVATIONS)
    return True


def _next_check_at(invoice: Invoice, base: float) -> datetime:
    step = _CHECK_STEPS[min(invoice.status_checks, len(_CHECK_STEPS) - 1)]
    seconds = min(_MAX_CHECK_SECONDS, base * step) if invoice.status_checks < len(_CHECK_STEPS) else _MAX_CHECK_SECONDS
    return (invoice.legal_checked_at or invoice.created_at or utcnow()) + timedelta(seconds=seconds)


def _next_note_check_at(write: RemoteWrite, base: float | None) -> datetime:
    if base is None:
        return utcnow()
    checks = int(write.result.get("checks") or 0)
    step = _CHECK_STEPS[min(checks, len(_CHECK_STEPS) - 1)]
    return (write.finished_at or utcnow()) + timedelta(seconds=min(_MAX_CHECK_SECONDS, base * step))


def schedule(session: Session, invoice: Invoice, check_base: float | None = None) -> None:
    """Set ``next_followup_at`` to when the invoice next has something to do (None: nothing left).
    Without ``check_base`` (CONNECTOR_LEGAL_STATUS_CHECK) a pending e-invoice is due at once: the
    follow-up then sees when its first check is due (nothing is asked of the ERP before)."""
    times: list[datetime] = []
    if invoice.legal_status == L.PENDING:
        times.append(_next_check_at(invoice, check_base) if check_base is not None else utcnow())
    for write in invoice.writes:
        if write.kind == "credit_note" and write.state == "done" and write.result.get("legal_status") == L.PENDING:
            times.append(_next_note_check_at(write, check_base))
        if write.state not in OPEN_STATES or not _runnable(write, invoice):
            continue
        if write.state == "sending":
            times.append(write.claimed_until or utcnow())
        else:
            times.append(write.next_attempt_at or utcnow())
    invoice.next_followup_at = min(times) if times else None


# -- running what is due --------------------------------------------------------------------------


def due_invoice_ids(ctx: AppContext, account_id: int | None = None, limit: int = 500) -> list[int]:
    now = utcnow()
    with ctx.db.session() as session:
        query = select(Invoice.id).join(Order, Order.id == Invoice.order_id).where(
            Invoice.next_followup_at.is_not(None), Invoice.next_followup_at <= now)
        if account_id is not None:
            query = query.where(Order.account_id == account_id)
        return list(session.scalars(query.order_by(Invoice.next_followup_at).limit(limit)))


def run_due_followups(ctx: AppContext, account_id: int | None = None) -> dict[str, int]:
    """The embedded loop's follow-up pass: every due invoice once."""
    counts: dict[str, int] = {}
    for invoice_id in due_invoice_ids(ctx, account_id):
        try:
            outcome = run_followup(ctx, invoice_id)
        except Exception:  # noqa: BLE001 - one invoice's trouble must never stop the others
            log.exception("invoice %s: follow-up failed", invoice_id)
            outcome = "crashed"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def run_followup(ctx: AppContext, invoice_id: int, *, actor: str = "seguimiento") -> str:
    """Do what is due for one invoice now: check the e-invoice status, then run the due writes.
    Returns a word for what happened (for logs and counts)."""
    with ctx.db.session() as session:
        invoice = session.get(Invoice, invoice_id)
        if invoice is None:
            return "gone"
        erp = session.get(ERPConnection, invoice.erp_connection_id)
        until = circuit.open_until(erp)
        if until is not None:  # the ERP is down: the follow-up waits with the orders
            invoice.next_followup_at = until
            session.commit()
            return "waiting_erp"
        adapter = ctx.erp_adapter(erp)
        deferral = adapter.rate_limit.deferral()
        if deferral is not None:  # the window is spent: invoices go first, this comes back later
            invoice.next_followup_at = utcnow() + timedelta(seconds=deferral)
            session.commit()
            return "deferred"
        check_due = invoice.legal_status == L.PENDING and _next_check_at(
            invoice, ctx.settings.legal_status_check_seconds) <= utcnow()
        session.commit()
    outcome = "idle"
    # Inside the ERP window, status checks, uploads and e-mails come after invoices and credit notes
    # (connector/ratelimit.py); a credit note keeps the first class.
    if check_due:
        with request_class(RequestClass.FOLLOWUP):
            outcome = check_legal_status(ctx, invoice_id, actor=actor)
    for write_id, kind in _due_write_ids(ctx, invoice_id, with_kind=True):
        with request_class(RequestClass.DOCUMENTS if kind == "credit_note" else RequestClass.FOLLOWUP):
            outcome = run_write(ctx, write_id, actor=actor)
    check_credit_notes(ctx, invoice_id, actor=actor)
    with ctx.db.transaction() as session:
        invoice = session.get(Invoice, invoice_id)
        schedule(session, invoice, ctx.settings.legal_status_check_seconds)
    return outcome


def _due_write_ids(ctx: AppContext, invoice_id: int, *, with_kind: bool = False) -> list:
    now = utcnow()
    with ctx.db.session() as session:
        invoice = session.get(Invoice, invoice_id)
        due = [w for w in invoice.writes if _runnable(w, invoice) and (
            (w.state in ("pending", "ambiguous") and (w.next_attempt_at is None or w.next_attempt_at <= now))
            or (w.state == "sending" and w.claimed_until is not None and w.claimed_until < now))]
        ordered = sorted(due, key=lambda w: (_KIND_ORDER.get(w.kind, 9), w.id))
        return [(w.id, w.kind) for w in ordered] if with_kind else [w.id for w in ordered]


# -- the e-invoice status -------------------------------------------------------------------------


def check_legal_status(ctx: AppContext, invoice_id: int, *, actor: str = "seguimiento") -> str:
    """Read the e-invoice's status from the ERP and act on a final answer."""
    with ctx.db.session() as session:
        invoice = session.get(Invoice, invoice_id)
        erp = session.get(ERPConnection, invoice.erp_connection_id)
        erp_id, before = invoice.erp_id, invoice.legal_status
        session.commit()
    adapter = ctx.erp_adapter(erp)
    try:
        result = adapter.get_invoice(erp_id)
    except ConnectorError as exc:
        with ctx.db.transaction() as session:
            invoice = session.get(Invoice, invoice_id)
            invoice.status_checks += 1
            invoice.legal_checked_at = utcnow()
            if outcome_of(exc) not in (Outcome.RETRY, Outcome.AMBIGUOUS):
                note_in_trail(session, invoice.order_id,
                              reason("No se pudo consultar el estado de la factura electrónica: %(cause)s",
                                     cause=exc.user_message), actor)
        return "check_failed"
    authority = getattr(adapter, "tax_authority", None) or "La autoridad tributaria"
    with ctx.db.transaction() as session:
        invoice = session.get(Invoice, invoice_id)
        order = session.get(Order, invoice.order_id)
        apply_erp_view(invoice, result)
        invoice.legal_checked_at = utcnow()
        invoice.status_checks += 1
        now = LegalStatus(invoice.legal_status)
        if now == before:
            return "pending" if now == L.PENDING else now.value
        number = invoice.number or invoice.erp_id
        if now.is_accepted:
            message = (reason("%(authority)s aceptó la factura electrónica %(number)s (CUFE %(cufe)s).",
                              authority=authority, number=number, cufe=invoice.cufe) if invoice.cufe
                       else reason("%(authority)s aceptó la factura electrónica %(number)s.", authority=authority,
                                   number=number))
            if now == L.ACCEPTED_WITH_OBSERVATIONS and invoice.legal_reasons:
                message = joined([message, reason("Observaciones: %(reasons)s",
                                                  reasons=" ".join(invoice.legal_reasons))])
            note_in_trail(session, order.id, message, actor)
        elif now == L.REJECTED:
            mark_rejected(session, order, invoice, authority, actor=actor)
        return now.value


def mark_rejected(session: Session, order: Order, invoice: Invoice, authority: str, *, actor: str) -> None:
    """The order waits in the error queue: the tax authority rejected its e-invoice (seen on a status
    check, or in the creation answer itself when the ERP hands the authority's answer at once)."""
    reasons = " ".join(invoice.legal_reasons) or "sin motivo indicado"
    transition(session, order, S.REJECTED,
               reason("%(authority)s rechazó la factura electrónica %(number)s: %(reasons)s Corrige la "
                      "causa (datos del comprador, producto, numeración o configuración) y pulsa «Reenviar».",
                      authority=authority, number=invoice.number or invoice.erp_id, reasons=reasons),
               actor=actor)


def check_credit_notes(ctx: AppContext, invoice_id: int, *, actor: str = "seguimiento") -> None:
    """Follow the e-invoice status of the invoice's credit notes, like the invoice's own."""
    base = ctx.settings.legal_status_check_seconds
    with ctx.db.session() as session:
        invoice = session.get(Invoice, invoice_id)
        due = [(w.id, w.result.get("erp_id")) for w in invoice.writes
               if w.kind == "credit_note" and w.state == "done" and w.result.get("legal_status") == L.PENDING
               and w.result.get("erp_id") and _next_note_check_at(w, base) <= utcnow()]
        erp = session.get(ERPConnection, invoice.erp_connection_id)
        session.commit()
    if not due:
        return
    adapter = ctx.erp_adapter(erp)
    authority = getattr(adapter, "tax_authority", None) or "La autoridad tributaria"
    for write_id, note_id in due:
        try:
            note = adapter.get_credit_note(str(note_id))
        except ConnectorError:
            note = None
        with ctx.db.transaction() as session:
            write = session.get(RemoteWrite, write_id)
            result = dict(write.result)
            result["checks"] = int(result.get("checks") or 0) + 1
            if note is not None:
                result["legal_status"] = LegalStatus(note.legal_status).value
                result["cufe"] = note.cufe or result.get("cufe")
                if LegalStatus(note.legal_status).is_final:
                    accepted = LegalStatus(note.legal_status).is_accepted
                    reasons = " ".join(note.legal_reasons)
                    said = {"authority": authority, "number": note.number or note_id}
                    if reasons:
                        message = (reason("%(authority)s aceptó la nota crédito %(number)s: %(reasons)s",
                                          reasons=reasons, **said) if accepted
                                   else reason("%(authority)s rechazó la nota crédito %(number)s: %(reasons)s",
                                               reasons=reasons, **said))
                    else:
                        message = (reason("%(authority)s aceptó la nota crédito %(number)s.", **said) if accepted
                                   else reason("%(authority)s rechazó la nota crédito %(number)s.", **said))
                    note_in_trail(session, write.order_id, message, actor)
            write.result = result


# -- what a person does ---------------------------------------------------------------------------


def resend_rejected(ctx: AppContext, order_id: int, *, actor: str = "cli") -> str:
    """The "Reenviar" button: the seller fixed the cause of a rejection; bring the buyer's data in the
    ERP up to date with the order and the current settings, then stamp the invoice again (once)."""
    with ctx.db.session() as session:
        order = session.get(Order, order_id)
        if order is None or order.state != S.REJECTED or order.invoice is None:
            return order.state if order else "gone"
        invoice = order.invoice
        erp = session.get(ERPConnection, invoice.erp_connection_id)
        settings = settings_of(order, erp)
        contact_id = contact_id_of(order)
        session.commit()
    adapter = ctx.erp_adapter(erp)
    if settings is not None and contact_id and order.canonical is not None:
        try:  # a PUT of the whole contact: repeating it is harmless, so it needs no claim
            adapter.update_contact(contact_id, build_contact(canonical_order(order), settings, fiscal_profile_of(erp)))
        except ConnectorError as exc:
            with ctx.db.transaction() as session:
                note_in_trail(session, order_id,
                              reason("No se pudieron actualizar los datos del comprador en el ERP: %(cause)s",
                                     cause=exc.user_message), actor)
            if outcome_of(exc) in (Outcome.RETRY, Outcome.AMBIGUOUS):
                return S.REJECTED.value
    with ctx.db.transaction() as session:
        order = session.get(Order, order_id)
        if order.state != S.REJECTED:  # someone else re-sent it meanwhile
            return order.state
        invoice = order.invoice
        generation = 1 + max((w.generation for w in invoice.writes if w.kind == "stamp"), default=0)
        session.add(RemoteWrite(invoice=invoice, order_id=order_id, kind="stamp", generation=generation,
                                via="erp", marker=invoice.marker))
        transition(session, order, S.INVOICED, reason("Se envía de nuevo la factura electrónica a la autoridad "
                                                        "tributaria."), actor=actor)
        session.flush()
        schedule(session, invoice, ctx.settings.legal_status_check_seconds)
        invoice_id = invoice.id
    run_followup(ctx, invoice_id, actor=actor)
    with ctx.db.session() as session:
        return session.get(Order, order_id).state


def request_write(ctx: AppContext, order_id: int, kind: str, *, actor: str = "cli") -> RemoteWrite | None:
    """A person asks for a write again or for the first time ("Expedir", "Registrar pago", "Entregar"):
    a new generation is opened only when no earlier one is open or done (never a second payment or a
    second stamp of an accepted invoice). Returns the write to run, or None when there is nothing to do."""
    with ctx.db.transaction() as session:
        order = session.get(Order, order_id)
        invoice = order.invoice if order else None
        if invoice is None:
            return None
        earlier = [w for w in invoice.writes if w.kind == kind]
        if any(w.state in OPEN_STATES or (w.state == "done" and kind != "delivery") for w in earlier):
            return None
        if kind == "stamp" and invoice.legal_status != L.NOT_ELECTRONIC:
            return None
        via = delivery_via(order) if kind == "delivery" else "erp"
        write = RemoteWrite(invoice=invoice, order_id=order_id, kind=kind, via=via,
                            generation=1 + max((w.generation for w in earlier), default=0),
                            marker=f"{invoice.marker}-pago" if kind == "payment" else invoice.marker)
        session.add(write)
        session.flush()
        schedule(session, invoice, ctx.settings.legal_status_check_seconds)
        return write
