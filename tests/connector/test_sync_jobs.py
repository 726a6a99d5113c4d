""""Sincronizar ahora" as a background job with progress, and the sync status built from sync_runs."""

import threading

import pytest

from connector import sync_jobs
from connector.sync import pull_channel_connection
from connector.sync_jobs import SyncJobs, sync_status
from sandbox import server as sandbox_server
from sandbox.knobs import Knobs
from tests.conftest import connect_seller

ORDERS = 12


@pytest.fixture
def sandbox():
    """A smaller stream than the shared fixture's: these tests are about the job, not the pipeline."""
    box = sandbox_server.Sandbox(order_count=ORDERS, seed=76, alegra_knobs=Knobs(rate_limit_per_minute=0)).start()
    yield box
    box.stop()


def test_a_job_pulls_each_connection_then_invoices(ctx, sandbox, seller):
    jobs = SyncJobs()
    job = jobs.start(ctx, seller)
    assert job.account_id == seller and [p.name for p in job.pulls] == ["Mercado Libre (TIENDACAFETERA)"]
    jobs.wait(job.id, timeout=60)
    assert job.phase == "done" and job.finished_at and not job.error
    assert job.pulled == ORDERS and job.pulls[0].status == "ok" and job.pulls[0].new == ORDERS
    assert job.processed.get("invoiced", 0) > 0 and job.error_queue > 0
    assert job.steps == (2, 2)
    data = job.as_dict()
    assert data["finished"] and data["steps_done"] == data["steps_total"] == 2 and data["pulled"] == ORDERS
    assert jobs.latest(seller) is job and jobs.get(seller, job.id) is job and jobs.get(seller + 1, job.id) is None


def test_one_running_job_per_account(ctx, sandbox, seller):
    jobs = SyncJobs()
    sandbox.ml_knobs.latency_ms = 20
    try:
        first, second = jobs.start(ctx, seller), jobs.start(ctx, seller)
        assert first is second
    finally:
        sandbox.ml_knobs.latency_ms = 0
        jobs.wait(first.id, timeout=60)
    third = jobs.start(ctx, seller)
    assert third is not first
    jobs.wait(third.id, timeout=60)


def test_a_failed_pull_is_reported_and_the_rest_goes_on(ctx, sandbox, seller):
    sandbox.ml_state.expire_access_tokens()
    sandbox.ml_state.refresh_token = "TG-otro"  # the stored one no longer works: Mercado Libre refuses
    jobs = SyncJobs()
    job = jobs.start(ctx, seller)
    jobs.wait(job.id, timeout=60)
    assert job.phase == "done" and job.pulls[0].status == "failed"
    assert "Mercado Libre rechazó la autorización" in job.pulls[0].error
    [status] = sync_status(ctx, seller)
    assert status.last_run.status == "failed" and "rechazó" in status.last_run.error
    assert status.last_success_at is None


def test_an_unexpected_crash_ends_the_job_as_failed(ctx, sandbox, seller, monkeypatch):
    import connector.pipeline

    def boom(*_args, **_kwargs):
        raise RuntimeError("kaput")

    monkeypatch.setattr(connector.pipeline, "process_due_orders", boom)
    jobs = SyncJobs()
    job = jobs.start(ctx, seller)
    jobs.wait(job.id, timeout=60)
    assert job.phase == "failed" and job.error == "Error inesperado (RuntimeError)." and job.finished


def test_with_celery_the_pulls_go_to_the_workers(ctx, sandbox, seller, monkeypatch):
    import connector.tasks

    dispatched = []

    def worker_pull(connection_id):  # what a worker does with the message: the real pull
        dispatched.append(connection_id)
        threading.Thread(target=pull_channel_connection, args=(ctx, connection_id)).start()

    monkeypatch.setattr(connector.tasks.pull_channel_connection_task, "delay", worker_pull)
    monkeypatch.setattr(sync_jobs, "CELERY_POLL_SECONDS", 0.05)
    ctx.settings = ctx.settings.model_copy(update={"redis_url": "redis://127.0.0.1:6379/15"})
    jobs = SyncJobs()
    job = jobs.start(ctx, seller)
    jobs.wait(job.id, timeout=60)
    assert dispatched == [job.pulls[0].channel_connection_id]
    assert job.dispatched and job.phase == "done" and job.pulls[0].status == "ok" and job.pulled == ORDERS


def test_sync_status_per_connection(ctx, sandbox):
    account = connect_seller(ctx, sandbox)
    [before] = sync_status(ctx, account)
    assert before.last_run is None and before.orders == 0 and before.recent_runs == []
    jobs = SyncJobs()
    for _ in range(2):
        job = jobs.start(ctx, account)
        jobs.wait(job.id, timeout=60)
    [after] = sync_status(ctx, account)
    assert after.last_run.status == "ok" and after.last_run.new == 0  # only the cursor overlap is re-read
    assert len(after.recent_runs) == 2 and after.recent_runs[1].new == ORDERS
    assert after.last_success_at is not None and after.orders == ORDERS and after.cursor_at is not None


@pytest.fixture
def seller(ctx, sandbox):
    return connect_seller(ctx, sandbox)
