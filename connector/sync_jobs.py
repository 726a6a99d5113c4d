""""Sincronizar ahora": one background sync per account, with progress a page can poll, and the
sync status of each channel connection (from the ``sync_runs`` rows).

Embedded default (no ``REDIS_URL``): the job runs in a thread of the web process — pull each channel
connection, then match and invoice every due order — and its progress lives in memory (a restart
forgets the job; the ``sync_runs`` rows it wrote remain). With Celery (``REDIS_URL`` set) the job
dispatches ``connector.pull_channel_connection`` for each connection to the workers (each pull then
sweeps due orders) and follows the ``sync_runs`` rows the workers write until every pull finished.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from connector.context import AppContext
from connector.models import ChannelConnection, Order, SyncCursor, SyncRun, utcnow
from connector.states import ERROR_QUEUE_STATES

log = logging.getLogger(__name__)

KEEP_JOBS_PER_ACCOUNT = 10
CELERY_WAIT_SECONDS = 900
CELERY_POLL_SECONDS = 1.0


@dataclass
class PullProgress:
    channel_connection_id: int
    name: str
    status: str = "waiting"  # waiting | running | ok | failed
    pulled: int = 0
    new: int = 0
    updated: int = 0
    error: str = ""


@dataclass
class SyncJob:
    """One "sync now" of one account. ``phase``: queued → pulling → processing → done | failed."""

    id: str
    account_id: int
    started_at: datetime
    phase: str = "queued"
    pulls: list[PullProgress] = field(default_factory=list)
    current: str = ""  # name of the connection being read
    processed: dict[str, int] = field(default_factory=dict)
    error_queue: int = 0
    error: str = ""
    finished_at: datetime | None = None
    dispatched: bool = False  # True when Celery workers do the pulls

    @property
    def finished(self) -> bool:
        return self.phase in ("done", "failed")

    @property
    def steps(self) -> tuple[int, int]:
        """(steps done, total steps): one per connection pull plus the processing step."""
        total = len(self.pulls) + 1
        done = sum(p.status in ("ok", "failed") for p in self.pulls) + (1 if self.finished else 0)
        return done, total

    @property
    def pulled(self) -> int:
        return sum(p.pulled for p in self.pulls)

    def as_dict(self) -> dict[str, Any]:
        done, total = self.steps
        data = asdict(self)
        data.update(started_at=self.started_at.isoformat(), steps_done=done, steps_total=total, pulled=self.pulled,
                    finished_at=self.finished_at.isoformat() if self.finished_at else None, finished=self.finished)
        return data


class SyncJobs:
    """The jobs of this process. Thread-safe; one running job per account (a second click joins it)."""

    def __init__(self) -> None:
        self._jobs: dict[str, SyncJob] = {}
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}

    def start(self, ctx: AppContext, account_ref) -> SyncJob:
        from connector.services import find_account

        with ctx.db.session() as session:
            account_id = find_account(session, account_ref).id
            connections = list(session.execute(
                select(ChannelConnection.id, ChannelConnection.name)
                .where(ChannelConnection.account_id == account_id, ChannelConnection.enabled.is_(True))
                .order_by(ChannelConnection.id)))
        with self._lock:
            running = next((j for j in self._jobs.values() if j.account_id == account_id and not j.finished), None)
            if running is not None:
                return running
            job = SyncJob(id=uuid.uuid4().hex, account_id=account_id, started_at=utcnow(),
                          pulls=[PullProgress(cid, name) for cid, name in connections])
            self._jobs[job.id] = job
            self._prune(account_id)
            thread = threading.Thread(target=self._run, args=(ctx, job), name=f"sync-now-{account_id}", daemon=True)
            self._threads[job.id] = thread
        thread.start()
        return job

    def get(self, account_id: int, job_id: str) -> SyncJob | None:
        """A job of this account (another account's job id is as good as unknown)."""
        job = self._jobs.get(job_id)
        return job if job is not None and job.account_id == account_id else None

    def latest(self, account_id: int) -> SyncJob | None:
        jobs = [j for j in list(self._jobs.values()) if j.account_id == account_id]
        return max(jobs, key=lambda j: j.started_at) if jobs else None

    def wait(self, job_id: str, timeout: float | None = None) -> None:
        """Block until the job's thread ended (tests, the CLI)."""
        thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout)

    def _prune(self, account_id: int) -> None:
        mine = sorted((j for j in self._jobs.values() if j.account_id == account_id and j.finished),
                      key=lambda j: j.started_at)
        for old in mine[:-KEEP_JOBS_PER_ACCOUNT]:
            self._jobs.pop(old.id, None)
            self._threads.pop(old.id, None)

    # -- the work ---------------------------------------------------------------------------

    def _run(self, ctx: AppContext, job: SyncJob) -> None:
        try:
            if ctx.settings.uses_celery:
                self._run_on_workers(ctx, job)
            else:
                self._run_here(ctx, job)
            job.error_queue = _error_queue_size(ctx, job.account_id)
            job.phase = "done"
        except Exception as exc:  # noqa: BLE001 - the page must learn the job ended, whatever happened
            log.exception("sync now of account %s failed", job.account_id)
            job.error = getattr(exc, "user_message", None) or f"Error inesperado ({type(exc).__name__})."
            job.phase = "failed"
        finally:
            job.current = ""
            job.finished_at = utcnow()

    def _run_here(self, ctx: AppContext, job: SyncJob) -> None:
        from connector.followup import run_due_followups
        from connector.held_orders import release_fixed_everywhere
        from connector.pipeline import process_due_orders
        from connector.sync import pull_channel_connection

        job.phase = "pulling"
        for pull in job.pulls:
            pull.status, job.current = "running", pull.name
            summary = pull_channel_connection(ctx, pull.channel_connection_id)
            pull.pulled, pull.new, pull.updated, pull.error = summary.pulled, summary.new, summary.updated, summary.error
            pull.status = "failed" if summary.error else "ok"
        job.current = ""
        job.phase = "processing"
        release_fixed_everywhere(ctx, job.account_id)  # held orders a fix made since has freed go too
        job.processed = process_due_orders(ctx, job.account_id)
        run_due_followups(ctx, job.account_id)  # after the invoices: e-invoice status, deliveries, payments

    def _run_on_workers(self, ctx: AppContext, job: SyncJob) -> None:
        from connector.tasks import pull_channel_connection_task, sweep_due_orders_task

        job.phase, job.dispatched = "pulling", True
        since = job.started_at - timedelta(seconds=1)
        for pull in job.pulls:
            pull_channel_connection_task.delay(pull.channel_connection_id)
        if not job.pulls:
            sweep_due_orders_task.delay()
        deadline = time.monotonic() + CELERY_WAIT_SECONDS
        while any(p.status in ("waiting", "running") for p in job.pulls):
            if time.monotonic() > deadline:
                raise TimeoutError("Los trabajadores no terminaron la sincronización a tiempo.")
            time.sleep(CELERY_POLL_SECONDS)
            with ctx.db.session() as session:
                for pull in job.pulls:
                    run = session.scalar(select(SyncRun).where(
                        SyncRun.channel_connection_id == pull.channel_connection_id, SyncRun.started_at >= since)
                        .order_by(SyncRun.id.desc()).limit(1))
                    if run is None:
                        continue
                    pull.pulled, pull.new, pull.updated, pull.error = run.pulled, run.new, run.updated, run.error
                    pull.status = "running" if run.status == "running" else ("ok" if run.status == "ok" else "failed")
                    job.current = pull.name if run.status == "running" else job.current
        job.phase = "processing"  # the workers sweep the due orders after each pull


