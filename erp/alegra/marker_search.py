"""Finding the invoice an ambiguous ``POST /invoices`` may have created, in at most two reads.

Alegra has no idempotency key: after a timeout or a dropped answer the connector looks for the
order's marker in the invoices' ``observations`` before sending anything again. An invoice Alegra
committed a moment ago is among its newest, so the client's invoices are read newest first
(``order_field=id&order_direction=DESC``, documented list parameters of Alegra's lists; the sandbox
implements them) and the marker looked for there:

1. **The newest page** of the client's invoices (30, Alegra's largest page). The marker is there →
   found. The page is short (the client's whole list) or it reaches ``older_than`` (an invoice created
   before the attempt: Alegra's ids are sequential numbers, so every invoice created after it has a
   larger id and sits above it on a newest-first page) → provably not created.
2. **The next page**, judged the same way (more than 30 of the client's invoices were made since).
3. Only then the **day-by-day scan** of the days around the invoice's date (the model before this
   one), counted in :attr:`MarkerSearch.full_scans` and in ``/metrics``
   (``connector_marker_search_scans``), and logged: at real volume it costs dozens of reads.

``query=<marker>`` is not used: Alegra documents ``query`` for items and contacts (name, reference);
for invoices it is unconfirmed, and a filter the server ignores would make step 1 look at the wrong
page. Assumption (unconfirmed in Alegra's documentation, true of every id we have seen): invoice ids
grow with creation. Without ``older_than`` only a short page proves absence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

from connector.metrics import count_marker_scan
from erp.alegra import parsing
from erp.alegra.client import MAX_PAGE_SIZE, SERVICE_NAME

log = logging.getLogger(__name__)

NEWEST_PAGES = 2  # pages read newest-first before falling back to the scan


class MarkerSearch:
    """Reads a list endpoint to find the record whose ``observations`` carry a marker."""

    def __init__(self, get_page: Callable[[str, dict[str, Any]], list[dict[str, Any]]],
                 iter_list: Callable[..., Iterator[dict[str, Any]]]):
        self._get_page = get_page
        self._iter_list = iter_list
        self.newest_reads = 0  # pages read newest-first
        self.full_scans = 0  # searches that had to fall back to the day-by-day scan

    def newest_first(self, path: str, marker: str, *, contact_id: str | None, around: date,
                     older_than: str | None) -> dict[str, Any] | None:
        """The record carrying ``marker``: the newest pages first, the day scan only as the last resort."""
        filters: dict[str, Any] = {"order_field": "id", "order_direction": "DESC"}
        if contact_id:
            filters["client_id"] = contact_id
        boundary = _as_int(older_than)
        below: int | None = None  # every id read so far is above this one
        for page in range(NEWEST_PAGES):
            records = self._get_page(path, {**filters, "start": page * MAX_PAGE_SIZE, "limit": MAX_PAGE_SIZE})
            self.newest_reads += 1
            for raw in records:
                if marker in str(raw.get("observations") or ""):
                    return raw
            if len(records) < MAX_PAGE_SIZE:
                return None  # the client's whole list was read
            ids = [_as_int(raw.get("id")) for raw in records]
            if not _newest_first(ids, below):
                # Not the order asked for (a server that ignored order_field/order_direction, or a list
                # that moved between pages): the boundary proves nothing here.
                log.warning("%s did not come newest first; searching the marker day by day", path)
                break
            below = ids[-1]
            if boundary is not None and ids[-1] <= boundary:
                return None  # the page reaches an invoice older than the attempt: nothing newer is missing
        self.full_scans += 1
        count_marker_scan(SERVICE_NAME)
        log.warning("marker search fell back to the day-by-day scan of %s (more than %d newer records)",
                    path, NEWEST_PAGES * MAX_PAGE_SIZE)
        return self.by_days(path, marker, contact_id=contact_id, around=around)

    def by_days(self, path: str, marker: str, *, contact_id: str | None, around: date) -> dict[str, Any] | None:
        """The first record of ``path`` dated ``around``, the day before or the day after (in that order),
        for ``contact_id`` when known, whose ``observations`` contain ``marker``."""
        for day in (around, around - timedelta(days=1), around + timedelta(days=1)):
            filters: dict[str, Any] = {"date": day.isoformat()}
            if contact_id:
                filters["client_id"] = contact_id
            for raw in self._iter_list(path, **filters):
                if marker in str(raw.get("observations") or ""):
                    return raw
        return None


def _newest_first(ids: list[int | None], below: int | None) -> bool:
    """True when ``ids`` are numbers in strictly falling order, all under ``below`` (the last page's)."""
    if not ids or any(i is None for i in ids):
        return False
    falling = all(a > b for a, b in zip(ids, ids[1:], strict=False))
    return falling and (below is None or ids[0] < below)


def _as_int(value: Any) -> int | None:
    text = parsing.as_id(value)
    return int(text) if text is not None and text.isdigit() else None
