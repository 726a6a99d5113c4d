"""The embedded scheduler: its jobs run on their own, one process per database runs them, and it
stops cleanly (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import threading
import time

from connector.scheduler import EmbeddedScheduler, PeriodicJob, SchedulerLock, embedded_jobs


def _wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


class CountingJob:
    def __init__(self):
        self.runs = 0
        self.lock = threading.Lock()

    def __call__(self, _ctx) -> None:
        with self.lock:
            self.runs += 1


def test_the_schedule_is_beats_with_its_intervals(settings):
    jobs = {job.name: job for job in embedded_jobs(settings)}
    assert jobs["pull"].interval == settings.sync_interval_seconds
    assert jobs["sweep"].interval == settings.sweep_interval_seconds
    assert jobs["prune"].interval == settings.prune_interval_seconds  # beat's housekeeping too


def test_one_loop_per_database_and_the_other_takes_over(ctx):
    first_job, second_job = CountingJob(), CountingJob()
    first = EmbeddedScheduler(ctx, [PeriodicJob("count", 0.05, first_job)], standby_seconds=0.1).start()
    assert _wait_for(lambda: first_job.runs >= 3)
    second = EmbeddedScheduler(ctx, [PeriodicJob("count", 0.05, second_job)], standby_seconds=0.1).start()
    try:
        time.sleep(0.5)
        assert first.leading and not second.leading and second_job.runs == 0
        first.stop()
        assert not first.is_alive()
        assert _wait_for(lambda: second_job.runs >= 3), "the standby process never took over"
        assert second.leading
    finally:
        first.stop()
        second.stop()
    assert not second.is_alive()
    lock = SchedulerLock(ctx)  # released on stop: anyone can take it again
    assert lock.acquire()
    lock.release()


def test_a_failing_job_does_not_stop_the_others(ctx):
    def broken(_ctx):
        raise RuntimeError("boom")

    counted = CountingJob()
    scheduler = EmbeddedScheduler(ctx, [PeriodicJob("broken", 0.05, broken), PeriodicJob("count", 0.05, counted)],
                                  standby_seconds=0.1).start()
    try:
        assert _wait_for(lambda: counted.runs >= 3)
    finally:
        scheduler.stop()
