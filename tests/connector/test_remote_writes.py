"""The exactly-once remote write primitive: claimed, recorded before the call, settled by reading."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update

from connector import services
from connector.errors import AmbiguousOutcome, PermanentRejection, RateLimited, TransientError
from connector.models import ChannelConnection, ERPConnection, Invoice, Order, RemoteWrite, utcnow
from connector.remote_writes import DONE_UNKNOWN, NOT_DONE, Remote, WriteAction, perform


@pytest.fixture
def write_id(ctx):
    """One pending write of an invoiced order (rows only: the calls are the test's fakes)."""
    account = services.create_account(ctx, "Tienda de prueba")
    with ctx.db.transaction() as session:
        erp = ERPConnection(account_id=account.id, kind="alegra", name="ERP", credentials_encrypted=ctx.vault.encrypt({}))
        channel = ChannelConnection(account_id=account.id, kind="mercadolibre", name="Canal",
                                    credentials_encrypted=ctx.vault.encrypt({}))
        session.add_all([erp, channel])
        session.flush()
        order = Order(channel_connection_id=channel.id, account_id=account.id, external_id="2000001",
                      state="invoiced")
        session.add(order)
        session.flush()
        invoice = Invoice(order_id=order.id, erp_connection_id=erp.id, erp_id="77", number="FE-77", status="open",
                          total=Decimal("1000"), marker="[CX-1-2000001]")
        session.add(invoice)
        session.flush()
        write = RemoteWrite(invoice_id=invoice.id, order_id=order.id, kind="delivery", marker=invoice.marker)
        session.add(write)
        session.flush()
        return write.id


class Remote_:
    """A fake remote side: counts what was sent, answers reads from what it holds."""

    def __init__(self, fail_with=None, read_answer=None):
        self.sent = 0
        self.committed = 0
        self.reads = 0
        self.fail_with = list(fail_with or [])
        self.read_answer = read_answer

    def send(self):
        self.sent += 1
        if self.fail_with:
            error = self.fail_with.pop(0)
            if isinstance(error, AmbiguousOutcome):
                self.committed += 1  # the remote side did it; the answer was lost
            raise error
        self.committed += 1
        return {"document_id": f"doc-{self.committed}"}

    def read(self):
        self.reads += 1
        if self.read_answer is not None:
            return self.read_answer
        return Remote(True, {"document_id": "doc-1"}) if self.committed else NOT_DONE

    def action(self, read_first=False):
        return WriteAction(send=self.send, read=self.read, read_first=read_first)


def _write(ctx, write_id) -> RemoteWrite:
    with ctx.db.session() as session:
        return session.get(RemoteWrite, write_id)


def test_a_write_is_sent_once_and_its_answer_kept(ctx, write_id):
    remote = Remote_()
    assert perform(ctx, write_id, remote.action()) == "done"
    write = _write(ctx, write_id)
    assert (write.state, write.attempts, write.result, write.claim_token) == ("done", 1, {"document_id": "doc-1"}, None)
    assert perform(ctx, write_id, remote.action()) == "busy"  # done is final: never sent again
    assert remote.sent == 1


def test_a_lost_answer_is_settled_by_reading_not_by_sending_again(ctx, write_id):
    remote = Remote_(fail_with=[AmbiguousOutcome("Se cortó la conexión.")])
    assert perform(ctx, write_id, remote.action()) == "ambiguous"
    assert perform(ctx, write_id, remote.action()) == "done"
    write = _write(ctx, write_id)
    assert remote.sent == 1 and remote.committed == 1
    assert write.result["found_by_reading"] is True


def test_a_lost_answer_for_a_write_that_did_not_happen_is_sent_again(ctx, write_id):
    remote = Remote_(fail_with=[AmbiguousOutcome("Tiempo agotado.")], read_answer=NOT_DONE)
    assert perform(ctx, write_id, remote.action()) == "ambiguous"
    assert perform(ctx, write_id, remote.action()) == "done"
    assert remote.sent == 2 and _write(ctx, write_id).attempts == 2


def test_a_lost_answer_the_remote_side_cannot_confirm_is_never_repeated_by_itself(ctx, write_id):
    remote = Remote_(fail_with=[AmbiguousOutcome("Tiempo agotado.")], read_answer=DONE_UNKNOWN)
    perform(ctx, write_id, remote.action())
    assert perform(ctx, write_id, remote.action()) == "uncertain"
    assert perform(ctx, write_id, remote.action()) == "busy"
    assert remote.sent == 1
    assert "no se repite" in _write(ctx, write_id).detail


def test_a_process_killed_mid_call_leaves_the_write_to_be_read_first(ctx, write_id):
    with ctx.db.transaction() as session:  # what a SIGKILL between "sending" and the answer leaves
        session.execute(update(RemoteWrite).where(RemoteWrite.id == write_id).values(
            state="sending", attempts=1, claim_token="dead", claimed_until=utcnow() + timedelta(seconds=60)))
    remote = Remote_()
    remote.committed = 1  # the dead process's call landed
    assert perform(ctx, write_id, remote.action()) == "busy"  # its claim has not run out yet
    with ctx.db.transaction() as session:
        session.execute(update(RemoteWrite).where(RemoteWrite.id == write_id)
                        .values(claimed_until=utcnow() - timedelta(seconds=1)))
    assert perform(ctx, write_id, remote.action()) == "done"
    assert remote.sent == 0 and remote.reads == 1


def test_two_workers_at_once_send_once(ctx, write_id):
    started, release = threading.Event(), threading.Event()
    remote = Remote_()
    original = remote.send

    def slow_send():
        started.set()
        release.wait(5)
        return original()

    action = WriteAction(send=slow_send, read=remote.read)
    results = {}
    first = threading.Thread(target=lambda: results.setdefault("first", perform(ctx, write_id, action)))
    first.start()
    assert started.wait(5)
    results["second"] = perform(ctx, write_id, action)
    release.set()
    first.join(5)
    assert results == {"first": "done", "second": "busy"}
    assert remote.sent == 1


def test_a_worker_that_lost_its_claim_while_reading_sends_nothing(ctx, write_id):
    remote = Remote_()

    def read_while_taken_over():
        with ctx.db.transaction() as session:  # another worker took the row over meanwhile
            session.execute(update(RemoteWrite).where(RemoteWrite.id == write_id).values(claim_token="other"))
        return NOT_DONE

    assert perform(ctx, write_id, WriteAction(send=remote.send, read=read_while_taken_over, read_first=True)) == "busy"
    assert remote.sent == 0


@pytest.mark.parametrize("error, state, counts", [
    (RateLimited("Demasiadas peticiones.", retry_after=40), "pending", False),
    (TransientError("El servicio no responde."), "pending", True),
    (PermanentRejection("El paquete ya tiene una factura."), "failed", None),
])
def test_each_error_kind_leaves_the_write_where_the_outcome_table_says(ctx, write_id, error, state, counts):
    remote = Remote_(fail_with=[error])
    assert perform(ctx, write_id, remote.action()) == state
    write = _write(ctx, write_id)
    assert write.state == state and write.detail == error.user_message and write.claim_token is None
    if state == "pending":  # provably not sent: it comes back later, not at once
        wait = (write.next_attempt_at - utcnow()).total_seconds()
        assert (35 < wait <= 40) if not counts else wait > 0
        assert perform(ctx, write_id, remote.action()) == "busy"
    assert remote.sent == 1
