"""The ERP's webhook deliveries, and the mirror's work they start.

:func:`receive_mirror_event` is what the endpoint calls (``POST /webhooks/erp/<id>/<secret>``). The ERP
signs nothing, so the secret in the path is checked (constant time) and the body is trusted for two
things only — which change, and the record's id. The event is recorded and handed to the background
(Celery task, or the in-process pool the channel webhooks use), and the answer is immediate: the ERP
gives up on a subscription whose deliveries are slow or failing.

:func:`process_mirror_events` (the background work) re-reads each record by id and updates the mirror:
an item in ``catalog_items`` (orders in the error queue for one of its codes are evaluated again at
once), a contact in ``erp_contacts``, an invoice's status check brought forward. Duplicates and events
arriving out of order are harmless: the record is read as the ERP has it *now*, and every pending event
of the same record is settled by that one read.

:func:`run_mirror_work` is the frequent periodic job: pending events processed (a delivery whose hand-off
failed), then, from spare window room only, the contacts import and the catalog backstop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import exists, select, update

from connector.context import AppContext
from connector.errors import ConnectorError, InvalidPayload, NotFound, RateLimitDeferred
from connector.mirror import connection_for_secret, webhooks_healthy
from connector.mirror_contacts import forget_contact, import_contacts_step, upsert_contact
from connector.models import (
    ChannelConnection,
    ERPConnection,
    ERPContact,
    ERPMirrorEvent,
    ERPWebhookSubscription,
    Invoice,
    Order,
    OrderLine,
    utcnow,
)
from connector.ratelimit import RequestClass, request_class
from connector.states import OrderState
from connector.stock import on_erp_invoice_changed, on_erp_item_changed
from erp.base import MirrorEvent
from mapping.catalog import fetch_catalog, remove_item, replace_catalog, upsert_item

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MirrorReceipt:
    """How a delivery was answered: ``http_status`` and a word (never any detail)."""

    http_status: int
    outcome: str  # accepted | ignored | not_found | invalid


def receive_mirror_event(ctx: AppContext, erp_connection_id: int, secret: str, raw_body: bytes) -> MirrorReceipt:
    """Authenticate by the path's secret, record (event, id) and hand the work off. Never raises."""
    erp = connection_for_secret(ctx, erp_connection_id, secret)
    if erp is None:
        return MirrorReceipt(404, "not_found")  # an unknown connection and a wrong secret look the same
    adapter = ctx.erp_adapter(erp)
    if not hasattr(adapter, "parse_mirror_notice"):  # an ERP without webhooks was never subscribed
        return MirrorReceipt(404, "not_found")
    try:
        notice = adapter.parse_mirror_notice(raw_body)
    except InvalidPayload:
        return MirrorReceipt(400, "invalid")
    if notice is None:
        return MirrorReceipt(200, "ignored")
    with ctx.db.transaction() as session:
        session.add(ERPMirrorEvent(erp_connection_id=erp.id, event=notice.event.value,
                                   record_id=notice.record_id[:60], outcome="queued"))
        session.execute(update(ERPWebhookSubscription).where(
            ERPWebhookSubscription.erp_connection_id == erp.id,
            ERPWebhookSubscription.event == adapter.mirror_events.get(notice.event, ""))
            .values(last_event_at=utcnow()))
    enqueue_mirror_events(ctx, erp.id)
    return MirrorReceipt(200, "accepted")


def enqueue_mirror_events(ctx: AppContext, erp_connection_id: int) -> bool:
    """Hand the connection's pending events to Celery or to the in-process pool (False: the periodic
    round takes them)."""
    if ctx.settings.uses_celery:
        from connector.tasks import process_mirror_events_task  # noqa: PLC0415 - tasks import this module

        try:
            process_mirror_events_task.delay(erp_connection_id)
            return True
        except Exception as exc:  # noqa: BLE001 - broker down: the periodic round is the backstop
            log.warning("mirror events of ERP connection %s not queued: %s", erp_connection_id, type(exc).__name__)
            return False
    from connector.webhooks import background_work  # noqa: PLC0415 - webhooks imports the pipeline

    return background_work.submit(lambda: process_mirror_events(ctx, erp_connection_id))


# -- the work --------------------------------------------------------------------------------------


