"""The embedded default's own schedule: without ``REDIS_URL`` (no Celery beat), ``connector web``
and ``connector demo --serve`` pull the channels and sweep due orders (retries whose time came,
orders waiting for the ERP, reconciliations) from a background thread, so an order put aside
"until 10:30" is tried again at 10:30 without anyone clicking.

What runs is a list of :class:`PeriodicJob` (:func:`embedded_jobs`), the in-process twin of beat's
schedule in ``connector/tasks.py``: one more periodic job is one more line there.

**One loop per database.** gunicorn runs several worker processes, and a deployment may run several
web machines over one PostgreSQL. Each process starts its loop, but only the one holding
:class:`SchedulerLock` runs the jobs; the others check again every few seconds and take over when the
holder stops or dies (the lock goes with its connection or file descriptor, no lease to expire). On
PostgreSQL it is an advisory lock (every machine sees it); on SQLite, an ``flock`` on a file beside
the database (SQLite is one machine anyway).

Why not run the loop in gunicorn's master (one by construction)? The master forks a new worker
whenever one exits or is recycled: a fork taken while the loop's thread holds a lock (logging, the
connection pool, an HTTP client) leaves the child with a lock nobody will ever release. Workers never
fork, so the loop lives in them.

The lock only saves duplicate work: everything the jobs do is already safe to run twice at once
(a pull lease per channel connection, a claim per order, fencing on every invoice).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, text

from connector.alerts import check_alerts
from connector.context import AppContext
from connector.followup import run_due_followups
from connector.housekeeping import prune_expired
from connector.mirror import check_all_subscriptions
from connector.mirror_events import run_mirror_work
from connector.models import ChannelConnection
from connector.pipeline import process_due_orders
from connector.settings import Settings
from connector.stock import sweep_stock
from connector.sync import pull_channel_connection
from connector.webhooks import requeue_deferred_deliveries

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    """``run(ctx)`` every ``interval`` seconds (counted from the end of the previous run: a slow run
    delays the next one instead of piling runs up)."""

    name: str
    interval: float
    run: Callable[[AppContext], object]


def pull_all_connections(ctx: AppContext) -> int:
    """Pull every enabled channel connection (what beat's ``sync-all`` hands to the workers)."""
    with ctx.db.session() as session:
        ids = list(session.scalars(select(ChannelConnection.id).where(ChannelConnection.enabled.is_(True))
                                   .order_by(ChannelConnection.id)))
    for connection_id in ids:
        pull_channel_connection(ctx, connection_id)
    return len(ids)


def sweep_due_orders(ctx: AppContext) -> dict[str, int]:
    """Process every due order, then what is due after the invoices (e-invoice status, deliveries,
    payments: after the orders, as the Celery sweeper does), in this thread."""
    counts = process_due_orders(ctx)
    counts["webhooks_requeued"] = requeue_deferred_deliveries(ctx)  # refused in a burst: their turn now
    for outcome, number in run_due_followups(ctx).items():
        counts[f"followup:{outcome}"] = number
    for state, number in check_alerts(ctx).items():  # the queue grew, e-invoices rejected; e-mail them
        counts[f"alerts:{state}"] = number
    return counts


def embedded_jobs(settings: Settings) -> list[PeriodicJob]:
    """The embedded schedule, with the same intervals as beat's."""
    return [
        PeriodicJob("pull", settings.sync_interval_seconds, pull_all_connections),
        PeriodicJob("sweep", settings.sweep_interval_seconds, sweep_due_orders),
        PeriodicJob("prune", settings.prune_interval_seconds, prune_expired),
        PeriodicJob("mirror-subscriptions", settings.mirror_check_interval_seconds, check_all_subscriptions),
        PeriodicJob("mirror", settings.mirror_work_interval_seconds, run_mirror_work),
        PeriodicJob("stock", settings.stock_interval_seconds, sweep_stock),
    ]


class SchedulerLock:
    """Held by at most one process per database: ``acquire()`` takes it or confirms it is still held
    (non-blocking), ``release()`` lets it go."""

    NAME = "connector-embedded-scheduler"

    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self._connection = None  # PostgreSQL: the session holding the advisory lock
        self._fd: int | None = None  # elsewhere: the descriptor holding the flock

    @property
    def _postgres(self) -> bool:
        return self.ctx.db.engine.dialect.name == "postgresql"

    def acquire(self) -> bool:
        try:
            return self._acquire_postgres() if self._postgres else self._acquire_file()
        except Exception:  # noqa: BLE001 - the database is away: not the holder now, ask again later
            log.warning("embedded scheduler: could not take its lock", exc_info=True)
            self.release()
            return False

    def _acquire_postgres(self) -> bool:
        if self._connection is not None:
            self._connection.execute(text("SELECT 1"))  # still connected = still holding it
            self._connection.commit()
            return True
        connection = self.ctx.db.engine.connect()
        try:
            # One lock per schema: tests and tenants sharing a database each get their own loop.
            schema = connection.execute(text("SELECT current_schema()")).scalar() or ""
            key = zlib.crc32(f"{self.NAME}:{schema}".encode())
            taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
            connection.commit()
        except Exception:
            connection.invalidate()
            connection.close()
            raise
        if not taken:
            connection.close()
            return False
        self._connection = connection
        return True

    def _lock_path(self) -> Path:
        database = self.ctx.db.engine.url.database
        if self.ctx.db.engine.dialect.name == "sqlite" and database and database != ":memory:":
            return Path(f"{database}.scheduler-lock")
        return Path(self.ctx.settings.data_dir) / "scheduler.lock"

    def _acquire_file(self) -> bool:
        if self._fd is not None:
            return True
        try:
            import fcntl
        except ImportError:  # no flock on this platform: one process is all there is
            return True
        path = self._lock_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                connection.invalidate()  # closes the session itself: the lock goes with it, never to the pool
                connection.close()
            except Exception:  # noqa: BLE001 - it is gone either way
                log.debug("embedded scheduler: closing the lock's connection failed", exc_info=True)
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


class EmbeddedScheduler:
    """Runs ``jobs`` from one daemon thread while this process holds the :class:`SchedulerLock`."""

    def __init__(self, ctx: AppContext, jobs: list[PeriodicJob], *, lock: SchedulerLock | None = None,
                 standby_seconds: float = 5.0):
        self.ctx, self.jobs = ctx, list(jobs)
        self.lock = lock or SchedulerLock(ctx)
        self.standby_seconds = standby_seconds  # how often a process without the lock asks again
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="embedded-scheduler", daemon=True)
        self.leading = False

    def start(self) -> EmbeddedScheduler:
        self._thread.start()
        return self

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        """Ask the loop to stop and wait for the job in progress (up to ``timeout``)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _loop(self) -> None:
        next_run = {job.name: 0.0 for job in self.jobs}  # everything is due when the lock is taken
        standing_by = False
        try:
            while not self._stop.is_set():
                if not self.lock.acquire():
                    if self.leading:
                        log.warning("embedded scheduler: lost its lock; another process runs the schedule")
                    elif not standing_by:
                        log.info("embedded scheduler: another process runs the schedule; standing by")
                    self.leading, standing_by = False, True
                    next_run = dict.fromkeys(next_run, 0.0)
                    self._stop.wait(self.standby_seconds)
                    continue
                if not self.leading:
                    self.leading = True
                    log.info("embedded scheduler: running %s", ", ".join(
                        f"{job.name} every {job.interval:g} s" for job in self.jobs))
                for job in self.jobs:
                    if self._stop.is_set():
                        break
                    if time.monotonic() >= next_run[job.name]:
                        self._run(job)
                        next_run[job.name] = time.monotonic() + job.interval
                wait = min(next_run.values(), default=time.monotonic() + 1) - time.monotonic()
                self._stop.wait(min(max(wait, 0.05), self.standby_seconds))
        finally:
            self.lock.release()
            if self.leading:
                log.info("embedded scheduler: stopped")
            self.leading = False

    def _run(self, job: PeriodicJob) -> None:
        try:
            result = job.run(self.ctx)
            log.debug("embedded scheduler: %s -> %s", job.name, result)
        except Exception:  # noqa: BLE001 - the loop must outlive any one run
            log.exception("embedded scheduler: %s failed", job.name)


_process_scheduler: EmbeddedScheduler | None = None
_process_guard = threading.Lock()


def start_embedded_scheduler(ctx: AppContext) -> Callable[[], None] | None:
    """Start this process's loop, once, unless Celery beat does this work (``REDIS_URL``) or it is
    turned off (``CONNECTOR_EMBEDDED_SCHEDULER=false``). Returns the function that stops it."""
    global _process_scheduler
    if ctx.settings.uses_celery or not ctx.settings.embedded_scheduler:
        return None
    with _process_guard:
        if _process_scheduler is None or not _process_scheduler.is_alive():
            _process_scheduler = EmbeddedScheduler(ctx, embedded_jobs(ctx.settings)).start()
        return _process_scheduler.stop
