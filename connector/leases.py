"""Keeping a lease alive while the work it guards runs.

Several things are claimed in the database with a time limit — an order being invoiced, a contact
being created — so that a process that dies frees them by itself. A live process must never look
dead, however long the ERP makes it wait, so it renews its lease from a thread while it works; a
killed process stops renewing and its lease runs out.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import or_, update

from connector.models import utcnow

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


class RowLease:
    """A lease kept in a row: an owner token and an expiry column, with take / renew-if-owner /
    release-if-owner as conditional UPDATEs (the one lease primitive rows are claimed with).

    ``take`` succeeds only when nobody holds the row or its holder's lease ran out, plus any
    ``conditions`` the caller adds (the row's state, its due time); ``release`` and ``update`` write
    only while the token is still this owner's, which is what fences a process that lost its lease.
    """

    def __init__(self, db, model, row_id: int, seconds: float, *, token_column: str = "claim_token",
                 until_column: str = "claimed_until"):
        self.db, self.model, self.row_id, self.seconds = db, model, row_id, seconds
        self.token_column = getattr(model, token_column)
        self.until_column = getattr(model, until_column)
        self.token: str | None = None

    def take(self, *conditions, **values) -> bool:
        token, now = uuid.uuid4().hex, utcnow()
        with self.db.transaction() as session:
            taken = session.execute(
                update(self.model)
                .where(self.model.id == self.row_id, or_(self.until_column.is_(None), self.until_column < now),
                       *conditions)
                .values({self.token_column.key: token, self.until_column.key: now + timedelta(seconds=self.seconds),
                         **values})
                .execution_options(synchronize_session=False)).rowcount == 1
        self.token = token if taken else None
        return taken

    def update(self, session, **values) -> bool:
        """Write ``values`` (and renew the lease) in ``session`` only while the lease is still ours."""
        if self.token is None:
            return False
        return session.execute(
            update(self.model).where(self.model.id == self.row_id, self.token_column == self.token)
            .values({self.until_column.key: utcnow() + timedelta(seconds=self.seconds), **values})
            .execution_options(synchronize_session=False)).rowcount == 1

    def renew(self) -> bool:
        with self.db.transaction() as session:
            return self.update(session)

    def release(self, session, **values) -> bool:
        """Give the row up (in ``session``), writing ``values``, only while the lease is still ours."""
        if self.token is None:
            return False
        released = session.execute(
            update(self.model).where(self.model.id == self.row_id, self.token_column == self.token)
            .values({self.token_column.key: None, self.until_column.key: None, **values})
            .execution_options(synchronize_session=False)).rowcount == 1
        self.token = None
        return released

    def kept(self, name: str) -> LeaseKeeper:
        """Renews the lease every third of its length while the ``with`` block runs."""
        return LeaseKeeper(self.renew, self.seconds / 3, name)
