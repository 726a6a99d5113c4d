"""The sign-in throttle: attempts are reserved in the database *before* a password is checked.

Two counters, each a fixed window (``CONNECTOR_LOGIN_WINDOW``):

* per e-mail **from one client address** (``CONNECTOR_LOGIN_MAX_ATTEMPTS``, 8): guesses at one seller;
* per client address (``CONNECTOR_LOGIN_MAX_ATTEMPTS_PER_ADDRESS``, 100): one address spraying many
  e-mails. It is much higher than the first so that an address's guesses at one seller never lock out
  the other sellers behind that address (a shop's NAT, the reverse proxy).

:meth:`LoginThrottle.reserve` takes one attempt from both counters in one transaction, with
conditional UPDATEs (``attempts < limit``) or an INSERT for a new window: concurrent requests — in
threads or in other web processes — can never take more than the limit, and a reservation refused by
either counter takes nothing from the other. A successful sign-in, and an attempt that was never
evaluated (no free hashing slot), give their attempt back; failures stay counted until their window
ends — also after a success, so the invariant is simple: at most ``limit`` wrong passwords per e-mail
and address are ever checked in one window, however requests interleave.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connector.db import Database
from connector.models import LoginThrottleCounter as Counter


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class _Refused(Exception):
    """One counter is full: roll the whole reservation back."""


@dataclass(frozen=True)
class LoginThrottle:
    """Sign-in attempts per (e-mail, client address) and per client address, shared through ``db``."""

    db: Database
    limit: int = 8
    address_limit: int = 100
    window_seconds: int = 900

    @classmethod
    def from_settings(cls, db: Database, settings) -> LoginThrottle:
        return cls(db, limit=settings.login_max_attempts, address_limit=settings.login_max_attempts_per_address,
                   window_seconds=settings.login_window_seconds)

    def _keys(self, email: str, address: str) -> tuple[tuple[str, int], tuple[str, int]]:
        # Always the same order (e-mail, then address): concurrent reservations never deadlock.
        return ((_digest("email-at-address", email, address), self.limit),
                (_digest("address", address), self.address_limit))

    def reserve(self, email: str, address: str, now: datetime) -> bool:
        """Take one attempt for ``email`` from ``address``; False when either counter is spent."""
        try:
            with self.db.transaction() as session:
                for key, limit in self._keys(email, address):
                    if not self._take(session, key, limit, now):
                        raise _Refused
        except _Refused:
            return False
        return True

    def _take(self, session: Session, key: str, limit: int, now: datetime) -> bool:
        window_start = now - timedelta(seconds=self.window_seconds)
        for _ in range(3):
            taken = session.execute(
                update(Counter).where(Counter.key == key, Counter.window_started_at > window_start,
                                      Counter.attempts < limit)
                .values(attempts=Counter.attempts + 1).execution_options(synchronize_session=False))
            if taken.rowcount:
                return True
            renewed = session.execute(
                update(Counter).where(Counter.key == key, Counter.window_started_at <= window_start)
                .values(attempts=1, window_started_at=now).execution_options(synchronize_session=False))
            if renewed.rowcount:
                return True
            if session.scalar(select(Counter.attempts).where(Counter.key == key)) is not None:
                return False  # the window is current and full
            if secrets.randbelow(50) == 0:  # now and then, housekeeping: windows that are over
                session.execute(delete(Counter).where(Counter.window_started_at <= window_start))
            try:
                with session.begin_nested():
                    session.add(Counter(key=key, attempts=1, window_started_at=now))
            except IntegrityError:  # another request opened this window a moment ago: count in it
                continue
            return True
        return False

    def give_back(self, email: str, address: str) -> None:
        """An attempt that was reserved but never evaluated."""
        self._give_back([key for key, _ in self._keys(email, address)])

    def succeeded(self, email: str, address: str) -> None:
        """A right password costs nothing: its attempt is given back (earlier failures stay counted)."""
        self.give_back(email, address)

    def _give_back(self, keys: list[str]) -> None:
        with self.db.transaction() as session:
            for key in keys:  # one row at a time, in reserve()'s order (never a lock-order deadlock)
                session.execute(update(Counter).where(Counter.key == key, Counter.attempts > 0)
                                .values(attempts=Counter.attempts - 1).execution_options(synchronize_session=False))

    def forget_expired(self, now: datetime) -> int:
        """Delete the counters whose window is over (housekeeping; they would be renewed anyway)."""
        with self.db.transaction() as session:
            return session.execute(delete(Counter).where(
                Counter.window_started_at <= now - timedelta(seconds=self.window_seconds))).rowcount
