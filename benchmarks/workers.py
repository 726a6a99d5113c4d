"""The invoicing workers of a throughput run: threads or spawned processes, fed one of three ways."""

from __future__ import annotations

import functools
import logging
import multiprocessing
import queue
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from typing import Any

from benchmarks.host import _reporting_errors, adapter_stats, collect, erp_adapters, make_settings
from benchmarks.measure import RecordingTransport, peak_rss_mb

log = logging.getLogger("benchmarks.workers")


def invoice_loop(ctx, take: Callable[[], int | None]) -> Counter:
    """Process order ids until ``take`` returns None; like ``process_due_orders``, never stops on one order."""
    from sqlalchemy.orm.exc import StaleDataError

    from connector.pipeline import CatalogRefreshes, process_order

    refreshes = CatalogRefreshes()
    states: Counter = Counter()
    while (order_id := take()) is not None:
        try:
            states[process_order(ctx, order_id, refreshes=refreshes)] += 1
        except StaleDataError:
            states["busy"] += 1
        except Exception:  # noqa: BLE001 - counted and reported, the run goes on
            log.exception("order %s: unexpected error", order_id)
            states["crashed"] += 1
    return states


def process_worker_main(*args) -> None:
    _reporting_errors(_process_worker)(*args)


def _process_worker(settings_kwargs: dict, erp_connection_ids: list[int], tasks, dispatch: str,
                    max_sleep: float, results, use_tracemalloc: bool):
    """One invoicing worker process (spawned): its own context, HTTP pool and rate-limit state."""
    logging.basicConfig(level=logging.WARNING, format="%(processName)s %(levelname)s %(name)s: %(message)s")
    if use_tracemalloc:
        tracemalloc.start()
    from connector.context import AppContext

    recorder = RecordingTransport()
    ctx = AppContext.from_settings(make_settings(settings_kwargs), erp_transport=recorder)
    adapters = erp_adapters(ctx, erp_connection_ids)
    cpu0 = time.process_time()

    def take() -> int | None:
        return tasks.get()

    for adapter in adapters.values():  # sweeper: as a Celery worker, defer instead of sleeping long
        adapter.rate_limit.max_wait = max_sleep if dispatch == "sweeper" else None
    states = sweeper_worker_loop(ctx, take) if dispatch == "sweeper" else invoice_loop(ctx, take)
    cpu = time.process_time() - cpu0
    results.put({"states": dict(states), "cpu_s": cpu, "peak_rss_mb": peak_rss_mb(),
                 "tracemalloc_peak_mb": tracemalloc.get_traced_memory()[1] / 2**20 if use_tracemalloc else None,
                 "adapters": adapter_stats(adapters), "records": recorder.records})
    ctx.close()
    recorder.shutdown()


def _run_sweeper(settings_kwargs: dict, run_ctx, erp_ids: list[int], args) -> tuple[Counter, list[dict] | None]:
    """The production dispatch: a sweeper (:func:`connector.dispatch.dispatch_due_orders`, what beat's
    sweep task runs) fills one FIFO every ``--sweep-seconds``; workers take from it as Celery workers
    do (``handle_dispatched_order``) and put an order aside rather than sleep on a
    spent window. Ends when no order is left in flight."""
    from connector.context import AppContext
    from connector.dispatch import dispatch_due_orders

    threads = args.worker_kind == "threads"
    if threads:
        fifo: Any = queue.Queue()
        for erp_id in erp_ids:  # as on a Celery worker: defer instead of sleeping long
            erp_adapters(run_ctx, [erp_id])[erp_id].rate_limit.max_wait = args.max_sleep
        sweeper_ctx = run_ctx
    else:
        mp = multiprocessing.get_context("spawn")
        fifo = mp.Queue()
        sweeper_ctx = AppContext.from_settings(make_settings(settings_kwargs))
    workers_done: Counter = Counter()
    lock = threading.Lock()

    def sweep() -> None:
        while True:
            dispatch_due_orders(sweeper_ctx, fifo.put)
            if _nothing_in_flight(sweeper_ctx):
                break
            time.sleep(args.sweep_seconds)
        for _ in range(args.workers):
            fifo.put(None)

    def thread_worker() -> None:
        states = sweeper_worker_loop(run_ctx, fifo.get)
        with lock:
            workers_done.update(states)

    sweeper = threading.Thread(target=sweep, name="sweeper")
    if threads:
        pool = [threading.Thread(target=thread_worker, name=f"invoicer-{n}") for n in range(args.workers)]
        for thread in [sweeper, *pool]:
            thread.start()
        for thread in [sweeper, *pool]:
            thread.join()
        return workers_done, None
    results = mp.Queue()
    processes = [mp.Process(target=process_worker_main, name=f"invoicer-{n}",
                            args=(settings_kwargs, erp_ids, fifo, "sweeper", args.max_sleep, results, args.tracemalloc))
                 for n in range(args.workers)]
    for process in processes:
        process.start()
    sweeper.start()
    stats = collect(results, processes, len(processes))
    sweeper.join()
    for process in processes:
        process.join()
    sweeper_ctx.close()
    for s in stats:
        workers_done.update(s["states"])
    return workers_done, stats


