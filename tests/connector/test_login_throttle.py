"""The sign-in throttle's counters in the database (SQLite and PostgreSQL): atomic under concurrency,
per (e-mail, address) and per address, windows that end."""

import threading
from datetime import UTC, datetime, timedelta

from connector.login_throttle import LoginThrottle

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_counts_per_email_and_address_and_a_success_costs_nothing(ctx):
    throttle = LoginThrottle(ctx.db, limit=2, address_limit=5, window_seconds=60)
    assert throttle.reserve("a@t.co", "10.0.0.1", T0)
    throttle.succeeded("a@t.co", "10.0.0.1")  # a right password gives its attempt back
    assert throttle.reserve("a@t.co", "10.0.0.1", T0) and throttle.reserve("a@t.co", "10.0.0.1", T0)
    assert not throttle.reserve("a@t.co", "10.0.0.1", T0)
    assert throttle.reserve("a@t.co", "10.0.0.2", T0)  # another address: its own count
    assert throttle.reserve("b@t.co", "10.0.0.1", T0)  # another seller behind the same address


def test_the_address_limit_holds_across_emails_and_a_refusal_takes_nothing(ctx):
    throttle = LoginThrottle(ctx.db, limit=2, address_limit=3, window_seconds=60)
    assert all(throttle.reserve(f"u{n}@t.co", "10.0.0.9", T0) for n in range(3))
    assert not throttle.reserve("u9@t.co", "10.0.0.9", T0)
    # The refused attempt did not take u9's: once the address has room again, u9 still has its two.
    throttle.give_back("u0@t.co", "10.0.0.9")
    assert throttle.reserve("u9@t.co", "10.0.0.9", T0)


def test_a_window_ends(ctx):
    throttle = LoginThrottle(ctx.db, limit=1, address_limit=10, window_seconds=60)
    assert throttle.reserve("a@t.co", "10.0.0.1", T0)
    assert not throttle.reserve("a@t.co", "10.0.0.1", T0 + timedelta(seconds=59))
    assert throttle.reserve("a@t.co", "10.0.0.1", T0 + timedelta(seconds=61))
    assert not throttle.reserve("a@t.co", "10.0.0.1", T0 + timedelta(seconds=62))
    assert throttle.forget_expired(T0 + timedelta(hours=1)) == 2


def test_concurrent_reservations_never_exceed_the_limit(ctx):
    throttle = LoginThrottle(ctx.db, limit=8, address_limit=100, window_seconds=900)
    start = threading.Barrier(24)
    granted: list[bool] = []

    def attempt() -> None:
        start.wait()
        granted.append(throttle.reserve("a@t.co", "10.0.0.1", T0))

    threads = [threading.Thread(target=attempt) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(granted) == 24 and granted.count(True) == 8
