"""Life after the invoice: the e-invoice followed to the tax authority's answer, the invoice delivered
to the buyer, the payment recorded — each write exactly once (:mod:`connector.remote_writes`).

::

    invoice recorded ─► plan: e-invoice pending? → status checks (growing intervals, up to an hour)
                             "registrar el pago"  → inline at creation (a done write) or POST later
                             "enviar al comprador" → after the authority accepts (at once if not electronic)
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
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.base import InvoiceDelivery
from channels.registry import channel_class
from connector import circuit
from connector.context import AppContext
from connector.errors import ConfigurationError, ConnectorError, InvalidPayload
from connector.invoice_builder import build_contact
from connector.models import ActivityEvent, ERPConnection, Invoice, InvoiceAttempt, Order, RemoteWrite, utcnow
from connector.outcomes import Outcome, outcome_of
from connector.refunds import credit_note_action, plan_refunds_after_invoice
from connector.remote_writes import DONE_UNKNOWN, NOT_DONE, OPEN_STATES, Remote, WriteAction, perform
from connector.rules import InvoicingSettings, effective_settings
from connector.states import OrderState, transition
from erp.base import InvoiceResult, LegalStatus, PaymentDraft

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


def settings_of(order: Order, erp: ERPConnection) -> InvoicingSettings | None:
    try:
        return effective_settings(erp.settings, order.channel_connection.settings_overrides)
    except ConfigurationError:
        return None


def delivery_via(order: Order) -> str:
    """How this order's buyer gets the invoice: the channel adapter declares it."""
    return getattr(channel_class(order.channel_connection.kind), "invoice_delivery", InvoiceDelivery.ERP_EMAIL)


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
    session.flush()
    plan_refunds_after_invoice(session, order, invoice, actor="reglas")
    schedule(session, invoice)


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
    if check_due:
        outcome = check_legal_status(ctx, invoice_id, actor=actor)
    for write_id in _due_write_ids(ctx, invoice_id):
        outcome = run_write(ctx, write_id, actor=actor)
    check_credit_notes(ctx, invoice_id, actor=actor)
    with ctx.db.transaction() as session:
        invoice = session.get(Invoice, invoice_id)
        schedule(session, invoice, ctx.settings.legal_status_check_seconds)
    return outcome


def _due_write_ids(ctx: AppContext, invoice_id: int) -> list[int]:
    now = utcnow()
    with ctx.db.session() as session:
        invoice = session.get(Invoice, invoice_id)
        due = [w for w in invoice.writes if _runnable(w, invoice) and (
            (w.state in ("pending", "ambiguous") and (w.next_attempt_at is None or w.next_attempt_at <= now))
            or (w.state == "sending" and w.claimed_until is not None and w.claimed_until < now))]
        return [w.id for w in sorted(due, key=lambda w: (_KIND_ORDER.get(w.kind, 9), w.id))]


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
                _note(session, invoice.order_id, f"No se pudo consultar el estado de la factura electrónica: "
                                                 f"{exc.user_message}", actor)
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
            message = f"{authority} aceptó la factura electrónica {number}"
            message += f" (CUFE {invoice.cufe})." if invoice.cufe else "."
            if now == L.ACCEPTED_WITH_OBSERVATIONS and invoice.legal_reasons:
                message += " Observaciones: " + " ".join(invoice.legal_reasons)
            _note(session, order.id, message, actor)
        elif now == L.REJECTED:
            reasons = " ".join(invoice.legal_reasons) or "sin motivo indicado"
            transition(session, order, S.REJECTED,
                       f"{authority} rechazó la factura electrónica {number}: {reasons} Corrige la causa "
                       f"(datos del comprador, producto, numeración o configuración) y pulsa «Reenviar».",
                       actor=actor)
        return now.value


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
                    verdict = "aceptó" if LegalStatus(note.legal_status).is_accepted else "rechazó"
                    reasons = " ".join(note.legal_reasons)
                    _note(session, write.order_id, f"{authority} {verdict} la nota crédito {note.number or note_id}"
                                                   + (f": {reasons}" if reasons else "."), actor)
            write.result = result


