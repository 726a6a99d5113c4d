"""Life after the invoice as the seller sees it (the CLI's JSON, the panel): the e-invoice status, the
delivery, the payment, with their labels."""

from __future__ import annotations

from typing import Any

from channels.base import InvoiceDelivery
from connector.models import Invoice, RemoteWrite
from erp.base import LegalStatus

L = LegalStatus

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