def _error_queue_size(ctx: AppContext, account_id: int) -> int:
    with ctx.db.session() as session:
        return session.scalar(select(func.count()).select_from(Order).where(
            Order.account_id == account_id, Order.state.in_([s.value for s in ERROR_QUEUE_STATES]))) or 0


# -- status -----------------------------------------------------------------------------------


@dataclass
class ConnectionSyncStatus:
    """What the sync page shows for one channel connection."""

    channel_connection_id: int
    kind: str
    name: str
    enabled: bool
    last_run: SyncRun | None
    last_success_at: datetime | None
    cursor_at: datetime | None
    recent_runs: list[SyncRun]
    orders: int


def sync_status(ctx: AppContext, account_ref, *, recent: int = 10) -> list[ConnectionSyncStatus]:
    """Per channel connection of the account: its last pull (what it read, how it ended, its error),
    its last successful pull, the recent ones, and how many orders it brought in."""
    from connector.services import find_account

    statuses = []
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        connections = session.scalars(select(ChannelConnection).where(ChannelConnection.account_id == account.id)
                                      .order_by(ChannelConnection.id))
        for connection in connections:
            runs = list(session.scalars(select(SyncRun).where(SyncRun.channel_connection_id == connection.id)
                                        .order_by(SyncRun.id.desc()).limit(recent)))
            success = session.scalar(select(func.max(SyncRun.finished_at)).where(
                SyncRun.channel_connection_id == connection.id, SyncRun.status == "ok"))
            cursor = session.scalar(select(SyncCursor.cursor_at).where(
                SyncCursor.channel_connection_id == connection.id))
            orders = session.scalar(select(func.count()).select_from(Order).where(
                Order.channel_connection_id == connection.id)) or 0
            statuses.append(ConnectionSyncStatus(connection.id, connection.kind, connection.name, connection.enabled,
                                                 runs[0] if runs else None, success, cursor, runs, orders))
    return statuses