# -- the writes -----------------------------------------------------------------------------------


def run_write(ctx: AppContext, write_id: int, *, actor: str = "seguimiento") -> str:
    """Carry out one remote write exactly once and record in the order's trail what became of it."""
    with ctx.db.session() as session:
        write = session.get(RemoteWrite, write_id)
        invoice, order = write.invoice, session.get(Order, write.order_id)
        erp = session.get(ERPConnection, invoice.erp_connection_id)
        settings = settings_of(order, erp)
        skip = _skip_reason(ctx, write, order, settings)
        session.commit()
        if skip is not None:
            write.state, write.detail, write.finished_at, write.next_attempt_at = "skipped", skip, utcnow(), None
            _note(session, order.id, _MESSAGES[write.kind]["skipped"].format(detail=skip), actor)
            session.commit()
            return "skipped"
        try:
            action = _action_for(ctx, session, write, invoice, order, erp, settings)
        except ConnectorError as exc:  # the order or a setting cannot give what the write needs
            write.state, write.detail, write.finished_at = "failed", exc.user_message, utcnow()
            _note(session, order.id, _MESSAGES[write.kind]["failed"].format(detail=exc.user_message), actor)
            session.commit()
            return "failed"
        if isinstance(action, str):  # nothing to write, and why
            write.state, write.detail, write.finished_at, write.next_attempt_at = "skipped", action, utcnow(), None
            _note(session, order.id, _MESSAGES[write.kind]["skipped"].format(detail=action), actor)
            session.commit()
            return "skipped"
        kind, order_id = write.kind, order.id
        session.commit()
    state = perform(ctx, write_id, action)
    with ctx.db.transaction() as session:
        write = session.get(RemoteWrite, write_id)
        if state in ("done", "failed", "uncertain"):
            if kind == "stamp" and state == "done":
                _stamped_again(session, write.invoice)
            _note(session, order_id, _MESSAGES[kind][state].format(detail=write.detail, **_described(write)), actor)
    return state


_MESSAGES: dict[str, dict[str, str]] = {
    "stamp": {"done": "Factura electrónica enviada a la autoridad tributaria; se espera su respuesta.",
              "failed": "No se pudo emitir la factura electrónica: {detail}",
              "uncertain": "No se sabe si la factura electrónica se emitió: {detail}",
              "skipped": "No se emite la factura electrónica: {detail}"},
    "delivery": {"done": "Factura entregada al comprador ({where}).",
                 "failed": "No se pudo entregar la factura al comprador: {detail}",
                 "uncertain": "No se sabe si la factura llegó al comprador: {detail}",
                 "skipped": "No se envía la factura al comprador: {detail}"},
    "credit_note": {"done": "Nota crédito {number} creada en el ERP por {amount}.",
                    "failed": "No se pudo crear la nota crédito: {detail}",
                    "uncertain": "No se sabe si la nota crédito quedó creada: {detail}",
                    "skipped": "No se crea la nota crédito: {detail}"},
    "payment": {"done": "Pago de {amount} registrado en el ERP (cuenta {account}).",
                "failed": "No se pudo registrar el pago en el ERP: {detail}",
                "uncertain": "No se sabe si el pago quedó registrado: {detail}",
                "skipped": "No se registra el pago: {detail}"},
}


def _described(write: RemoteWrite) -> dict[str, Any]:
    result = write.result or {}
    where = ("adjunta a la orden en el canal" if write.via == InvoiceDelivery.CHANNEL
             else f"por e-mail a {', '.join(result.get('emails', []))}" if result.get("emails")
             else "por e-mail")
    return {"where": where, "amount": result.get("amount", ""), "account": result.get("account", ""),
            "number": result.get("number") or result.get("erp_id") or ""}


