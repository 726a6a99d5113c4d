"""The contacts mirror: the ERP's contacts, by identification number, in ``erp_contacts``.

Filled once in the background (:func:`import_contacts_step`), a page at a time, only from the spare room
of the ERP user's window (:class:`~connector.ratelimit.RequestClass` ``MIRROR``), resumable from the
connection's cursor (``contacts_import_start``); kept fresh by the ERP's contact webhooks
(:func:`upsert_contact` / :func:`forget_contact`, from :mod:`connector.mirror_events`) and by the
contacts the connector itself creates (:mod:`connector.contacts`).

Once the import is done and the webhooks are healthy, the mirror knows every contact of the ERP, so
:func:`connector.contacts.resolve_contact` finds a known buyer locally and creates a new one without
searching first (:func:`mirror_is_complete`).
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connector.context import AppContext
from connector.errors import ConnectorError, RateLimitDeferred
from connector.mirror import webhooks_healthy
from connector.models import ERPConnection, ERPContact, utcnow
from connector.ratelimit import RequestClass, request_class
from erp.base import ContactRecord

log = logging.getLogger(__name__)

MAX_NUMBER = 60  # erp_contacts.identification_number


def upsert_contact(session: Session, erp_connection_id: int, record: ContactRecord, *, source: str) -> bool:
    """Remember ``record`` under its identification number. A number already known for another contact
    keeps its first contact (the ERP allows duplicates; the connector keeps invoicing to the one it knew).
    True when the mirror changed."""
    number = (record.identification_number or "").strip()[:MAX_NUMBER]
    stale = session.execute(delete(ERPContact).where(
        ERPContact.erp_connection_id == erp_connection_id, ERPContact.erp_contact_id == record.erp_id,
        ERPContact.identification_number != number)).rowcount
    if not number:
        return bool(stale)
    row = session.scalar(select(ERPContact).where(ERPContact.erp_connection_id == erp_connection_id,
                                                  ERPContact.identification_number == number))
    if row is not None:
        if row.erp_contact_id != record.erp_id:  # a claim in progress, or another contact with that number
            return bool(stale)
        row.name, row.identification_type = record.name[:200], record.identification_type
        return True
    try:
        with session.begin_nested():
            session.add(ERPContact(erp_connection_id=erp_connection_id, identification_number=number,
                                   erp_contact_id=record.erp_id, identification_type=record.identification_type,
                                   name=record.name[:200], source=source))
    except IntegrityError:  # a worker claimed that number meanwhile: its contact wins
        return bool(stale)
    return True


def forget_contact(session: Session, erp_connection_id: int, erp_id: str) -> int:
    """The ERP deleted the contact: forget it (the next order of that buyer creates it again)."""
    return session.execute(delete(ERPContact).where(ERPContact.erp_connection_id == erp_connection_id,
                                                    ERPContact.erp_contact_id == erp_id)).rowcount


def import_contacts_step(ctx: AppContext, erp_connection_id: int, *, max_pages: int | None = None) -> int:
    """Import pages of the ERP's contacts from the connection's cursor while the window has spare room
    (``max_pages`` at most). Returns the contacts read; the cursor is saved after every page."""
    with ctx.db.session() as session:
        erp = session.get(ERPConnection, erp_connection_id)
        if erp is None or erp.contacts_import_start is None:
            return 0
        start = erp.contacts_import_start
        session.expunge(erp)
    adapter = ctx.erp_adapter(erp)
    if not hasattr(adapter, "list_contacts_page"):  # an ERP adapter without the mirror's reads
        return 0
    read = pages = 0
    with request_class(RequestClass.MIRROR):
        while start is not None and (max_pages is None or pages < max_pages):
            try:
                page = adapter.list_contacts_page(start)
            except RateLimitDeferred:  # no spare room now: invoices go first; resume next round
                break
            except ConnectorError as exc:
                log.warning("ERP connection %s: contacts import paused: %s", erp_connection_id, exc.detail or exc)
                break
            with ctx.db.transaction() as session:
                for record in page.contacts:
                    upsert_contact(session, erp_connection_id, record, source="import")
                row = session.get(ERPConnection, erp_connection_id)
                row.contacts_import_start = page.next_start
                if page.next_start is None:
                    row.contacts_imported_at = utcnow()
            read += len(page.contacts)
            pages += 1
            start = page.next_start
    return read


def mirror_is_complete(ctx: AppContext, erp_connection_id: int) -> bool:
    """Every contact of the ERP is known locally: the import finished and the webhooks keep it fresh."""
    with ctx.db.session() as session:
        erp = session.get(ERPConnection, erp_connection_id)
        done = erp is not None and erp.contacts_imported_at is not None and erp.contacts_import_start is None
    return done and webhooks_healthy(ctx, erp_connection_id)


def restart_import(session: Session, erp: ERPConnection) -> None:
    """Import the contacts again from the first page (a new ERP company was connected)."""
    erp.contacts_import_start, erp.contacts_imported_at = 0, None
