"""What a chaos run must end with, checked against the sandbox ERP's own records.

The oracle knows why each sale is in each store's stream (its scenario), so it knows which orders
must be invoiced — exactly once, for what the buyer paid — and which must wait in the error queue
or be skipped, each with a reason. It reads the Alegra sandbox's stored invoices (by the marker
each one carries), not the connector's word for it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from connector.context import AppContext
from connector.invoice_builder import invoice_marker
from connector.models import Invoice, Order, Refund, RemoteWrite
from connector.reconcile import reconcile_invoices
from connector.states import OrderState
from sandbox.catalog import SaleSpec, generate_sales
from sandbox.mercadolibre import ORDER_ID_BASE as ML_BASE
from sandbox.server import SHOPIFY_SEED_OFFSET, WOO_SEED_OFFSET
from sandbox.shopify import ORDER_ID_BASE as SHOPIFY_BASE
from sandbox.woocommerce import ORDER_ID_BASE as WOO_BASE
from tests.e2e.conftest import buyer_paid

S = OrderState
MARKER = re.compile(r"\[CX-\d+-[^\]\s]+\]")
CREDIT_MARKER = re.compile(r"\[NC-\d+-[^\]\s]+\]")

# Where each scenario must end (the rules of tests/conftest.py DEMO_RULES). Mercado Libre's "Full"
# orders are skipped; the stores have no Full, so theirs are ordinary sales.
EXPECTED = {
    "mercadolibre": {"matched": S.INVOICED, "variant": S.INVOICED, "shipping": S.INVOICED,
                     "no_document": S.INVOICED, "mismatched": S.ERROR, "fulfillment": S.SKIPPED,
                     "cancelled": S.WAITING_RULE, "pending": S.WAITING_RULE},
    "shopify": {"matched": S.INVOICED, "variant": S.INVOICED, "shipping": S.INVOICED, "no_document": S.INVOICED,
                "fulfillment": S.INVOICED, "mismatched": S.ERROR, "cancelled": S.WAITING_RULE,
                "pending": S.WAITING_RULE},
}
EXPECTED["woocommerce"] = EXPECTED["shopify"]
ID_BASE = {"mercadolibre": ML_BASE, "shopify": SHOPIFY_BASE, "woocommerce": WOO_BASE}
SEED_OFFSET = {"mercadolibre": 0, "shopify": SHOPIFY_SEED_OFFSET, "woocommerce": WOO_SEED_OFFSET}
ACTIVE_STATES = (S.RECEIVED, S.READY, S.INVOICING, S.WAITING_ERP)


def channel_sales(kind: str, seed: int, count: int) -> list[SaleSpec]:
    """The sales a seller's sandbox store of ``kind`` holds (the sandbox's own seeds)."""
    return generate_sales(count, seed=seed + SEED_OFFSET[kind])


def external_id(kind: str, spec: SaleSpec) -> str:
    return str(ID_BASE[kind] + spec.number)


@dataclass
class SellerWorld:
    """One seller as the oracle sees it: its account, its channel connections and its sandbox."""

    account_id: int
    connections: dict[str, int]  # kind -> channel connection id
    box: object  # sandbox.server.Sandbox
    sales: dict[str, list[SaleSpec]] = field(default_factory=dict)  # kind -> every sale the store holds
    erp: str = "alegra"  # the ERP the seller invoices into (its sandbox: ``box.erp(erp)``)


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    orders: int = 0
    eligible: int = 0
    invoiced: int = 0
    error_queue: int = 0
    skipped_or_waiting: int = 0
    recovered: int = 0
    erp_invoices: int = 0
    reconcile_clean: bool = False
    suspects: list[int] = field(default_factory=list)  # orders behind the problems (their trails help)
    # After the invoice, from the sandboxes' own records (each must be at most one per invoice or pack).
    stamps: int = 0  # e-invoices emitted
    accepted: int = 0
    emails: int = 0  # invoices e-mailed to buyers
    documents: int = 0  # invoices attached to marketplace orders
    payments: int = 0
    deliveries_uncertain: int = 0  # an answer was lost and the remote side cannot tell: never repeated
    deliveries_skipped: int = 0  # no buyer e-mail, or a marketplace that takes no documents
    settled_by_reading: int = 0  # writes whose lost answer was settled by reading the remote state
    credit_notes: int = 0  # in the ERP, one per refund of an invoiced order

    def after_summary(self) -> str:
        return (f"{self.stamps} e-invoices stamped ({self.accepted} accepted), {self.payments} payments, "
                f"{self.emails} e-mails and {self.documents} marketplace documents sent; "
                f"{self.settled_by_reading} writes settled by reading after a lost answer, "
                f"{self.deliveries_uncertain} deliveries left unconfirmed (never repeated), "
                f"{self.deliveries_skipped} skipped with a reason")

    def problem(self, text: str, order: Order | None = None) -> None:
        if len(self.problems) < 50:
            self.problems.append(text)
        if order is not None and len(self.suspects) < 10:
            self.suspects.append(order.id)


def verify(ctx: AppContext, sellers: list[SellerWorld], *, into: Verdict | None = None) -> Verdict:
    """Every sale in every store: invoiced exactly once when eligible (for what the buyer paid), in its
    expected state with a reason otherwise; nothing lost, nothing left in flight; ERP and records agree.
    Fills ``into`` (a fresh :class:`Verdict` by default)."""
    verdict = into if into is not None else Verdict()
    for seller in sellers:
        erp_box = seller.box.erp(seller.erp)
        records = erp_box.records()  # settles the sandbox authority's pending answers
        erp_invoices = erp_box.invoices()
        verdict.erp_invoices += len(erp_invoices)
        by_marker: dict[str, list[dict]] = {}
        for invoice in erp_invoices:
            for marker in set(MARKER.findall(str(invoice.get("observations") or ""))):
                by_marker.setdefault(marker, []).append(invoice)
        with ctx.db.session() as session:
            orders = {(o.channel_connection_id, o.external_id): o for o in session.scalars(
                select(Order).where(Order.account_id == seller.account_id))}
            invoices = {i.order_id: i for i in session.scalars(
                select(Invoice).join(Order).where(Order.account_id == seller.account_id))}
            refunds: dict[int, list] = {}
            for refund in session.scalars(select(Refund).where(Refund.account_id == seller.account_id)):
                refunds.setdefault(refund.order_id, []).append(refund)
            writes = {}
            for write in session.scalars(select(RemoteWrite).join(Order, Order.id == RemoteWrite.order_id)
                                         .where(Order.account_id == seller.account_id)):
                writes.setdefault((write.order_id, write.kind), []).append(write)
        expected_markers = set()
        given = {}  # (channel, order external id) -> the refunds the store gave
        for channel, rows in seller.box.refund_records().items():
            for row in rows:
                given.setdefault((channel, str(row["order_id"])), []).append(row)
        noted = {note["observations"] for notes in records.get("credit_notes", {}).values() for note in notes}
        for (channel, eid), _rows in given.items():
            order = orders.get((seller.connections[channel], eid))
            if order is not None and invoices.get(order.id) is None and any(eid in obs for obs in noted):
                verdict.problem(f"seller {seller.account_id} {channel} order {eid}: a credit note for an order "
                                f"never invoiced", order)
        for kind, sales in seller.sales.items():
            connection_id = seller.connections[kind]
            for spec in sales:
                verdict.orders += 1
                eid = external_id(kind, spec)
                marker = invoice_marker(connection_id, eid)
                expected_markers.add(marker)
                want = EXPECTED[kind][spec.scenario]
                found = by_marker.get(marker, [])
                order = orders.get((connection_id, eid))
                where = f"seller {seller.account_id} {kind} order {eid} ({spec.scenario})"
                if order is None:
                    verdict.problem(f"{where}: LOST — never stored")
                    continue
                if order.state in ACTIVE_STATES:
                    verdict.problem(f"{where}: still {order.state} ({order.state_reason})", order)
                if want == S.INVOICED:
                    verdict.eligible += 1
                    _check_invoiced(verdict, where, kind, order, invoices.get(order.id), found)
                    if invoices.get(order.id) is not None:
                        _check_after_invoice(verdict, where, seller, order, invoices[order.id], records, writes)
                        _check_credit_notes(verdict, where, seller, order, invoices[order.id], records,
                                            refunds.get(order.id, []), writes.get((order.id, "credit_note"), []),
                                            given.get((kind, eid), []))
                else:
                    if found:
                        verdict.problem(f"{where}: {len(found)} invoice(s) in the ERP for an order that must not "
                                        f"be invoiced", order)
                    if order.state != want:
                        verdict.problem(f"{where}: {order.state}, expected {want}", order)
                    elif not order.state_reason.strip():
                        verdict.problem(f"{where}: {order.state} without a reason", order)
                    verdict.error_queue += order.state in (S.ERROR, S.FAILED)
                    verdict.skipped_or_waiting += order.state in (S.SKIPPED, S.WAITING_RULE)
        strangers = set(by_marker) - expected_markers
        if strangers:
            verdict.problem(f"seller {seller.account_id}: ERP invoices for unknown orders {sorted(strangers)[:5]}")
        verdict.recovered += sum(1 for i in invoices.values() if i.recovered)
        if erp_invoices:
            days = sorted(date.fromisoformat(i["date"]) for i in erp_invoices)
            report = reconcile_invoices(ctx, seller.account_id, days[0], days[-1])
            if not report.clean:
                verdict.problem(f"seller {seller.account_id}: reconcile found {[f.kind for f in report.findings]}")
    verdict.reconcile_clean = not any("reconcile" in p for p in verdict.problems)
    return verdict


def _check_invoiced(verdict: Verdict, where: str, kind: str, order: Order, recorded: Invoice | None,
                    found: list[dict]) -> None:
    if len(found) != 1:
        verdict.problem(f"{where}: {len(found)} invoices in the ERP (must be exactly 1)", order)
    if order.state != S.INVOICED or recorded is None:
        verdict.problem(f"{where}: {order.state} ({order.state_reason}); must be invoiced", order)
        return
    verdict.invoiced += 1
    if found and str(found[0]["id"]) != recorded.erp_id:
        verdict.problem(f"{where}: recorded ERP invoice {recorded.erp_id}, the ERP has {found[0]['id']}")
    if found:
        total = Decimal(str(found[0]["total"]))
        tolerance = Decimal("0.01") * (len(order.canonical["lines"]) + 1 if order.canonical else 2)
        paid = buyer_paid(kind, order.raw)
        if abs(total - paid) > tolerance:
            verdict.problem(f"{where}: invoice total {total} but the buyer paid {paid}")


def _check_after_invoice(verdict: Verdict, where: str, seller: SellerWorld, order: Order, invoice: Invoice,
                         records: dict, writes: dict) -> None:
    """Stamped once and accepted, paid once, delivered at most once — from the sandboxes' records."""
    erp_id = invoice.erp_id
    stamps = records["stamps_emitted"].get(erp_id, 0)
    verdict.stamps += stamps
    if stamps != 1:
        verdict.problem(f"{where}: e-invoice stamped {stamps} times (must be exactly 1)", order)
    legal = records["legal_status"].get(erp_id)
    verdict.accepted += legal in ("STAMPED_AND_ACCEPTED", "STAMPED_AND_ACCEPTED_WITH_OBSERVATIONS", "Accepted")
    if invoice.legal_status not in ("accepted", "accepted_with_observations"):
        verdict.problem(f"{where}: e-invoice {invoice.legal_status} here, {legal} in the ERP", order)
    paid = records["payments"].get(erp_id, [])
    verdict.payments += len(paid)
    if len(paid) != 1:
        verdict.problem(f"{where}: {len(paid)} payments recorded in the ERP (must be exactly 1)", order)
    all_writes = [w for kind in ("stamp", "delivery", "payment") for w in writes.get((order.id, kind), [])]
    verdict.settled_by_reading += sum(1 for w in all_writes if (w.result or {}).get("found_by_reading"))
    if any(w.state in ("pending", "sending", "ambiguous", "failed") for w in all_writes):
        verdict.problem(f"{where}: writes left {[(w.kind, w.state, w.detail[:60]) for w in all_writes]}", order)
    for delivery in writes.get((order.id, "delivery"), []):
        if delivery.via == "channel":
            pack = (order.canonical or {}).get("pack_id") or order.external_id
            sent = len(seller.box.ml_state.fiscal_documents.uploads_for(str(pack)))
            verdict.documents += sent
        else:
            sent = len(records["emails"].get(erp_id, []))
            verdict.emails += sent
        verdict.deliveries_uncertain += delivery.state == "uncertain"
        verdict.deliveries_skipped += delivery.state == "skipped"
        allowed = {"done": (1,), "uncertain": (0, 1), "skipped": (0,)}.get(delivery.state, (0, 1))
        if sent not in allowed:
            verdict.problem(f"{where}: delivery {delivery.state} here, {sent} sent ({delivery.via})", order)