def _skip_reason(ctx: AppContext, write: RemoteWrite, order: Order, settings: InvoicingSettings | None) -> str | None:
    if write.kind != "delivery" or order.canonical is None:
        return None
    canonical = _canonical(order)
    if write.via == InvoiceDelivery.CHANNEL:
        return ctx.channel_adapter(order.channel_connection).invoice_delivery_refusal(canonical)
    if not canonical.buyer.email:  # the seller's fallback e-mail is not the buyer's: never send it there
        return "el comprador no tiene e-mail propio en el canal."
    return None


def _canonical(order: Order):
    from connector.invoicing import canonical_of  # the one place that rebuilds it (avoids an import cycle)

    return canonical_of(order)


def _action_for(ctx: AppContext, session: Session, write: RemoteWrite, invoice: Invoice, order: Order,
                erp: ERPConnection, settings: InvoicingSettings | None) -> WriteAction | str:
    adapter = ctx.erp_adapter(erp)
    erp_id = invoice.erp_id
    if write.kind == "stamp":
        def stamped() -> Remote:
            legal = adapter.get_invoice(erp_id).legal_status
            # A rejected document is no fiscal document: stamping it again is the point of a re-send.
            return NOT_DONE if legal in (L.NOT_ELECTRONIC, L.REJECTED) else Remote(True, {"legal_status": legal})

        def stamp() -> dict:
            adapter.stamp_invoice(erp_id)
            return {}

        return WriteAction(send=stamp, read=stamped)
    if write.kind == "payment":
        return _payment_action(adapter, write, invoice, order, settings)
    if write.kind == "credit_note":
        return credit_note_action(ctx, session, write, invoice, order, erp, settings)
    if write.kind == "delivery":
        canonical = _canonical(order)
        if write.via == InvoiceDelivery.CHANNEL:
            channel = ctx.channel_adapter(order.channel_connection)

            def attached() -> Remote:
                documents = channel.fiscal_documents(canonical)
                return Remote(True, {"documents": documents}) if documents else NOT_DONE

            def upload() -> dict:
                document = adapter.download_invoice_pdf(erp_id)
                return {"document_id": channel.upload_fiscal_document(canonical, document.content, document.filename)}

            # The order may already carry a document (uploaded by hand, or by a run whose answer was lost).
            return WriteAction(send=upload, read=attached, read_first=True)
        email = canonical.buyer.email

        def emailed() -> Remote:
            sent_to = adapter.get_invoice(erp_id).emailed_to
            if sent_to is None:
                return DONE_UNKNOWN
            return Remote(True, {"emails": [email]}) if email in sent_to else NOT_DONE

        def send_email() -> dict:
            adapter.email_invoice(erp_id, [email])
            return {"emails": [email]}

        return WriteAction(send=send_email, read=emailed)
    raise InvalidPayload(f"Escritura desconocida: {write.kind}")


def _payment_action(adapter, write: RemoteWrite, invoice: Invoice, order: Order,
                    settings: InvoicingSettings | None) -> WriteAction:
    if settings is None or not settings.payment_account_id:
        raise ConfigurationError("Para registrar el pago elige la cuenta bancaria o caja donde entra el dinero.")
    account, method, erp_id = settings.payment_account_id, settings.payment_account_method, invoice.erp_id
    contact_id = contact_id_of(order)

    def paid() -> Remote:
        seen = adapter.get_invoice(erp_id)
        if seen.balance is not None and seen.balance <= 0:
            last = seen.payments[-1] if seen.payments else None
            return Remote(True, {"erp_id": last.erp_id if last else None, "amount": str(seen.total),
                                 "account": (last.account_id if last else None) or account,
                                 "at": utcnow().isoformat()})
        return NOT_DONE if seen.balance is not None else DONE_UNKNOWN

    def pay() -> dict:
        seen = adapter.get_invoice(erp_id)  # pay what is owed, not more (a partial payment by hand)
        amount = seen.balance if seen.balance is not None else Decimal(invoice.total)
        result = adapter.create_payment(PaymentDraft(
            marker=write.marker, date=utcnow().date(), amount=amount, account_id=account, method=method,
            invoice_erp_id=erp_id, contact_id=contact_id))
        return {"erp_id": result.erp_id, "amount": str(result.amount), "account": result.account_id or account,
                "at": utcnow().isoformat()}

    # Read first: the seller may have recorded the payment by hand in the ERP meanwhile.
    return WriteAction(send=pay, read=paid, read_first=True)


