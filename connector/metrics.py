"""What an operator scrapes: ``/metrics`` in Prometheus's text format (served by the admin UI).

Two sources, so that the numbers are right whichever process did the work:

* **The database, read at scrape time** (:class:`DatabaseCollector`): orders by state, the age of the
  oldest order waiting to be invoiced, orders handed to the queue and not handled yet, invoices
  recorded. Every process writes there, so these are the whole system's. The ERP rate-limit windows
  are read where they live (Redis, or this process's memory in the embedded default).
* **External HTTP calls by API and outcome** (:func:`count_http_call`, called by
  :class:`connector.http.Requestor` for every answer or failure): counted in this process and, with
  ``REDIS_URL``, in one Redis hash every worker adds to, so the web process reports the Celery
  workers' calls too. Redis being away never slows a call down: counting skips it for a while.

Only counts and ages leave: no account, seller, buyer or order identifies itself in a label.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import func, select

log = logging.getLogger(__name__)

# The outcome of one HTTP call, from its status (None: no answer at all).
OUTCOMES = ("ok", "redirect", "client_error", "rate_limited", "server_error", "no_response")
WAITING_STATES = ("received", "ready", "waiting_erp")  # waiting to be invoiced, nobody has to act
REDIS_KEY = "connector:metrics:http_calls"
_REDIS_RETRY_SECONDS = 30.0


def outcome_of(status: int | None) -> str:
    if status is None:
        return "no_response"
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    if status >= 400:
        return "client_error"
    return "redirect" if status >= 300 else "ok"


class HttpCallCounts:
    """Calls per (api, outcome): in this process, and in Redis when one is configured."""

    def __init__(self, redis_key: str = REDIS_KEY):
        self.redis_key = redis_key
        self._local: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._redis = None
        self._redis_url: str | None = None
        self._redis_paused_until = 0.0

    def share_through(self, redis_url: str | None) -> None:
        """Also count in Redis (every process's calls in one place); None: this process only."""
        with self._lock:
            if redis_url == self._redis_url:
                return
            self._redis_url, self._redis, self._redis_paused_until = redis_url, None, 0.0
            if redis_url:
                import redis

                # Short timeouts: a call is never held up by counting it.
                self._redis = redis.Redis.from_url(redis_url, socket_timeout=0.25, socket_connect_timeout=0.25)

    def add(self, api: str, outcome: str) -> None:
        with self._lock:
            self._local[(api, outcome)] += 1
            client = self._redis if time.monotonic() >= self._redis_paused_until else None
        if client is not None:
            try:
                client.hincrby(self.redis_key, f"{api}\t{outcome}", 1)
            except Exception:  # noqa: BLE001 - metrics must never break the call they count
                self._pause_redis()

    def _pause_redis(self) -> None:
        with self._lock:
            self._redis_paused_until = time.monotonic() + _REDIS_RETRY_SECONDS
        log.warning("metrics: Redis unavailable, counting HTTP calls in this process only for %ss",
                    _REDIS_RETRY_SECONDS)

    def snapshot(self) -> dict[tuple[str, str], int]:
        """The shared counts when Redis answers, else this process's."""
        with self._lock:
            client, local = self._redis, dict(self._local)
        if client is not None:
            try:
                raw = client.hgetall(self.redis_key)
                return {tuple(key.decode().split("\t", 1)): int(value) for key, value in raw.items()}
            except Exception:  # noqa: BLE001
                log.warning("metrics: Redis unavailable, reporting this process's HTTP calls", exc_info=True)
        return local


http_calls = HttpCallCounts()


def count_http_call(api: str, status: int | None) -> None:
    """One request to an external API answered ``status`` (None: no answer: refused, timed out, reset)."""
    http_calls.add(api, outcome_of(status))


# Searches for a write's marker after a lost answer that found nothing in the newest records and fell
# back to the slow scan (pages of several days): rare when all is well, so each one is worth seeing.
marker_scans = HttpCallCounts("connector:metrics:marker_scans")


def count_marker_scan(api: str) -> None:
    """A marker search of ``api`` fell back to the slow scan."""
    marker_scans.add(api, "scan")


def share_counts_through(redis_url: str | None) -> None:
    """Every counter of this module in Redis (None: this process only)."""
    http_calls.share_through(redis_url)
    marker_scans.share_through(redis_url)


class MarkerScanCollector(Collector):
    def __init__(self, counts: HttpCallCounts = marker_scans):
        self.counts = counts

    def collect(self) -> Iterator:
        scans = CounterMetricFamily("connector_marker_search_scans",
                                    "Marker searches after a lost answer that fell back to scanning days of records",
                                    labels=["api"])
        for (api, _), value in sorted(self.counts.snapshot().items()):
            scans.add_metric([api], value)
        yield scans


class HttpCallCollector(Collector):
    def __init__(self, counts: HttpCallCounts = http_calls):
        self.counts = counts

    def collect(self) -> Iterator:
        calls = CounterMetricFamily("connector_http_requests", "Requests to ERP and channel APIs, by outcome",
                                    labels=["api", "outcome"])
        limited = CounterMetricFamily("connector_http_rate_limited", "429 answers from ERP and channel APIs",
                                      labels=["api"])
        snapshot = self.counts.snapshot()
        for (api, outcome), value in sorted(snapshot.items()):
            calls.add_metric([api, outcome], value)
        for api in sorted({api for api, _ in snapshot}):
            limited.add_metric([api], snapshot.get((api, "rate_limited"), 0))
        yield calls
        yield limited


class DatabaseCollector(Collector):
    """Gauges (and the invoice counter) read from the database at scrape time."""

    def __init__(self, ctx):
        self.ctx = ctx

    def collect(self) -> Iterator:
        from connector.models import Invoice, Order, utcnow
        from connector.states import OrderState

        up = GaugeMetricFamily("connector_database_up", "1 when the database answered this scrape")
        try:
            with self.ctx.db.session() as session:
                by_state = dict(session.execute(select(Order.state, func.count()).group_by(Order.state)).all())
                oldest: datetime | None = session.scalar(select(func.min(Order.created_at))
                                                         .where(Order.state.in_(WAITING_STATES)))
                queued = session.scalar(select(func.count()).select_from(Order)
                                        .where(Order.dispatched_at.is_not(None))) or 0
                invoices = dict(session.execute(select(Invoice.recovered, func.count())
                                                .group_by(Invoice.recovered)).all())
        except Exception:  # noqa: BLE001 - a scrape reports the database down, it never fails
            log.warning("metrics: database unavailable", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        orders = GaugeMetricFamily("connector_orders", "Orders by state", labels=["state"])
        for state in OrderState:
            orders.add_metric([state.value], by_state.get(state.value, 0))
        yield orders

        age = GaugeMetricFamily("connector_oldest_waiting_order_age_seconds",
                                "Age of the oldest order waiting to be invoiced (received, ready, waiting_erp); "
                                "0 when none waits")
        age.add_metric([], max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0)
        yield age

        depth = GaugeMetricFamily("connector_queue_depth",
                                  "Orders handed to the workers and not handled yet (dispatched_at set)")
        depth.add_metric([], queued)
        yield depth

        created = CounterMetricFamily("connector_invoices", "Invoices recorded; recovered=true: found in the ERP "
                                      "by reconciliation after an ambiguous answer", labels=["recovered"])
        created.add_metric(["false"], invoices.get(False, 0))
        created.add_metric(["true"], invoices.get(True, 0))
        yield created


class RateWindowCollector(Collector):
    """How full the ERP users' rate-limit windows are (Redis's shared ones, or this process's), as two
    numbers without naming any user: windows running / spent, and the fullest one's use."""

    def __init__(self, ctx):
        self.ctx = ctx

    def _backend(self):
        from connector.ratelimit import RedisBackend

        if self.ctx.settings.redis_url:
            backend = getattr(self, "_redis_backend", None)
            if backend is None:
                backend = self._redis_backend = RedisBackend.from_url(self.ctx.settings.redis_url)
            return backend
        return getattr(self.ctx, "_rate_backend", None)  # None until this process spoke to an ERP

    def collect(self) -> Iterator:
        windows = GaugeMetricFamily("connector_erp_rate_windows",
                                    "ERP users' rate-limit windows now running, and those spent", labels=["status"])
        fullest = GaugeMetricFamily("connector_erp_rate_window_max_used_ratio",
                                    "Share of the ERP's own limit used in the fullest running window (0: none)")
        running = spent = 0
        ratio = 0.0
        backend = self._backend()
        try:
            now, states = backend.windows() if backend is not None else (0.0, [])
        except Exception:  # noqa: BLE001 - unreadable windows: report none rather than fail the scrape
            log.warning("metrics: rate-limit windows unreadable", exc_info=True)
            now, states = 0.0, []
        for state in states:
            if state.end <= now:
                continue
            running += 1
            if state.limit:
                ratio = max(ratio, min(1.0, state.used / state.limit))
                spent += state.used >= state.limit
        windows.add_metric(["running"], running)
        windows.add_metric(["spent"], spent)
        fullest.add_metric([], ratio)
        yield windows
        yield fullest


def metrics_registry(ctx) -> CollectorRegistry:
    """The registry ``/metrics`` renders: the database's view and the HTTP call counts."""
    share_counts_through(ctx.settings.redis_url)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(ctx))
    registry.register(HttpCallCollector())
    registry.register(MarkerScanCollector())
    registry.register(RateWindowCollector(ctx))
    return registry
