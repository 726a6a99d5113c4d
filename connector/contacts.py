"""Buyers become ERP contacts once: a local cache, an exact search in the ERP, then one creation.

Two orders of the same new buyer often arrive together (a Mercado Libre cart becomes one order per
item, all with the same buyer) and two workers would each search, find nothing and create the same
contact twice. So creating a contact is claimed first: the ``erp_contacts`` row is inserted with no
contact id and a short claim; whoever inserted it searches and creates, everyone else waits a
moment for the id (or comes back a few seconds later). A claimer that died stops blocking others
when its claim runs out (a live claimer renews it: :mod:`connector.leases`).
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from connector.context import AppContext
from connector.errors import Contended
from connector.leases import LeaseKeeper
from connector.mirror_contacts import mirror_is_complete
from connector.models import ERPContact, utcnow
from erp.base import ContactDraft, ERPAdapter

# A claim is renewed while its owner works, so it can be short: a killed owner blocks the buyer's
# other orders only this long.
CLAIM_SECONDS = 15
WAIT_SECONDS = 3.0  # how long a second worker waits for the first one's contact before coming back later
POLL_SECONDS = 0.1


class ContactBeingCreated(Contended):
    """Another worker is creating this buyer's contact right now."""

    def __init__(self, number: str, retry_after: float = 5.0):
        super().__init__("Otro proceso está creando este contacto en el ERP; se continúa en unos segundos.",
                         retry_after=retry_after, detail=f"contact …{number[-4:]} claimed by another worker")


def resolve_contact(ctx: AppContext, erp_connection_id: int, adapter: ERPAdapter, contact: ContactDraft) -> str:
    """The ERP contact id for ``contact``: the local mirror, then an exact search, then create (once).

    When the contacts mirror is complete (:func:`connector.mirror_contacts.mirror_is_complete`: every ERP
    contact imported and kept fresh by the ERP's webhooks) a buyer it does not know is new to the ERP too,
    so it is created without searching first: a new buyer costs the creation and the invoice."""
    number = contact.identification_number
    known = _known(ctx, erp_connection_id, number)
    if known is not None:
        return known
    if not _claim(ctx, erp_connection_id, number):
        return _wait_for_other(ctx, erp_connection_id, number)
    try:
        with LeaseKeeper(lambda: _renew(ctx, erp_connection_id, number), CLAIM_SECONDS / 3, f"contact-{number[-4:]}"):
            found = None if mirror_is_complete(ctx, erp_connection_id) else adapter.find_contact(number)
            contact_id = found or adapter.create_contact(contact)
    except BaseException:
        _release(ctx, erp_connection_id, number)
        raise
    with ctx.db.transaction() as session:
        session.execute(update(ERPContact).where(ERPContact.erp_connection_id == erp_connection_id,
                                                 ERPContact.identification_number == number)
                        .values(erp_contact_id=contact_id, claimed_until=None, name=contact.name[:200],
                                identification_type=contact.identification_type,
                                source="found" if found else "created"))
    return contact_id


def _known(ctx: AppContext, erp_connection_id: int, number: str) -> str | None:
    with ctx.db.session() as session:
        return session.scalar(select(ERPContact.erp_contact_id).where(
            ERPContact.erp_connection_id == erp_connection_id, ERPContact.identification_number == number))


def _claim(ctx: AppContext, erp_connection_id: int, number: str) -> bool:
    """Insert the claim row; or take over one whose claimer died. True when this worker owns it."""
    until = utcnow() + timedelta(seconds=CLAIM_SECONDS)
    try:
        with ctx.db.transaction() as session:
            session.add(ERPContact(erp_connection_id=erp_connection_id, identification_number=number,
                                   erp_contact_id=None, claimed_until=until))
        return True
    except IntegrityError:
        pass
    with ctx.db.transaction() as session:
        return session.execute(
            update(ERPContact).where(ERPContact.erp_connection_id == erp_connection_id,
                                     ERPContact.identification_number == number,
                                     ERPContact.erp_contact_id.is_(None),
                                     or_(ERPContact.claimed_until.is_(None), ERPContact.claimed_until < utcnow()))
            .values(claimed_until=until)).rowcount == 1


def _renew(ctx: AppContext, erp_connection_id: int, number: str) -> bool:
    with ctx.db.transaction() as session:
        return session.execute(
            update(ERPContact).where(ERPContact.erp_connection_id == erp_connection_id,
                                     ERPContact.identification_number == number, ERPContact.erp_contact_id.is_(None))
            .values(claimed_until=utcnow() + timedelta(seconds=CLAIM_SECONDS))).rowcount == 1


def _wait_for_other(ctx: AppContext, erp_connection_id: int, number: str) -> str:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        known = _known(ctx, erp_connection_id, number)
        if known is not None:
            return known
    raise ContactBeingCreated(number)


def _release(ctx: AppContext, erp_connection_id: int, number: str) -> None:
    """The claimer failed (the ERP refused, a timeout): let the next one try at once."""
    with ctx.db.transaction() as session:
        session.execute(delete(ERPContact).where(ERPContact.erp_connection_id == erp_connection_id,
                                                 ERPContact.identification_number == number,
                                                 ERPContact.erp_contact_id.is_(None)))
