"""The contacts import: 30 a page, from the window's spare room only, resumable from its cursor; a
backlog of invoices is never slowed by it."""

from __future__ import annotations

from sqlalchemy import func, select

from connector.mirror_contacts import import_contacts_step
from connector.models import ERPConnection, ERPContact
from connector.ratelimit import LocalBackend
from tests.conftest import connect_seller


def erp_of(ctx, account_id: int) -> ERPConnection:
    with ctx.db.session() as session:
        erp = session.scalar(select(ERPConnection).where(ERPConnection.account_id == account_id))
        session.expunge(erp)
        return erp


def mirrored(ctx, erp_id: int) -> int:
    with ctx.db.session() as session:
        return session.scalar(select(func.count()).select_from(ERPContact).where(
            ERPContact.erp_connection_id == erp_id, ERPContact.source == "import"))


def with_window(ctx, per_minute: int) -> None:
    """Adapters made from now on share a fresh window of ``per_minute`` requests."""
    ctx.close()
    ctx.settings.erp_rate_limit_per_minute = per_minute
    ctx._rate_backend = LocalBackend()


def test_the_import_reads_30_a_page_and_resumes_from_its_cursor(ctx, sandbox):
    for n in range(69):
        sandbox.alegra_state.add_contact({"name": f"Cliente {n}", "identificationObject": {"number": f"10{n:04d}"}})
    erp = erp_of(ctx, connect_seller(ctx, sandbox))
    before = sandbox.alegra_state.count("GET /contacts")
    assert import_contacts_step(ctx, erp.id, max_pages=1) == 30
    assert erp_of(ctx, erp.account_id).contacts_import_start == 30
    assert import_contacts_step(ctx, erp.id) == 40  # the rest: 30 + the last 10 (with the final consumer)
    done = erp_of(ctx, erp.account_id)
    assert done.contacts_import_start is None and done.contacts_imported_at is not None
    assert mirrored(ctx, erp.id) == 70
    assert sandbox.alegra_state.count("GET /contacts") - before == 3
    assert import_contacts_step(ctx, erp.id) == 0  # done: no more reads


def test_the_import_takes_only_spare_room_and_leaves_the_rest_to_invoices(ctx, sandbox):
    for n in range(200):
        sandbox.alegra_state.add_contact({"name": f"Cliente {n}", "identificationObject": {"number": f"20{n:04d}"}})
    erp = erp_of(ctx, connect_seller(ctx, sandbox))
    with_window(ctx, 6)  # six requests a minute: three for the import at most, three kept for invoices
    assert import_contacts_step(ctx, erp.id) == 90  # three pages, then no spare room: stops without waiting
    assert erp_of(ctx, erp.account_id).contacts_import_start == 90
    policy = ctx.erp_adapter(erp).rate_limit
    for _ in range(3):  # the invoices still find their room in this window, at once
        policy.acquire()
    assert policy.waited == 0


def test_the_echo_of_a_contact_being_created_is_not_read_but_left_for_the_next_round(ctx, sandbox):
    """The ERP's "new-client" notice can arrive before the worker that created the contact has recorded
    its id: read then, every new buyer would cost a third request. Left pending, the next round finds it
    known and reads nothing; a notice with no creation in flight is read at once."""
    from datetime import timedelta

    from connector.mirror_events import process_mirror_events
    from connector.models import ERPMirrorEvent, utcnow
    from erp.base import MirrorEvent

    erp = erp_of(ctx, connect_seller(ctx, sandbox))
    contact_id = sandbox.alegra_state.add_contact({"name": "Nueva", "identificationObject": {"number": "900123"}})["id"]
    with ctx.db.transaction() as session:  # a worker's claim: creating 900123, no id recorded yet
        session.add(ERPContact(erp_connection_id=erp.id, identification_number="900123", erp_contact_id=None,
                               claimed_until=utcnow() + timedelta(seconds=30)))
        session.add(ERPMirrorEvent(erp_connection_id=erp.id, event=MirrorEvent.CONTACT_CREATED.value,
                                   record_id=str(contact_id), outcome="queued"))
    reads = sandbox.alegra_state.count("GET /contacts")
    assert process_mirror_events(ctx, erp.id) == {"deferred": 1}
    with ctx.db.transaction() as session:  # the worker records what the ERP answered
        row = session.scalar(select(ERPContact).where(ERPContact.identification_number == "900123"))
        row.erp_contact_id, row.claimed_until = str(contact_id), None
    assert process_mirror_events(ctx, erp.id) == {"contact_known": 1}
    assert sandbox.alegra_state.count("GET /contacts") == reads  # the echo cost no request

    other = sandbox.alegra_state.add_contact({"name": "Hecha en el ERP", "identificationObject": {"number": "77"}})["id"]
    with ctx.db.transaction() as session:
        session.add(ERPMirrorEvent(erp_connection_id=erp.id, event=MirrorEvent.CONTACT_CREATED.value,
                                   record_id=str(other), outcome="queued"))
    assert process_mirror_events(ctx, erp.id) == {"contact_saved": 1}
