"""The Alegra sandbox's webhooks: subscriptions kept like Alegra keeps them, and deliveries of every
change to an item, a client or an invoice.

* ``POST /webhooks/subscriptions {event, url}`` → ``{"subscription": {"id", "event", "url"}}`` (an URL
  without a scheme is an https one, as Alegra takes them); ``GET`` lists them; ``DELETE .../{id}``.
* A change (through the API or a test handle) is POSTed, **unsigned**, as
  ``{"subject": "<event>", "message": {"item"|"client"|"invoice": {...}}}`` to every subscription of
  that event, from a background thread: the request that made the change never waits for it.
* A delivery that fails (no answer within 5 s, or not 2xx) counts against its subscription; after
  :data:`MAX_FAILURES` consecutive failures the subscription is deleted, as Alegra does.

Tests read :attr:`AlegraWebhooks.deliveries`, call :meth:`AlegraWebhooks.wait_idle`, and drop a
subscription with :meth:`AlegraWebhooks.drop` (what Alegra does after repeated failures).
"""

from __future__ import annotations

import copy
import json
import queue
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
from flask import Flask, jsonify

from integrations.http import shared_tls_context
from sandbox.alegra_http import AlegraError, json_body, ref_id
from sandbox.knobs import Knobs, faulty_write

MAX_FAILURES = 10  # Alegra deletes a subscription after this many failed deliveries in a row
ANSWER_WITHIN_SECONDS = 5.0
EVENTS = frozenset(f"{verb}-{record}" for verb in ("new", "edit", "delete")
                   for record in ("invoice", "bill", "client", "item"))
_RECORD_KEY = {"item": "item", "client": "client", "invoice": "invoice", "bill": "bill"}


@dataclass
class SandboxDelivery:
    subscription_id: int
    event: str
    url: str
    body: dict[str, Any]
    status: int | None = None
    error: str | None = None