def _check_credit_notes(verdict: Verdict, where: str, seller: SellerWorld, order: Order, invoice: Invoice,
                        records: dict, refunds: list, writes: list, given: list[dict]) -> None:
    """One credit note per refund the store gave, never more than the invoice, nothing left waiting."""
    notes = records.get("credit_notes", {}).get(invoice.erp_id, [])
    verdict.credit_notes += len(notes)
    markers = Counter(m for note in notes for m in CREDIT_MARKER.findall(str(note.get("observations") or "")))
    twice = [m for m, n in markers.items() if n > 1]
    if twice:
        verdict.problem(f"{where}: credit notes made twice {twice}", order)
    done = [w for w in writes if w.state == "done"]
    if len(notes) != len(done) or set(markers) != {w.marker for w in done}:
        verdict.problem(f"{where}: {len(notes)} credit notes in the ERP, {len(done)} recorded here", order)
    if any(w.state not in ("done", "skipped") for w in writes) or any(r.state != "approved" for r in refunds):
        verdict.problem(f"{where}: refunds left {[(r.external_id, r.state) for r in refunds]} "
                        f"{[(w.state, w.detail[:60]) for w in writes]}", order)
    local = Counter()
    for refund in refunds:
        local[refund.external_id.split("+", 1)[0]] += Decimal(refund.amount)
    store = Counter()
    for row in given:
        store[str(row["refund_id"])] += Decimal(str(row["amount"]))
    if given and any(abs(local[k] - v) > Decimal("0.01") for k, v in store.items()):
        verdict.problem(f"{where}: refunds given {dict(store)} but noted {dict(local)}", order)
    if sum((Decimal(str(n["total"])) for n in notes), Decimal(0)) > Decimal(invoice.total) + Decimal("0.01"):
        verdict.problem(f"{where}: credit notes add up to more than the invoice", order)


