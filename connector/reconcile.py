"""``connector reconcile``: compare the ERP's invoices with our records for a date range.

The ERP is the fiscal truth. Each invoice we create carries its order's marker (``[CX-<channel
connection>-<order>]``) in its internal observations, so the two sides can be matched exactly:

* **missing here** — the ERP has an invoice for one of our orders that we never recorded (a crash
  between the ERP's commit and ours). ``--repair`` records it and marks the order invoiced.
* **duplicated in the ERP** — more than one ERP invoice carries the same marker. A fiscal document
  cannot be deleted by us: the report names them so a person voids the extra one in the ERP.
* **missing in the ERP** — we recorded an invoice the ERP no longer lists (voided or deleted there).

Credit notes are compared the same way, by the refund's marker (``[NC-<channel connection>-<order>-
<refund>]``): a note the ERP has and we did not record (``--repair`` records it), a refund credited
twice, a note we recorded that the ERP no longer lists.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from connector.context import AppContext
from connector.errors import ConfigurationError
from connector.fiscal import fiscal_profile_of, local_zone
from connector.invoicing import record_invoice
from connector.models import ChannelConnection, Invoice, Order, RemoteWrite, utcnow
from connector.services import find_account, get_erp_connection
from erp.base import InvoiceResult

MARKER = re.compile(r"\[CX-(\d+)-([^\]\s]+)\]")
CREDIT_MARKER = re.compile(r"\[NC-(\d+)-([^\]\s]+)-(\d+)\]")

# The ERP lists invoices page by page: a range of years reads for many minutes and holds the command.
# A longer period is reconciled a year at a time.
MAX_RANGE_DAYS = 366


@dataclass
class Finding:
    kind: str  # missing_here | duplicated_in_erp | missing_in_erp | unknown_order
    marker: str
    erp_ids: list[str]
    order_id: int | None = None
    detail: str = ""
    repaired: bool = False


@dataclass
class ReconcileReport:
    start: date
    end: date
    erp_invoices: int = 0
    matched: int = 0
    erp_credit_notes: int = 0
    matched_credit_notes: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not any(not f.repaired for f in self.findings)

    def as_dict(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "erp_invoices": self.erp_invoices,
                "matched": self.matched, "erp_credit_notes": self.erp_credit_notes,
                "matched_credit_notes": self.matched_credit_notes, "clean": self.clean,
                "findings": [f.__dict__ for f in self.findings]}


def reconcile_invoices(ctx: AppContext, account_ref, start: date, end: date, *, repair: bool = False,
                       actor: str = "reconcile") -> ReconcileReport:
    """Compare the ERP's invoices dated ``start``..``end`` with ours; repair what is safe when asked."""
    if end < start:
        raise ConfigurationError("El final del rango es anterior al inicio.")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ConfigurationError(f"El rango abarca {(end - start).days + 1} días: como máximo {MAX_RANGE_DAYS} "
                                 "días por conciliación (concilia por años o por meses).")
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        erp = get_erp_connection(session, account)
        connection_ids = set(session.scalars(
            select(ChannelConnection.id).where(ChannelConnection.account_id == account.id)))
    by_marker: dict[str, list[InvoiceResult]] = defaultdict(list)
    report = ReconcileReport(start, end)
    for invoice in ctx.erp_adapter(erp).iter_invoices(start, end):  # read before any transaction
        report.erp_invoices += 1
        found = MARKER.search(str(invoice.raw.get("observations") or ""))
        if found and int(found.group(1)) in connection_ids:
            by_marker[found.group(0)].append(invoice)
    seen_erp_ids: set[str] = set()
    with ctx.db.session() as session:
        for marker, invoices in sorted(by_marker.items()):
            seen_erp_ids.update(i.erp_id for i in invoices)
            report.findings.extend(_check_marker(session, erp, marker, invoices, report, repair, actor))
        report.findings.extend(_missing_in_erp(session, erp, start, end, seen_erp_ids))
        session.commit()
    _reconcile_credit_notes(ctx, erp, connection_ids, report, repair)
    return report


