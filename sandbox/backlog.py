"""What lets a channel sandbox hold a large backlog (100 000 orders) and serve it at speed.

* :class:`ListingCache`: a pull asks for the same filtered, sorted listing page after page. The
  sandboxes used to filter and sort every order for every page (O(n) per page, O(n²) per pull);
  the cache keeps the ids of the listings asked for recently, built once, and is emptied whenever
  an order is added or changed, so a listing still shifts under a running pull as the real one
  does.
* :func:`gc_paused`: seeding builds hundreds of thousands of small, long-lived, acyclic dicts. The
  cyclic garbage collector would walk the whole growing heap again and again while they are made
  (about half the seeding time at 100 000 orders) and could free none of them.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager


class ListingCache:
    """The ids of the last few listings, per query; the owner holds its lock around every call."""

    def __init__(self, size: int = 8):
        self.size = size
        self._listings: dict[Hashable, list[int]] = {}

    def ids(self, query: Hashable, build: Callable[[], list[int]]) -> list[int]:
        """The listing's ids for ``query``, built by ``build()`` when not cached."""
        listing = self._listings.get(query)
        if listing is None:
            listing = build()
            if len(self._listings) >= self.size:
                del self._listings[next(iter(self._listings))]  # the oldest query
            self._listings[query] = listing
        return listing

    def forget(self) -> None:
        """An order was added or changed: every listing is built again when next asked for."""
        self._listings.clear()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a backlog is built (restored as it was)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
