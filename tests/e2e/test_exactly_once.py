"""Invariant 1: at most one ERP invoice per marketplace order — under re-runs, races, timeouts after
the ERP committed, dropped connections and a process dying mid-call."""

import os
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import select, update

from connector.context import AppContext
from connector.models import ChannelConnection, ERPConnection, Invoice, InvoiceAttempt, Order
from connector.pipeline import process_due_orders
from connector.states import OrderState
from connector.sync import pull_channel_connection, sync_once
from tests.conftest import connect_seller, make_settings

pytestmark = pytest.mark.e2e


def assert_one_invoice_per_order(ctx, sandbox):
    markers = Counter(inv["observations"].split()[-1] for inv in sandbox.alegra_state.invoices)
    assert markers and max(markers.values()) == 1, [m for m, n in markers.items() if n > 1]
    with ctx.db.session() as session:
        recorded = session.scalars(select(Invoice)).all()
        invoiced = session.scalars(select(Order).where(Order.state == OrderState.INVOICED.value)).all()
    assert len(recorded) == len(invoiced) == len(sandbox.alegra_state.invoices)
    assert {i.erp_id for i in recorded} == {str(inv["id"]) for inv in sandbox.alegra_state.invoices}


def _env_for(ctx) -> dict:
    env = dict(os.environ)
    env.update({"DATABASE_URL": ctx.settings.effective_database_url, "CONNECTOR_MODE": "sandbox",
                "CONNECTOR_SECRET_KEYS": ctx.settings.secret_keys.get_secret_value(),
                "CONNECTOR_DATA_DIR": str(ctx.settings.data_dir), "CONNECTOR_RECONCILE_DELAY": "0"})
    env.pop("REDIS_URL", None)
    return env


def test_concurrent_processes_invoicing_the_same_orders_create_no_duplicate(ctx, sandbox, seller):
    """Four OS processes pull and invoice the same backlog at the same time."""
    sandbox.alegra_knobs.latency_ms = 15  # widen the race windows
    with ctx.db.session() as session:
        channel_id = session.scalar(select(Order.channel_connection_id).limit(1))
    assert channel_id is None  # nothing pulled yet: every process races from the start
    processes = [subprocess.Popen([sys.executable, "-m", "connector", "sync", "--once", "--json"], env=_env_for(ctx),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=180) for p in processes]
    for process, (_out, err) in zip(processes, outputs, strict=True):
        assert process.returncode in (0, 1), err
        assert "Traceback" not in err, err
    assert_one_invoice_per_order(ctx, sandbox)
    assert sandbox.alegra_state.count("POST /invoices") == len(sandbox.alegra_state.invoices)


def test_a_timeout_after_the_erp_committed_leads_to_no_duplicate(tmp_path, database_url, sandbox):
    ctx = AppContext.from_settings(make_settings(tmp_path, database_url, http_timeout_seconds=1.0))
    ctx.db.migrate()
    seller = connect_seller(ctx, sandbox)
    sandbox.alegra_knobs.update({"timeout_after_commit_rate": 0.4, "commit_stall_seconds": 2.5, "seed": 3})
    sync_once(ctx, seller)
    with ctx.db.session() as session:
        in_flight = session.scalars(select(Order).where(Order.state == OrderState.INVOICING.value)).all()
        ambiguous = session.scalars(select(InvoiceAttempt).where(InvoiceAttempt.outcome == "ambiguous")).all()
    assert in_flight and len(ambiguous) == len(in_flight)
    committed = len(sandbox.alegra_state.invoices)

    sandbox.alegra_knobs.update({"timeout_after_commit_rate": 0.0})
    time.sleep(1.1)  # let a paused circuit's pause end
    sync_once(ctx, seller)  # reconciles: finds each invoice by its marker instead of re-sending
    assert len(sandbox.alegra_state.invoices) == committed
    with ctx.db.session() as session:
        recovered = session.scalars(select(Invoice).where(Invoice.recovered.is_(True))).all()
    assert len(recovered) == len(in_flight)
    assert_one_invoice_per_order(ctx, sandbox)
    ctx.close()