@dataclass
class AlegraWebhooks:
    """Subscriptions and a background sender (thread-safe)."""

    subscriptions: dict[int, dict[str, Any]] = field(default_factory=dict)
    failures: dict[int, int] = field(default_factory=dict)
    deliveries: list[SandboxDelivery] = field(default_factory=list)
    timeout: float = ANSWER_WITHIN_SECONDS
    _next_id: int = 1
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _queue: queue.Queue = field(default_factory=queue.Queue, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    # -- subscriptions ---------------------------------------------------------------------------

    def subscribe(self, event: str, url: str) -> dict[str, Any]:
        if event not in EVENTS:
            raise AlegraError(400, f"El evento «{event}» no es válido", 1100)
        if not url or not url.strip():
            raise AlegraError(400, "La url es obligatoria", 1101)
        with self._lock:
            subscription = {"id": self._next_id, "event": event, "url": url.strip()}
            self.subscriptions[self._next_id] = subscription
            self.failures[self._next_id] = 0
            self._next_id += 1
            return dict(subscription)

    def listed(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(s) for s in sorted(self.subscriptions.values(), key=lambda s: s["id"])]

    def drop(self, subscription_id: int) -> bool:
        """Delete a subscription (the API's DELETE, or Alegra giving up on a failing URL)."""
        with self._lock:
            self.failures.pop(subscription_id, None)
            return self.subscriptions.pop(subscription_id, None) is not None

    def events_subscribed(self) -> set[str]:
        with self._lock:
            return {s["event"] for s in self.subscriptions.values()}

    # -- deliveries ------------------------------------------------------------------------------

    def notify(self, event: str, record_kind: str, record: dict[str, Any]) -> int:
        """Queue the delivery of ``event`` about ``record`` to each subscription of it; how many."""
        body = {"subject": event, "message": {_RECORD_KEY[record_kind]: copy.deepcopy(record)}}
        with self._lock:
            targets = [dict(s) for s in self.subscriptions.values() if s["event"] == event]
            for subscription in targets:
                self._queue.put((subscription, body))
            if targets and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._send_loop, name="sandbox-alegra-webhooks", daemon=True)
                self._thread.start()
        return len(targets)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery was attempted (tests); False on timeout."""
        done = threading.Event()

        def waiter():
            self._queue.join()
            done.set()

        threading.Thread(target=waiter, daemon=True).start()
        return done.wait(timeout)

    def _send_loop(self) -> None:
        while True:
            try:
                subscription, body = self._queue.get(timeout=5.0)
            except queue.Empty:
                return
            try:
                self._deliver(subscription, body)
            finally:
                self._queue.task_done()

    def _deliver(self, subscription: dict[str, Any], body: dict[str, Any]) -> None:
        url = subscription["url"]
        target = url if "://" in url else f"https://{url}"
        delivery = SandboxDelivery(subscription["id"], subscription["event"], target, body)
        try:
            content = json.dumps(body, default=_json_default, ensure_ascii=False).encode("utf-8")
            response = httpx.post(target, content=content, headers={"Content-Type": "application/json"},
                                  timeout=self.timeout, follow_redirects=False, verify=shared_tls_context())
            delivery.status = response.status_code
            ok = 200 <= response.status_code < 300
        except httpx.HTTPError as exc:
            delivery.error = type(exc).__name__
            ok = False
        with self._lock:
            self.deliveries.append(delivery)
            if subscription["id"] not in self.subscriptions:
                return
            self.failures[subscription["id"]] = 0 if ok else self.failures.get(subscription["id"], 0) + 1
            if self.failures[subscription["id"]] >= MAX_FAILURES:
                self.drop(subscription["id"])


class ItemChanges:
    """Items created, changed and deleted after seeding (the API's ``POST/PUT/DELETE /items`` and tests),
    each delivered to the subscribers. Mixed into :class:`sandbox.alegra.AlegraState` (it provides
    ``items``, ``taxes``, ``webhooks`` and ``lock``)."""

    def add_item(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A new simple item (``name``, ``reference``, ``price``, ``tax``, ``customFields``...); a copy back."""
        with self.lock:
            item_id = max(self.items, default=0) + 1
            item = {"description": "", "reference": None, "type": "product", "status": "active", "customFields": [],
                    "tax": [], "price": [], **copy.deepcopy(payload), "id": item_id}
            if not str(item.get("name") or "").strip():
                raise AlegraError(400, "El nombre del ítem es obligatorio", 2101)
            item["tax"] = [next((copy.deepcopy(t) for t in self.taxes if t["id"] == ref_id(tax)), tax)
                           for tax in item["tax"]]
            self.items[item_id] = item
            self.webhooks.notify("new-item", "item", item)
            return copy.deepcopy(item)

    def edit_item(self, item_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            item = self.items.get(int(item_id))
            if item is None:
                raise AlegraError(404, "El ítem no existe", 404)
            item.update({k: copy.deepcopy(v) for k, v in changes.items() if k != "id"})
            self.webhooks.notify("edit-item", "item", item)
            return copy.deepcopy(item)

    def delete_item(self, item_id: int) -> bool:
        with self.lock:
            item = self.items.pop(int(item_id), None)
            if item is not None:
                self.webhooks.notify("delete-item", "item", {"id": item["id"]})
            return item is not None


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):  # Alegra answers amounts as JSON numbers
        return float(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def install_webhook_routes(app: Flask, webhooks: AlegraWebhooks, api: str, knobs: Knobs) -> None:
    """``/webhooks/subscriptions`` on the sandbox app (authenticated and rate-limited like every route;
    creating or deleting one is a write under the knobs' write faults, like every other write)."""

    @app.post(f"{api}/webhooks/subscriptions")
    def create_subscription():
        body = json_body()
        return faulty_write(knobs, lambda: (jsonify({"subscription": webhooks.subscribe(
            str(body.get("event") or ""), str(body.get("url") or ""))}), 201), kind="subscription")

    @app.get(f"{api}/webhooks/subscriptions")
    def list_subscriptions():
        return jsonify(webhooks.listed())

    @app.delete(f"{api}/webhooks/subscriptions/<int:subscription_id>")
    def delete_subscription(subscription_id: int):
        def commit():
            if not webhooks.drop(subscription_id):
                raise AlegraError(404, "La suscripción no existe", 404)
            return jsonify({"code": 200, "message": "La suscripción fue eliminada correctamente"})

        return faulty_write(knobs, commit, kind="subscription")
