"""Refunds in the marketplace sandboxes: given over time, on demand, and every one recorded.

Each channel sandbox state (Mercado Libre, Shopify, WooCommerce) is a :class:`RefundingStore`. It
renders a refund in its marketplace's documented shape with its own ``refund(order_id, ...)``; this
module gives them what they share:

* **Over time.** A sale's planned refunds (:class:`~sandbox.catalog.RefundSpec`, drawn by
  ``generate_sales(..., refund_share=...)``) fall due ``after_minutes`` after the state took the
  sale, each sandbox minute lasting ``refund_minute_seconds`` real seconds (1 by default: a refund
  "30 minutes" after the sale comes 30 s after seeding). :meth:`RefundingStore.apply_due_refunds`
  gives the due ones (the :class:`RefundTicker` of a started :class:`~sandbox.server.Sandbox` calls
  it twice a second); :meth:`RefundingStore.release_refunds` gives every planned one now.
* **On demand.** ``state.refund(order_id, lines={0: 1}, shipping=True, full=False, reason=...)``:
  ``lines`` maps a line's position in the order (0 = first) to the units given back; ``full`` gives
  back everything not given back yet.
* **Records.** :meth:`RefundingStore.refund_records` lists every refund given, oldest first:
  ``{"channel", "refund_id", "order_id", "amount", "full", "at"}`` with ``refund_id`` as the
  channel's parser names it and ``amount`` what that refund gave back, in the order's tax
  convention, as text (on Mercado Libre two refunds of one payment share its ``payment-<id>``:
  the parser sees their sum). Also served at ``GET /_sandbox/refunds``.

Giving a refund moves the order's update time past every other order's, so a cursor-based pull
sees it, and delivers the marketplace's webhooks for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask import Flask, jsonify, request

from sandbox.catalog import RefundSpec

Clock = Callable[[], float]


class RefundingStore:
    """Planned, on-demand and recorded refunds of one marketplace sandbox (see the module docstring).

    A subclass calls :meth:`_init_refunds` in its constructor, :meth:`plan_refunds` for each sale it
    takes, implements :meth:`refund` and calls :meth:`_record_refund` for each refund it gives.
    """

    channel = ""

    def _init_refunds(self, clock: Clock = time.time) -> None:
        self.refund_minute_seconds = 1.0
        self._refund_clock = clock
        self._planned: list[tuple[float, int, int, RefundSpec]] = []  # (taken at, order, sequence, spec)
        self._refund_log: list[dict[str, Any]] = []
        self._refund_guard = threading.Lock()

    def plan_refunds(self, order_id: int, refunds: Iterable[RefundSpec]) -> None:
        """Give ``refunds`` of ``order_id`` when they fall due, counting from now."""
        now = self._refund_clock()
        with self._refund_guard:
            for spec in refunds:
                self._planned.append((now, int(order_id), len(self._planned), spec))

    def planned_refunds(self) -> int:
        """How many planned refunds are still to be given."""
        with self._refund_guard:
            return len(self._planned)

    def _take_planned(self, everything: bool) -> list[tuple[int, RefundSpec]]:
        now = self._refund_clock()
        with self._refund_guard:
            due = [p for p in self._planned
                   if everything or p[0] + p[3].after_minutes * self.refund_minute_seconds <= now]
            self._planned = [p for p in self._planned if p not in due]
        due.sort(key=lambda p: (p[0] + p[3].after_minutes * self.refund_minute_seconds, p[2]))
        return [(order_id, spec) for _, order_id, _, spec in due]

    def apply_due_refunds(self) -> list[dict[str, Any]]:
        """Give every planned refund that is due; returns their records."""
        return self._give(self._take_planned(everything=False))

    def release_refunds(self) -> list[dict[str, Any]]:
        """Give every planned refund now, due or not (a demo or a test that cannot wait)."""
        return self._give(self._take_planned(everything=True))

    def _give(self, planned: list[tuple[int, RefundSpec]]) -> list[dict[str, Any]]:
        given = []
        for order_id, spec in planned:
            record = self.refund(order_id, lines=dict(spec.lines), shipping=spec.shipping, full=spec.full,
                                 reason=spec.reason)
            if record is not None:
                given.append(record)
        return given

    def refund(self, order_id: int, *, lines: Mapping[int, int] | None = None, shipping: bool = False,
               full: bool = False, reason: str = "", notify: bool = True) -> dict[str, Any] | None:
        """Give money back on ``order_id`` in the marketplace's shape; the record, or None when there
        is nothing left to give back."""
        raise NotImplementedError

    def _record_refund(self, *, refund_id: str, order_id: int, amount: Decimal, full: bool,
                       at: datetime) -> dict[str, Any]:
        record = {"channel": self.channel, "refund_id": str(refund_id), "order_id": str(order_id),
                  "amount": str(amount), "full": full, "at": at.isoformat()}
        with self._refund_guard:
            self._refund_log.append(record)
        return dict(record)

    def refund_records(self) -> list[dict[str, Any]]:
        """Every refund given so far, oldest first (see the module docstring)."""
        with self._refund_guard:
            return [dict(record) for record in self._refund_log]


def line_units(lines: Mapping[Any, Any] | None) -> dict[int, int]:
    """``{line position: units}`` from a mapping whose keys may be text (JSON)."""
    return {int(index): int(units) for index, units in (lines or {}).items() if int(units) > 0}


def share(total: Decimal, part: int, whole: int, cent: Decimal = Decimal("0.01")) -> Decimal:
    """``part`` of ``whole`` units of ``total``, to the cent."""
    return (total * part / whole).quantize(cent, ROUND_HALF_UP) if whole else Decimal("0")


class RefundTicker:
    """A thread giving the due planned refunds of some states, every ``interval`` seconds."""

    def __init__(self, stores: Iterable[RefundingStore], interval: float = 0.5):
        self.stores, self.interval = list(stores), interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-refunds", daemon=True)

    def start(self) -> RefundTicker:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for store in self.stores:
                if store.planned_refunds():
                    store.apply_due_refunds()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


def install_refund_routes(app: Flask, store: RefundingStore) -> None:
    """The control API of a store's refunds (never part of the marketplace's own API):
    ``GET /_sandbox/refunds`` (records), ``POST /_sandbox/refunds/release`` (every planned refund
    now) and ``POST /_sandbox/orders/<id>/refunds`` (one refund on demand: JSON ``lines``
    ``{"0": 1}``, ``shipping``, ``full``, ``reason``)."""

    @app.get("/_sandbox/refunds")
    def _refund_records():
        return jsonify({"refunds": store.refund_records(), "planned": store.planned_refunds()})

    @app.post("/_sandbox/refunds/release")
    def _release_refunds():
        return jsonify({"refunds": store.release_refunds()})

    @app.post("/_sandbox/orders/<int:order_id>/refunds")
    def _refund_order(order_id: int):
        body = request.get_json(force=True, silent=True) or {}
        try:
            record = store.refund(order_id, lines=line_units(body.get("lines")), shipping=bool(body.get("shipping")),
                                  full=bool(body.get("full")), reason=str(body.get("reason") or ""))
        except KeyError:
            return jsonify({"error": f"unknown order {order_id}"}), 404
        except (TypeError, ValueError) as exc:
            return jsonify({"error": str(exc)}), 400
        return (jsonify(record), 201) if record else (jsonify({"error": "nothing left to refund"}), 409)
