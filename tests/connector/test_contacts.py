"""A buyer becomes one ERP contact, even when two workers invoice two of its orders at once."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from connector import circuit, contacts
from connector.contacts import ContactBeingCreated, resolve_contact
from connector.errors import PermanentRejection
from connector.models import ERPConnection, ERPContact, utcnow
from erp.base import ContactDraft

BUYER = ContactDraft(name="Camila Restrepo", identification_type="CC", identification_number="1037123456",
                     kind_of_person="PERSON_ENTITY", regime="SIMPLIFIED_REGIME", email="camila@correo.co")


@pytest.fixture
def erp(ctx, seller):
    with ctx.db.session() as session:
        erp = session.scalar(select(ERPConnection))
    return erp, ctx.erp_adapter(erp)


def contacts_in_erp(sandbox, number: str) -> int:
    with sandbox.alegra_state.lock:
        return sum(1 for c in sandbox.alegra_state.contacts.values() if c.get("identification") == number)


def test_two_workers_creating_the_same_buyer_make_one_contact(ctx, sandbox, erp):
    erp_row, adapter = erp
    sandbox.alegra_knobs.latency_ms = 300  # both search before either creates
    found: list[str] = []
    workers = [threading.Thread(target=lambda: found.append(resolve_contact(ctx, erp_row.id, adapter, BUYER)))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(found) == 2 and found[0] == found[1]
    assert contacts_in_erp(sandbox, BUYER.identification_number) == 1


def test_a_dead_workers_claim_runs_out(ctx, sandbox, erp):
    erp_row, adapter = erp
    with ctx.db.transaction() as session:
        session.add(ERPContact(erp_connection_id=erp_row.id, identification_number=BUYER.identification_number,
                               erp_contact_id=None, claimed_until=utcnow() - timedelta(seconds=1)))
    contact_id = resolve_contact(ctx, erp_row.id, adapter, BUYER)
    assert contact_id and contacts_in_erp(sandbox, BUYER.identification_number) == 1


def test_a_live_claim_makes_the_other_worker_come_back_later(ctx, erp, monkeypatch):
    erp_row, adapter = erp
    monkeypatch.setattr(contacts, "WAIT_SECONDS", 0.3)
    with ctx.db.transaction() as session:
        session.add(ERPContact(erp_connection_id=erp_row.id, identification_number=BUYER.identification_number,
                               erp_contact_id=None, claimed_until=utcnow() + timedelta(seconds=60)))
    with pytest.raises(ContactBeingCreated) as busy:
        resolve_contact(ctx, erp_row.id, adapter, BUYER)
    assert busy.value.retry_after > 0
    assert not circuit.is_outage(busy.value)  # the ERP is fine: nothing to pause


def test_a_failed_creation_frees_the_claim_for_the_next_try(ctx, sandbox, erp, monkeypatch):
    erp_row, adapter = erp

    def refuse(_contact):
        raise PermanentRejection("Alegra rechazó la petición: El nombre del contacto es obligatorio")

    monkeypatch.setattr(adapter, "create_contact", refuse)
    with pytest.raises(PermanentRejection):
        resolve_contact(ctx, erp_row.id, adapter, BUYER)
    monkeypatch.undo()
    assert resolve_contact(ctx, erp_row.id, ctx.erp_adapter(erp_row), BUYER)
    assert contacts_in_erp(sandbox, BUYER.identification_number) == 1
