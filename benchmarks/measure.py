"""What the benchmarks measure with: RSS, a recording HTTP transport, request categories."""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx

LOOKUP_SEGMENTS = {"items", "warehouses", "price-lists", "taxes", "number-templates", "company"}
CATEGORIES = ("invoice_post", "contacts", "lookups", "reconcile", "other")


def rss_mb() -> float:
    """Current resident set size of this process, in MB (Linux /proc; else the peak)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """``ru_maxrss`` of this process in MB (kilobytes on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def category(method: str, path: str) -> str:
    """What an Alegra request is for, from its method and path (``/api/v1`` prefix optional)."""
    if path.startswith("/api/v1"):
        path = path[len("/api/v1"):]
    segment = path.strip("/").split("/")[0] if path.strip("/") else ""
    if segment == "invoices":
        if method == "POST" and path.rstrip("/") == "/invoices":
            return "invoice_post"
        return "reconcile" if method == "GET" else "other"
    if segment == "contacts":
        return "contacts"
    if segment in LOOKUP_SEGMENTS:
        return "lookups"
    return "other"


def by_category(counter: dict[str, int]) -> dict[str, int]:
    """A sandbox request Counter (``"POST /invoices"`` keys) summed by :func:`category`."""
    totals = dict.fromkeys(CATEGORIES, 0)
    for key, count in counter.items():
        method, _, path = key.partition(" ")
        totals[category(method, path)] += count
    return totals


def counter_diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before) if after.get(k, 0) != before.get(k, 0)}


class RecordingTransport(httpx.BaseTransport):
    """Wraps the real transport of the connector's adapters and notes every request it sends.

    ``records`` (when ``keep=True``): ``(sent, done, port, method, category, status, remaining)``.
    ``counts`` always: ``(port, category, status)`` -> n. Shared by several adapters, so ``close``
    leaves the pool open; :meth:`shutdown` closes it.
    """

    def __init__(self, *, keep: bool = True, classify: Callable[[str, str], str] | None = None):
        self.inner = httpx.HTTPTransport()
        self.keep = keep
        self.classify = classify or category
        self.records: list[tuple] = []
        self.counts: Counter = Counter()
        self.sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        sent = time.time()
        kind = self.classify(request.method, request.url.path)
        port = request.url.port
        self.sent += 1
        try:
            response = self.inner.handle_request(request)
        except Exception:
            self.counts[(port, kind, -1)] += 1
            if self.keep:
                self.records.append((sent, time.time(), port, request.method, kind, -1, None))
            raise
        remaining = response.headers.get("X-Rate-Limit-Remaining")
        self.counts[(port, kind, response.status_code)] += 1
        if self.keep:
            self.records.append((sent, time.time(), port, request.method, kind, response.status_code,
                                 int(remaining) if remaining and remaining.isdigit() else None))
        return response

    def close(self) -> None:
        return None

    def shutdown(self) -> None:
        self.inner.close()


class RssSampler(threading.Thread):
    """Samples this process's RSS every ``interval`` seconds with a progress figure."""

    def __init__(self, progress: Callable[[], int], interval: float = 0.5):
        super().__init__(daemon=True, name="rss-sampler")
        self.progress = progress
        self.interval = interval
        self.samples: list[tuple[float, int, float]] = []
        self._halt = threading.Event()
        self._started_at = time.monotonic()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.samples.append((round(time.monotonic() - self._started_at, 2), self.progress(), round(rss_mb(), 1)))

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.samples.append((round(time.monotonic() - self._started_at, 2), self.progress(), round(rss_mb(), 1)))


def _thin(samples: list, keep: int) -> list:
    if len(samples) <= keep:
        return samples
    step = (len(samples) - 1) / (keep - 1)
    return [samples[round(i * step)] for i in range(keep)]
