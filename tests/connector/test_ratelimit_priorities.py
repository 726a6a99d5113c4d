"""Priorities inside an ERP user's window: invoices first, follow-ups next, mirror bulk reads only in
spare room — and never while a backlog finds the window full. Both backends follow the same rules."""

from __future__ import annotations

import uuid

import pytest
import redis

from connector.ratelimit import (
    LocalBackend,
    RedisBackend,
    RequestClass,
    SharedRateLimit,
    SpareRoomSpent,
    request_class,
)
from tests.conftest import REDIS_URL

PER_MINUTE = 10  # ten requests a (60-second) window


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(backend, key="alegra:u1") -> SharedRateLimit:
    return SharedRateLimit(backend, key, PER_MINUTE, lambda _r: None, sleep=lambda _s: None)


def _mirror_reads_until_refused(policy: SharedRateLimit) -> int:
    taken = 0
    with request_class(RequestClass.MIRROR):
        while True:
            try:
                policy.acquire()
            except SpareRoomSpent:
                return taken
            taken += 1


def test_mirror_reads_take_only_the_room_above_the_reserve_and_leave_the_rest_to_invoices():
    backend = LocalBackend(clock=Clock())
    policy = limiter(backend)
    assert _mirror_reads_until_refused(policy) == 5  # half the window is kept for the classes before it
    for _ in range(5):  # invoices still find their room in the same window, without waiting
        policy.acquire()
    assert policy.waited == 0


def test_a_backlog_that_finds_the_window_full_keeps_mirror_reads_out_this_window_and_the_next():
    clock = Clock()
    backend = LocalBackend(clock=clock)
    policy = limiter(backend)
    for _ in range(PER_MINUTE):
        policy.acquire()
    assert backend.take("alegra:u1", PER_MINUTE) > 0  # the backlog had to wait: the window was full
    clock.now += 61  # the next window: the backlog goes on, the import stays out
    assert _mirror_reads_until_refused(policy) == 0
    policy.acquire()
    clock.now += 61  # a window later with no backlog: the import gets its spare room again
    assert _mirror_reads_until_refused(policy) == 5


def test_follow_ups_leave_a_small_reserve_for_invoices():
    backend = LocalBackend(clock=Clock())
    policy = limiter(backend)
    with request_class(RequestClass.FOLLOWUP):
        for _ in range(9):
            policy.acquire()
    assert backend.take("alegra:u1", PER_MINUTE, RequestClass.FOLLOWUP) > 0
    assert backend.take("alegra:u1", PER_MINUTE, RequestClass.DOCUMENTS) == 0


def test_the_class_is_the_callers_and_ends_with_its_block():
    backend = LocalBackend(clock=Clock())
    policy = limiter(backend)
    assert _mirror_reads_until_refused(policy) == 5
    policy.acquire()  # outside the block: an invoice again, never refused
    with pytest.raises(SpareRoomSpent), request_class(RequestClass.MIRROR):
        policy.acquire()


@pytest.mark.redis
def test_the_redis_window_keeps_the_same_priorities_across_processes():
    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"test:{uuid.uuid4().hex}:"
    first, second = RedisBackend(client, prefix), RedisBackend(redis.Redis.from_url(REDIS_URL), prefix)
    try:
        importer, seller = limiter(first), limiter(second)
        assert _mirror_reads_until_refused(importer) == 5
        for _ in range(5):
            seller.acquire()
        assert second.take("alegra:u1", PER_MINUTE) > 0  # full: the backlog waits, and says so
        assert first.take("alegra:u1", PER_MINUTE, RequestClass.MIRROR) > 0
    finally:
        for name in client.scan_iter(match=f"{prefix}*"):
            client.delete(name)


def test_orders_held_back_for_room_keep_the_mirror_out_even_when_no_worker_met_a_full_window():
    clock = Clock()
    backend = LocalBackend(clock=clock)
    policy = limiter(backend)
    for _ in range(3):
        policy.acquire()
    policy.note_backlog()  # the dispatcher held orders back: room is for them
    assert _mirror_reads_until_refused(policy) == 0
    clock.now += 61
    assert _mirror_reads_until_refused(policy) == 0  # and in the next window
    clock.now += 61
    assert _mirror_reads_until_refused(policy) == 5
