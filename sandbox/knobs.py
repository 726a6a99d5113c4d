"""Fault and latency knobs shared by every sandbox server, changeable at run time.

Tests and the chaos suite change them directly (same process) or through ``POST /_sandbox/knobs``.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from flask import Flask, Response, jsonify, request


@dataclass
class Knobs:
    latency_ms: int = 0  # added to every request
    error_rate: float = 0.0  # probability of a 500 before doing anything
    burst_429_rate: float = 0.0  # probability of a 429 regardless of the rate limit
    timeout_after_commit_rate: float = 0.0  # write committed, then the answer is delayed past timeouts
    commit_stall_seconds: float = 30.0  # how long that delay is
    reset_after_commit_rate: float = 0.0  # write committed, then the connection is dropped
    reset_before_commit_rate: float = 0.0  # the connection is dropped before the write is done
    maintenance_until: float = 0.0  # epoch seconds; until then every request gets 503
    rate_limit_per_minute: int = 150  # Alegra: per user
    rate_window_seconds: float = 60.0
    stamp_answer_delay: float = 1.0  # Alegra: seconds until the tax authority answers a stamped e-invoice
    stamp_reject_share: float = 0.0  # Alegra: share of invoices whose first stamp is rejected (by invoice id)
    # One kind of write losing its answer more often than the rest (the chaos suite: "stock" on the stores,
    # "subscription" on the ERPs): {kind: probability} that the write commits and its answer is then lost,
    # half the time dropped, half stalled past the client's timeout — on top of every write's faults.
    lost_answer_rates: dict[str, float] = field(default_factory=dict)
    seed: int | None = None
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # How many times each fault was injected ("error_rate", "maintenance", ...): the chaos suite reports it.
    injected: Counter = field(default_factory=Counter, repr=False)

    def chance(self, probability: float, fault: str | None = None) -> bool:
        """True with ``probability``; counted under ``fault`` when it fires."""
        if probability <= 0:
            return False
        with self._lock:
            fired = self._rng.random() < probability
            if fired and fault:
                self.injected[fault] += 1
            return fired

    def count(self, fault: str) -> None:
        with self._lock:
            self.injected[fault] += 1

    def public(self) -> dict:
        """The settable knobs and their values (what ``/_sandbox/knobs`` answers)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in self._settable()}

    @classmethod
    def _settable(cls) -> set[str]:
        return {f.name for f in fields(cls) if not f.name.startswith("_") and f.name != "injected"}

    def update(self, values: dict) -> None:
        allowed = self._settable()
        for key, value in values.items():
            if key not in allowed:
                raise KeyError(key)
            setattr(self, key, value)
        if "seed" in values and values["seed"] is not None:
            self._rng.seed(values["seed"])

    def in_maintenance(self) -> bool:
        return time.time() < self.maintenance_until


def install_fault_hooks(app: Flask, knobs: Knobs, *, maintenance_body: dict | None = None) -> None:
    """Latency, maintenance windows and random 5xx for every non-control route, plus the control API."""

    @app.before_request
    def _faults():
        if request.path.startswith("/_sandbox"):
            return None
        if knobs.latency_ms:
            time.sleep(knobs.latency_ms / 1000)
        if knobs.in_maintenance():
            knobs.count("maintenance")
            body = maintenance_body or {"message": "Estamos en mantenimiento programado.", "code": 503}
            return jsonify(body), 503
        if knobs.chance(knobs.error_rate, "error_rate"):
            return jsonify({"message": "Internal server error", "code": 500}), 500
        return None

    @app.get("/_sandbox/knobs")
    def _get_knobs():
        return jsonify(knobs.public())

    @app.post("/_sandbox/knobs")
    def _set_knobs():
        try:
            knobs.update(request.get_json(force=True) or {})
        except KeyError as exc:
            return jsonify({"error": f"unknown knob {exc.args[0]}"}), 400
        return jsonify(knobs.public())


def drop_connection() -> Response:
    """Close the socket under the running request: the client sees the connection die, no answer.

    Werkzeug puts the connection in ``environ["werkzeug.socket"]``; after ``shutdown`` its own write
    fails with a broken pipe, which it treats as a client that went away. Without a socket (Flask's test
    client) the client gets an empty 200, which is just as ambiguous for a write.
    """
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    return Response(b"", status=200)


def faulty_write(knobs: Knobs, commit: Callable[[], Any], *, kind: str = "") -> Any:
    """Run a write's ``commit`` (which returns the answer) under the write faults, the same for every
    write of every sandbox: the connection dropped before the write; the write done and then the
    connection dropped, or the answer stalled past the client's timeout. A write ``commit`` refuses
    (it raises) commits nothing, so no after-commit fault follows it. ``kind`` names the write for
    ``lost_answer_rates`` (counted as ``lost_answer_<kind>``)."""
    if knobs.chance(knobs.reset_before_commit_rate, "reset_before_commit_rate"):
        return drop_connection()
    answer = commit()
    if kind and knobs.chance(knobs.lost_answer_rates.get(kind, 0.0), f"lost_answer_{kind}"):
        if knobs.chance(0.5):
            return drop_connection()
        time.sleep(knobs.commit_stall_seconds)
        return answer
    if knobs.chance(knobs.reset_after_commit_rate, "reset_after_commit_rate"):
        return drop_connection()
    if knobs.chance(knobs.timeout_after_commit_rate, "timeout_after_commit_rate"):
        time.sleep(knobs.commit_stall_seconds)
    return answer