@functools.cache
def _in_flight_count():
    """The harness's own check, every sweep: built once, so the harness adds next to nothing to the
    connector CPU this benchmark measures."""
    from sqlalchemy import func, select

    from connector.models import Order
    from connector.states import OrderState

    active = [OrderState.RECEIVED.value, OrderState.READY.value, OrderState.INVOICING.value,
              OrderState.WAITING_ERP.value]
    return select(func.count()).select_from(Order).where(Order.state.in_(active))


def _nothing_in_flight(ctx) -> bool:
    with ctx.db.session() as session:
        return not session.scalar(_in_flight_count())


def sweeper_worker_loop(ctx, take: Callable[[], int | None]) -> Counter:
    """What a Celery worker does with each ``connector.process_order`` message."""
    from connector.dispatch import handle_dispatched_order
    from connector.pipeline import process_order_safely

    states: Counter = Counter()
    while (order_id := take()) is not None:
        states[handle_dispatched_order(ctx, order_id, lambda oid: process_order_safely(ctx, oid))] += 1
    return states


def _dispatchers(due: dict[int, list[int]], workers: int, dispatch: str) -> list[list[int]]:
    """Which account queue each worker takes from: one shared FIFO, or each worker bound to a seller."""
    accounts = list(due)
    if dispatch == "queue":
        return [accounts] * workers
    return [[accounts[w % len(accounts)]] for w in range(workers)]


def _run_threads(ctx, due: dict[int, list[int]], args) -> tuple[Counter, None]:
    if args.dispatch == "queue":
        shared: queue.Queue = queue.Queue()
        for account in due:  # id order, as the sweeper enqueues them: one seller's backlog after another
            for order_id in due[account]:
                shared.put(order_id)
        queues = {a: shared for a in due}
    else:
        queues = {}
        for account, order_ids in due.items():
            queues[account] = queue.Queue()
            for order_id in order_ids:
                queues[account].put(order_id)
    totals: Counter = Counter()
    lock = threading.Lock()

    def worker(accounts: list[int]) -> None:
        q = queues[accounts[0]]

        def take() -> int | None:
            try:
                return q.get_nowait()
            except queue.Empty:
                return None

        states = invoice_loop(ctx, take)
        with lock:
            totals.update(states)

    threads = [threading.Thread(target=worker, args=(accounts,), name=f"invoicer-{n}")
               for n, accounts in enumerate(_dispatchers(due, args.workers, args.dispatch))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return totals, None


def _run_processes(settings_kwargs: dict, erp_ids: list[int], due: dict[int, list[int]], args):
    mp = multiprocessing.get_context("spawn")
    assignments = _dispatchers(due, args.workers, args.dispatch)
    if args.dispatch == "queue":
        shared = mp.Queue()
        queues = {a: shared for a in due}
        for account in due:
            for order_id in due[account]:
                shared.put(order_id)
    else:
        queues = {a: mp.Queue() for a in due}
        for account, order_ids in due.items():
            for order_id in order_ids:
                queues[account].put(order_id)
    for accounts in assignments:  # one end-of-work mark per worker on the queue it reads
        queues[accounts[0]].put(None)
    results = mp.Queue()
    processes = [mp.Process(target=process_worker_main, name=f"invoicer-{n}",
                            args=(settings_kwargs, erp_ids, queues[accounts[0]], args.dispatch, args.max_sleep,
                                  results, args.tracemalloc))
                 for n, accounts in enumerate(assignments)]
    for process in processes:
        process.start()
    stats = collect(results, processes, len(processes))
    for process in processes:
        process.join()
    totals: Counter = Counter()
    for s in stats:
        totals.update(s["states"])
    return totals, stats