def contact_id_of(order: Order) -> str | None:
    attempts = [a for a in order_attempts(order) if a.outcome == "created" and a.contact_id]
    return attempts[-1].contact_id if attempts else None


def order_attempts(order: Order) -> list[InvoiceAttempt]:
    from sqlalchemy.orm import object_session

    session = object_session(order)
    return list(session.scalars(select(InvoiceAttempt).where(InvoiceAttempt.order_id == order.id)
                                .order_by(InvoiceAttempt.id))) if session else []


def _stamped_again(session: Session, invoice: Invoice) -> None:
    """A stamp went out: the e-invoice waits for the authority's answer from now."""
    invoice.legal_status = L.PENDING.value
    invoice.legal_reasons = []
    invoice.status_checks = 0
    invoice.legal_checked_at = utcnow()


def _note(session: Session, order_id: int, message: str, actor: str) -> None:
    """A trail entry that changes no state (what happened after the invoice)."""
    order = session.get(Order, order_id)
    session.add(ActivityEvent(order_id=order_id, actor=actor, from_state=order.state, to_state=order.state,
                              message=message))


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
            adapter.update_contact(contact_id, build_contact(_canonical(order), settings))
        except ConnectorError as exc:
            with ctx.db.transaction() as session:
                _note(session, order_id, f"No se pudieron actualizar los datos del comprador en el ERP: "
                                         f"{exc.user_message}", actor)
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
        transition(session, order, S.INVOICED, "Se envía de nuevo la factura electrónica a la autoridad "
                                                 "tributaria.", actor=actor)
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



# -- what the seller sees -------------------------------------------------------------------------

LEGAL_STATUS_LABELS = {
    L.NOT_ELECTRONIC.value: "No electrónica", L.PENDING.value: "Esperando respuesta de la autoridad tributaria",
    L.ACCEPTED.value: "Aceptada", L.ACCEPTED_WITH_OBSERVATIONS.value: "Aceptada con observaciones",
    L.REJECTED.value: "Rechazada",
}
WRITE_STATE_LABELS = {"pending": "Pendiente", "sending": "Enviando", "ambiguous": "Verificando", "done": "Hecho",
                      "failed": "No se pudo", "skipped": "No aplica", "uncertain": "Sin confirmar"}
DELIVERY_VIA_LABELS = {InvoiceDelivery.CHANNEL: "Adjunta a la orden en el canal",
                       InvoiceDelivery.ERP_EMAIL: "E-mail del ERP al comprador"}


def _latest(invoice: Invoice, kind: str) -> RemoteWrite | None:
    writes = [w for w in invoice.writes if w.kind == kind]
    return max(writes, key=lambda w: w.generation) if writes else None


def invoice_after_view(invoice: Invoice) -> dict[str, Any]:
    """Life after the invoice as the CLI's JSON and the panel show it: ``legal_status``, ``cufe``,
    ``legal_reasons``, ``pdf_url``, ``delivery`` (None or ``{"via", "at", "status", "detail"}``) and
    ``payment`` (None or ``{"account", "amount", "at"}``, only once recorded)."""
    delivery = _latest(invoice, "delivery")
    payment = _latest(invoice, "payment")
    paid = payment if payment is not None and payment.state == "done" else None
    return {
        "legal_status": invoice.legal_status,
        "cufe": invoice.cufe,
        "legal_reasons": list(invoice.legal_reasons or []),
        "pdf_url": invoice.pdf_url,
        "delivery": None if delivery is None else {
            "via": delivery.via, "status": delivery.state, "detail": delivery.detail,
            "at": delivery.finished_at.isoformat() if delivery.finished_at else None},
        "payment": None if paid is None else {
            "account": paid.result.get("account"), "amount": paid.result.get("amount"),
            "at": paid.result.get("at") or (paid.finished_at.isoformat() if paid.finished_at else None)},
        "payment_status": None if payment is None else payment.state,
    }