def test_a_dropped_connection_after_commit_leads_to_no_duplicate(ctx, sandbox, seller):
    sandbox.alegra_knobs.update({"reset_after_commit_rate": 0.5, "seed": 5})
    sync_once(ctx, seller)
    sandbox.alegra_knobs.update({"reset_after_commit_rate": 0.0})
    time.sleep(1.1)  # dropped connections count as ERP trouble: let a paused circuit's pause end
    sync_once(ctx, seller)
    with ctx.db.session() as session:
        assert session.scalars(select(Order).where(Order.state == OrderState.INVOICING.value)).all() == []
        assert session.scalars(select(Invoice).where(Invoice.recovered.is_(True))).all()
    assert_one_invoice_per_order(ctx, sandbox)


class ProcessDied(BaseException):
    """Stands for SIGKILL between the ERP's commit and our own: nothing after it runs."""


def test_a_process_dying_mid_call_is_reconciled_not_resent(ctx, sandbox, seller, monkeypatch):
    with ctx.db.session() as session:
        channel_id = session.scalar(select(ChannelConnection.id))
        erp = session.scalar(select(ERPConnection))
    pull_channel_connection(ctx, channel_id)
    adapter = ctx.erp_adapter(erp)
    real_create = adapter.create_invoice

    def create_then_die(draft):
        real_create(draft)
        raise ProcessDied()

    monkeypatch.setattr(adapter, "create_invoice", create_then_die)
    with pytest.raises(ProcessDied):
        process_due_orders(ctx, seller)
    monkeypatch.setattr(adapter, "create_invoice", real_create)
    assert len(sandbox.alegra_state.invoices) == 1

    with ctx.db.session() as session:
        stuck = session.scalar(select(Order).where(Order.state == OrderState.INVOICING.value))
    assert stuck is not None
    ctx.settings.claim_lease_seconds = 0  # the dead process's lease has run out
    process_due_orders(ctx, seller)
    with ctx.db.session() as session:
        order = session.get(Order, stuck.id)
        assert order.state == OrderState.INVOICED
        assert session.scalar(select(Invoice).where(Invoice.order_id == stuck.id)).recovered
    assert_one_invoice_per_order(ctx, sandbox)


def _ready_order(ctx, seller) -> int:
    with ctx.db.session() as session:
        channel_id = session.scalar(select(ChannelConnection.id))
    pull_channel_connection(ctx, channel_id)
    with ctx.db.session() as session:
        return session.scalar(select(Order.id).where(Order.buyer_document.is_not(None)).order_by(Order.id))


def test_a_claimed_order_never_looks_due_for_reconciliation_because_of_an_old_retry_time(ctx, sandbox, seller):
    """A retry time left from an earlier attempt made an in-flight order look due: a reconciler took the
    live claim over, found nothing yet, and a second invoice followed (found by the chaos suite)."""
    from datetime import timedelta

    from connector.dispatch import due_order_ids
    from connector.invoicing import claim_for_invoicing
    from connector.models import utcnow
    from connector.pipeline import CatalogRefreshes, prepare_order

    order_id = _ready_order(ctx, seller)
    with ctx.db.session() as session:
        order = session.get(Order, order_id)
        assert prepare_order(ctx, session, order, manual=False, actor="test", refreshes=CatalogRefreshes())
        order.next_attempt_at = utcnow() - timedelta(seconds=5)  # a retry whose time has come
        session.commit()
    assert claim_for_invoicing(ctx, order_id, "worker-1")
    assert order_id not in due_order_ids(ctx, limit=1000)


def test_a_worker_whose_claim_was_taken_over_while_preparing_sends_nothing(ctx, sandbox, seller, monkeypatch):
    """Fencing: the attempt is recorded (and the invoice sent) only while the claim is still ours."""
    import connector.invoicing as invoicing

    order_id = _ready_order(ctx, seller)
    real_resolve = invoicing.resolve_contact

    def resolve_then_lose_the_claim(*args, **kwargs):
        contact_id = real_resolve(*args, **kwargs)
        with ctx.db.transaction() as session:  # a reconciler decided this worker was dead
            session.execute(update(Order).where(Order.id == order_id).values(claim_token="someone-else"))
        return contact_id

    monkeypatch.setattr(invoicing, "resolve_contact", resolve_then_lose_the_claim)
    assert process_due_orders(ctx, seller).get("busy", 0) >= 1
    assert sandbox.alegra_state.invoices_for_marker(f"-{_external_id(ctx, order_id)}]") == []
    with ctx.db.session() as session:
        assert session.scalars(select(InvoiceAttempt).where(InvoiceAttempt.order_id == order_id)).all() == []


def _external_id(ctx, order_id) -> str:
    with ctx.db.session() as session:
        return session.get(Order, order_id).external_id
