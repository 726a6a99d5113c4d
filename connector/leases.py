"""Keeping a lease alive while the work it guards runs.

Several things are claimed in the database with a time limit — an order being invoiced, a contact
being created — so that a process that dies frees them by itself. A live process must never look
dead, however long the ERP makes it wait, so it renews its lease from a thread while it works; a
killed process stops renewing and its lease runs out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Calls ``renew()`` every ``interval`` seconds while the ``with`` block runs; stops early when it
    returns False (the thing was settled or taken over: nothing left to keep)."""

    def __init__(self, renew: Callable[[], bool], interval: float, name: str):
        self.renew, self.interval, self.name = renew, max(0.2, interval), name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{name}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self.renew():
                    return
            except Exception:  # noqa: BLE001 - a failed renewal is retried at the next tick
                log.warning("%s: could not renew the lease", self.name, exc_info=True)