def process_mirror_events(ctx: AppContext, erp_connection_id: int, limit: int = 200) -> dict[str, int]:
    """Settle the connection's pending events, one read per record; {outcome: count}."""
    counts: dict[str, int] = {}
    with ctx.db.session() as session:
        pending = list(session.execute(
            select(ERPMirrorEvent.event, ERPMirrorEvent.record_id).where(
                ERPMirrorEvent.erp_connection_id == erp_connection_id, ERPMirrorEvent.processed_at.is_(None))
            .order_by(ERPMirrorEvent.id).limit(limit)))
    seen: set[tuple[str, str]] = set()
    for event_value, record_id in pending:
        event = MirrorEvent(event_value)
        if (event.record, record_id) in seen:
            continue
        seen.add((event.record, record_id))
        codes: list[str] = []
        try:
            with request_class(RequestClass.FOLLOWUP):
                outcome = _apply(ctx, erp_connection_id, event, record_id, codes)
        except RateLimitDeferred:
            outcome = "deferred"  # stays pending: the next round takes it
        except ConnectorError as exc:
            log.warning("mirror event %s %s: %s", event.value, record_id, exc.detail or exc)
            outcome = "failed"
        if outcome != "deferred":
            _settle(ctx, erp_connection_id, event.record, record_id, outcome)
        # Settled first: the invoices this leads to bring notices of their own, whose work must not
        # read this record again.
        reevaluate_orders_for_codes(ctx, erp_connection_id, codes)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _settle(ctx: AppContext, erp_connection_id: int, record: str, record_id: str, outcome: str) -> None:
    kinds = [e.value for e in MirrorEvent if e.record == record]
    with ctx.db.transaction() as session:
        session.execute(update(ERPMirrorEvent).where(
            ERPMirrorEvent.erp_connection_id == erp_connection_id, ERPMirrorEvent.record_id == record_id,
            ERPMirrorEvent.event.in_(kinds), ERPMirrorEvent.processed_at.is_(None))
            .values(processed_at=utcnow(), outcome=outcome[:30]))


def _apply(ctx: AppContext, erp_connection_id: int, event: MirrorEvent, record_id: str, codes: list[str]) -> str:
    """Update the mirror from the record as the ERP has it now; an item's codes go into ``codes``."""
    with ctx.db.session() as session:
        erp = session.get(ERPConnection, erp_connection_id)
        if erp is None:
            return "gone"
        session.expunge(erp)
    adapter = ctx.erp_adapter(erp)
    if event.record == "item":
        return _apply_item(ctx, adapter, erp_connection_id, record_id, codes, deleted=event.deletes)
    if event.record == "contact":
        return _apply_contact(ctx, adapter, erp_connection_id, record_id, deleted=event.deletes,
                              created=event is MirrorEvent.CONTACT_CREATED)
    return _apply_invoice(ctx, erp_connection_id, record_id)


def _apply_item(ctx: AppContext, adapter, erp_connection_id: int, record_id: str, codes: list[str], *,
                deleted: bool) -> str:
    item = None
    if not deleted:
        try:
            item = adapter.get_item(record_id)
        except NotFound:
            item = None
    with ctx.db.transaction() as session:
        if item is None:
            remove_item(session, erp_connection_id, record_id)
            return "item_removed"
        codes.extend(upsert_item(session, erp_connection_id, item))
    # Its stock (or price) may have changed too: published to the channels on the next stock sweep.
    on_erp_item_changed(ctx, erp_connection_id, record_id, reason="producto editado en el ERP")
    return "item_saved"


def _apply_contact(ctx: AppContext, adapter, erp_connection_id: int, record_id: str, *, deleted: bool,
                   created: bool = False) -> str:
    known, creating = _known_or_creating(ctx, erp_connection_id, record_id) if created else (False, False)
    if known:
        # The echo of a contact the connector created (or already imported): nothing new to read, and
        # re-reading it would make every new buyer cost a third request.
        return "contact_known"
    if creating:
        # The connector is creating a buyer right now and has not recorded the id the ERP gave it yet:
        # this is most likely that contact's echo, which arrives as fast as the ERP's answer. Left pending
        # for the next round (connector.mirror_events.run_mirror_work), by when it is known and costs
        # nothing; reading it now would make a new buyer cost a third request.
        return "deferred"
    record = None
    if not deleted:
        try:
            record = adapter.get_contact(record_id)
        except NotFound:
            record = None
    with ctx.db.transaction() as session:
        if record is None:
            forget_contact(session, erp_connection_id, record_id)
            return "contact_removed"
        upsert_contact(session, erp_connection_id, record, source="event")
    return "contact_saved"


def _known_or_creating(ctx: AppContext, erp_connection_id: int, record_id: str) -> tuple[bool, bool]:
    """Whether the contact is in the mirror, and whether a contact creation claimed by a worker
    (connector.contacts) is not finished yet — asked in one statement, so in one snapshot. Asked one
    after the other, a creation that finished in between looked neither known (asked first) nor in
    flight (asked second), and its echo was read: a third request for a new buyer."""
    known = exists().where(ERPContact.erp_connection_id == erp_connection_id, ERPContact.erp_contact_id == record_id)
    creating = exists().where(ERPContact.erp_connection_id == erp_connection_id, ERPContact.erp_contact_id.is_(None),
                              ERPContact.claimed_until > utcnow())
    with ctx.db.session() as session:
        row = session.execute(select(known, creating)).one()
    return bool(row[0]), bool(row[1])


