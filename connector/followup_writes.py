"""The writes that follow an invoice — stamp, delivery to the buyer, payment, credit note — each
carried out exactly once by :func:`connector.remote_writes.perform`, and what the order's trail says
of each. :mod:`connector.followup` decides when they are due."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.base import InvoiceDelivery
from channels.registry import channel_class
from connector.context import AppContext
from connector.errors import ConfigurationError, ConnectorError, InvalidPayload
from connector.models import ActivityEvent, ERPConnection, Invoice, InvoiceAttempt, Order, RemoteWrite, utcnow
from connector.reasons import N_, code_columns, reason
from connector.refunds import credit_note_action
from connector.remote_writes import DONE_UNKNOWN, NOT_DONE, Remote, WriteAction, perform
from connector.rules import InvoicingSettings, effective_settings
from erp.base import LegalStatus, PaymentDraft

L = LegalStatus


def settings_of(order: Order, erp: ERPConnection) -> InvoicingSettings | None:
    try:
        return effective_settings(erp.settings, order.channel_connection.settings_overrides)
    except ConfigurationError:
        return None


def delivery_via(order: Order) -> str:
    """How this order's buyer gets the invoice: the channel adapter declares it."""
    return getattr(channel_class(order.channel_connection.kind), "invoice_delivery", InvoiceDelivery.ERP_EMAIL)


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
            note_in_trail(session, order.id, reason(_MESSAGES[write.kind]["skipped"], detail=skip), actor)
            session.commit()
            return "skipped"
        try:
            action = _action_for(ctx, session, write, invoice, order, erp, settings)
        except ConnectorError as exc:  # the order or a setting cannot give what the write needs
            write.state, write.detail, write.finished_at = "failed", exc.user_message, utcnow()
            note_in_trail(session, order.id, reason(_MESSAGES[write.kind]["failed"], detail=exc.user_message), actor)
            session.commit()
            return "failed"
        if isinstance(action, str):  # nothing to write, and why
            write.state, write.detail, write.finished_at, write.next_attempt_at = "skipped", action, utcnow(), None
            note_in_trail(session, order.id, reason(_MESSAGES[write.kind]["skipped"], detail=action), actor)
            session.commit()
            return "skipped"
        kind, order_id = write.kind, order.id
        session.commit()
    state = perform(ctx, write_id, action)
    with ctx.db.transaction() as session:
        write = session.get(RemoteWrite, write_id)
        if state in ("done", "failed", "uncertain"):
            if kind == "stamp" and state == "done":
                mark_stamped_again(session, write.invoice)
            described = _described(write)
            template = _MESSAGES[kind][state]
            # Only the parameters the template names: a stored code carries nothing it does not show.
            params = {k: v for k, v in {"detail": write.detail, **described}.items() if f"%({k})s" in template}
            note_in_trail(session, order_id, reason(template, **params), actor)
    return state


# Trail entries of each write's end, as reason templates (connector/reasons.py: N_ marks them for the
# panel's catalog; each reader sees them in their language).
_MESSAGES: dict[str, dict[str, str]] = {
    "stamp": {"done": N_("Factura electrónica enviada a la autoridad tributaria; se espera su respuesta."),
              "failed": N_("No se pudo emitir la factura electrónica: %(detail)s"),
              "uncertain": N_("No se sabe si la factura electrónica se emitió: %(detail)s"),
              "skipped": N_("No se emite la factura electrónica: %(detail)s")},
    "delivery": {"done": N_("Factura entregada al comprador (%(where)s)."),
                 "failed": N_("No se pudo entregar la factura al comprador: %(detail)s"),
                 "uncertain": N_("No se sabe si la factura llegó al comprador: %(detail)s"),
                 "skipped": N_("No se envía la factura al comprador: %(detail)s")},
    "credit_note": {"done": N_("Nota crédito %(number)s creada en el ERP por %(amount)s."),
                    "failed": N_("No se pudo crear la nota crédito: %(detail)s"),
                    "uncertain": N_("No se sabe si la nota crédito quedó creada: %(detail)s"),
                    "skipped": N_("No se crea la nota crédito: %(detail)s")},
    "payment": {"done": N_("Pago de %(amount)s registrado en el ERP (cuenta %(account)s)."),
                "failed": N_("No se pudo registrar el pago en el ERP: %(detail)s"),
                "uncertain": N_("No se sabe si el pago quedó registrado: %(detail)s"),
                "skipped": N_("No se registra el pago: %(detail)s")},
}


def _described(write: RemoteWrite) -> dict[str, Any]:
    result = write.result or {}
    where = (reason("adjunta a la orden en el canal") if write.via == InvoiceDelivery.CHANNEL
             else reason("por e-mail a %(emails)s", emails=", ".join(result.get("emails", []))) if result.get("emails")
             else reason("por e-mail"))
    return {"where": where, "amount": result.get("amount", ""), "account": result.get("account", ""),
            "number": result.get("number") or result.get("erp_id") or ""}


def _skip_reason(ctx: AppContext, write: RemoteWrite, order: Order, settings: InvoicingSettings | None) -> str | None:
    if write.kind != "delivery" or order.canonical is None:
        return None
    canonical = canonical_order(order)
    if write.via == InvoiceDelivery.CHANNEL:
        return ctx.channel_adapter(order.channel_connection).invoice_delivery_refusal(canonical)
    if not canonical.buyer.email:  # the seller's fallback e-mail is not the buyer's: never send it there
        return "el comprador no tiene e-mail propio en el canal."
    return None


def canonical_order(order: Order):
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
        canonical = canonical_order(order)
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


def mark_stamped_again(session: Session, invoice: Invoice) -> None:
    """A stamp went out: the e-invoice waits for the authority's answer from now."""
    invoice.legal_status = L.PENDING.value
    invoice.legal_reasons = []
    invoice.status_checks = 0
    invoice.legal_checked_at = utcnow()


def note_in_trail(session: Session, order_id: int, message: str, actor: str) -> None:
    """A trail entry that changes no state (what happened after the invoice)."""
    order = session.get(Order, order_id)
    msgid, params = code_columns(message)  # a reason keeps its template (connector/reasons.py)
    session.add(ActivityEvent(order_id=order_id, actor=actor, from_state=order.state, to_state=order.state,
                              message=str(message), message_msgid=msgid, message_params=params))