def _reconcile_credit_notes(ctx: AppContext, erp, connection_ids: set[int], report: ReconcileReport,
                            repair: bool) -> None:
    """The ERP's credit notes of the range against the credit-note writes recorded here."""
    by_marker: dict[str, list] = defaultdict(list)
    for note in ctx.erp_adapter(erp).iter_credit_notes(report.start, report.end):
        report.erp_credit_notes += 1
        found = CREDIT_MARKER.search(note.observations or str(note.raw.get("observations") or ""))
        if found and int(found.group(1)) in connection_ids:
            by_marker[found.group(0)].append(note)
    seen: set[str] = set()
    with ctx.db.session() as session:
        for marker, notes in sorted(by_marker.items()):
            erp_ids = sorted(n.erp_id for n in notes)
            seen.update(erp_ids)
            if len(notes) > 1:
                report.findings.append(Finding("credit_note_twice", marker, erp_ids, None,
                                               "Varias notas crédito del ERP para el mismo reembolso: anula las "
                                               "sobrantes en el ERP."))
            write = session.scalar(select(RemoteWrite).where(RemoteWrite.kind == "credit_note",
                                                             RemoteWrite.marker == marker)
                                   .order_by(RemoteWrite.generation.desc()).limit(1))
            if write is None:
                report.findings.append(Finding("credit_note_unknown", marker, erp_ids, None,
                                               "El ERP tiene una nota crédito de un reembolso que no está aquí."))
            elif write.state == "done" and write.result.get("erp_id") in erp_ids:
                report.matched_credit_notes += 1
            else:
                finding = Finding("credit_note_missing_here", marker, erp_ids, write.order_id,
                                  f"El ERP tiene la nota crédito y aquí consta como «{write.state}».")
                if repair and len(notes) == 1 and write.state != "done":
                    note = notes[0]
                    write.state, write.finished_at, write.claim_token, write.claimed_until = "done", utcnow(), None, None
                    write.result = {**(write.result or {}), "erp_id": note.erp_id, "number": note.number,
                                    "total": str(note.total), "amount": str(note.total),
                                    "legal_status": str(note.legal_status), "found_by_reading": True}
                    finding.repaired = True
                report.findings.append(finding)
        since, until = _local_days(report.start, report.end, erp)
        for write in session.scalars(select(RemoteWrite).join(Invoice, Invoice.id == RemoteWrite.invoice_id).where(
                Invoice.erp_connection_id == erp.id, RemoteWrite.kind == "credit_note", RemoteWrite.state == "done",
                RemoteWrite.created_at >= since, RemoteWrite.created_at < until)):
            if write.result.get("erp_id") not in seen:
                report.findings.append(Finding("credit_note_missing_in_erp", write.marker,
                                               [str(write.result.get("erp_id"))], write.order_id,
                                               "Registrada aquí pero el ERP ya no la lista."))
        session.commit()


def _check_marker(session, erp, marker: str, invoices: list[InvoiceResult], report: ReconcileReport,
                  repair: bool, actor: str) -> list[Finding]:
    connection_id, external_id = MARKER.fullmatch(marker).groups()
    order = session.scalar(select(Order).where(Order.channel_connection_id == int(connection_id),
                                               Order.external_id == external_id))
    erp_ids = sorted(i.erp_id for i in invoices)
    findings = []
    if len(invoices) > 1:
        findings.append(Finding("duplicated_in_erp", marker, erp_ids, order.id if order else None,
                                "Varias facturas del ERP para la misma orden: anula las sobrantes en el ERP."))
    if order is None:
        findings.append(Finding("unknown_order", marker, erp_ids, None,
                                "El ERP tiene una factura de una orden que no está en la base de datos."))
        return findings
    recorded = session.scalar(select(Invoice).where(Invoice.order_id == order.id))
    if recorded is not None and recorded.erp_id in erp_ids:
        report.matched += 1
        return findings
    if recorded is not None:
        findings.append(Finding("missing_here", marker, erp_ids, order.id,
                                f"Registrada localmente con otra factura del ERP ({recorded.erp_id})."))
        return findings
    finding = Finding("missing_here", marker, erp_ids, order.id, "El ERP tiene la factura y aquí no consta.")
    if repair and len(invoices) == 1:
        record_invoice(session, order, erp, invoices[0], marker, actor=actor, recovered=True)
        finding.repaired = True
    findings.append(finding)
    return findings


def _local_days(start: date, end: date, erp) -> tuple[datetime, datetime]:
    """The instants the days ``start``..``end`` span where documents are dated (the ERP account's zone)."""
    zone = local_zone(fiscal_profile_of(erp))
    return (datetime.combine(start, time.min, zone), datetime.combine(end + timedelta(days=1), time.min, zone))


def _missing_in_erp(session, erp, start: date, end: date, seen_erp_ids: set[str]) -> list[Finding]:
    erp_id = erp.id
    since, until = _local_days(start, end, erp)
    rows = session.scalars(select(Invoice).where(Invoice.erp_connection_id == erp_id, Invoice.created_at >= since,
                                                 Invoice.created_at < until))
    return [Finding("missing_in_erp", row.marker, [row.erp_id], row.order_id,
                    "Registrada aquí pero el ERP ya no la lista (¿anulada o borrada en el ERP?).")
            for row in rows if row.erp_id not in seen_erp_ids]