def followups_left(ctx: AppContext) -> int:
    """Invoices with something still due after them (a status to check, a write to make)."""
    from sqlalchemy import func

    with ctx.db.session() as session:
        return session.scalar(select(func.count()).select_from(Invoice)
                              .where(Invoice.next_followup_at.is_not(None))) or 0


def trails(ctx: AppContext, order_ids: list[int]) -> str:
    """Each order's activity trail and invoice attempts, for the report of a failed run."""
    from connector.models import ActivityEvent, InvoiceAttempt

    out = []
    with ctx.db.session() as session:
        for order_id in order_ids:
            order = session.get(Order, order_id)
            out.append(f"-- order {order_id}: {order.state}, next attempt {order.next_attempt_at}, claimed "
                       f"{order.claimed_at}, dispatched {order.dispatched_at}")
            for event in session.scalars(select(ActivityEvent).where(ActivityEvent.order_id == order_id)
                                         .order_by(ActivityEvent.id)):
                out.append(f"   {event.at:%H:%M:%S.%f} {event.actor:>14} {event.from_state}->{event.to_state}"
                           f" {event.message[:120]}")
            for attempt in session.scalars(select(InvoiceAttempt).where(InvoiceAttempt.order_id == order_id)
                                           .order_by(InvoiceAttempt.id)):
                out.append(f"   attempt {attempt.id} {attempt.outcome} {attempt.detail or ''}"[:200])
            for write in session.scalars(select(RemoteWrite).where(RemoteWrite.order_id == order_id)
                                         .order_by(RemoteWrite.id)):
                out.append(f"   write {write.kind}#{write.generation} {write.state} attempts {write.attempts} "
                           f"next {write.next_attempt_at} {write.detail or ''}"[:200])
    return "\n".join(out)


def state_counts(ctx: AppContext) -> Counter:
    from sqlalchemy import func

    with ctx.db.session() as session:
        return Counter(dict(session.execute(select(Order.state, func.count()).group_by(Order.state)).all()))