def _apply_invoice(ctx: AppContext, erp_connection_id: int, record_id: str) -> str:
    """An invoice changed in the ERP (stamped, answered by the authority, paid): its follow-up, if one
    is waiting, reads it now instead of at its next scheduled check. No request here."""
    now = utcnow()
    with ctx.db.transaction() as session:
        moved = session.execute(update(Invoice).where(
            Invoice.erp_connection_id == erp_connection_id, Invoice.erp_id == record_id,
            Invoice.next_followup_at.is_not(None), Invoice.next_followup_at > now)
            .values(next_followup_at=now)).rowcount
        # An invoice of ours edited in the ERP (voided, its lines changed) moves stock: its items are
        # published again on the next stock sweep. Known from the order, no request. (Invoices made in
        # the ERP itself are caught by the stock sweep's periodic full comparison.)
        items = set(session.scalars(select(OrderLine.erp_item_id).join(Invoice, Invoice.order_id == OrderLine.order_id)
                                    .where(Invoice.erp_connection_id == erp_connection_id, Invoice.erp_id == record_id,
                                           OrderLine.erp_item_id.is_not(None))))
    if items:
        on_erp_invoice_changed(ctx, erp_connection_id, items, reason="factura editada en el ERP")
    return "invoice_due" if moved else "invoice_unchanged"


def reevaluate_orders_for_codes(ctx: AppContext, erp_connection_id: int, codes: list[str]) -> list[int]:
    """Orders in the error queue with a line whose SKU is one of ``codes``: through the pipeline again,
    now (the item they waited for exists). Returns their ids."""
    if not codes:
        return []
    from connector.pipeline import process_order_safely  # noqa: PLC0415 - the pipeline imports the mirror

    with ctx.db.session() as session:
        account_id = session.scalar(select(ERPConnection.account_id).where(ERPConnection.id == erp_connection_id))
        ids = list(session.scalars(
            select(Order.id).distinct().join(OrderLine, OrderLine.order_id == Order.id)
            .join(ChannelConnection, ChannelConnection.id == Order.channel_connection_id)
            .where(ChannelConnection.account_id == account_id, Order.state == OrderState.ERROR.value,
                   OrderLine.sku_key.in_(codes), OrderLine.erp_item_id.is_(None))
            .order_by(Order.id)))
    with request_class(RequestClass.DOCUMENTS):  # an invoice, even when a notice's work leads to it
        for order_id in ids:
            process_order_safely(ctx, order_id)
    return ids


# -- the periodic round ------------------------------------------------------------------------------


def catalog_backstop_due(ctx: AppContext, erp: ERPConnection) -> bool:
    refreshed = erp.catalog_refreshed_at
    return refreshed is None or utcnow() - refreshed >= timedelta(seconds=ctx.settings.catalog_backstop_seconds)


def run_catalog_backstop(ctx: AppContext, erp_connection_id: int) -> bool:
    """Re-read the whole catalog from spare window room only (a full read that finds no room gives up
    and is tried next round). True when the catalog was replaced."""
    with ctx.db.session() as session:
        erp = session.get(ERPConnection, erp_connection_id)
        if erp is None or not catalog_backstop_due(ctx, erp):
            return False
        session.expunge(erp)
    try:
        with request_class(RequestClass.MIRROR):
            items = fetch_catalog(ctx.erp_adapter(erp))
    except RateLimitDeferred:
        return False
    except ConnectorError as exc:
        log.warning("ERP connection %s: catalog backstop failed: %s", erp_connection_id, exc.detail or exc)
        return False
    with ctx.db.transaction() as session:
        replace_catalog(session, session.get(ERPConnection, erp_connection_id), items)
    return True


def run_mirror_work(ctx: AppContext) -> dict[str, int]:
    """The frequent periodic job: pending events (a hand-off that failed), then the spare-room reads
    (contacts import, catalog backstop). The subscriptions are checked by their own, slower job
    (:func:`connector.mirror.check_all_subscriptions`)."""
    counts: dict[str, int] = {}
    with ctx.db.session() as session:
        ids = list(session.scalars(select(ERPConnection.id).order_by(ERPConnection.id)))
    for erp_connection_id in ids:
        try:
            for outcome, number in process_mirror_events(ctx, erp_connection_id).items():
                counts[f"event:{outcome}"] = counts.get(f"event:{outcome}", 0) + number
            counts["contacts_imported"] = counts.get("contacts_imported", 0) + import_contacts_step(ctx, erp_connection_id)
            if webhooks_healthy(ctx, erp_connection_id):
                counts["catalog_backstops"] = counts.get("catalog_backstops", 0) + run_catalog_backstop(
                    ctx, erp_connection_id)
        except ConnectorError as exc:  # one seller's ERP must not stop the others
            log.warning("ERP connection %s: mirror round: %s", erp_connection_id, exc.detail or exc)
    return counts
