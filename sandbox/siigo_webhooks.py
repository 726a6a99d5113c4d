"""The Siigo sandbox's webhooks, in the shapes of Siigo's API Blueprint (Group Webhooks): subscriptions
``POST /v1/webhooks {application_id, topic, url}`` → ``{id, application_id, url, topic, company_key,
active, created_at}``, ``GET /v1/webhooks`` (``pagination`` + ``results``), ``DELETE /v1/webhooks/{id}``,
and deliveries of the three documented product topics: the product as ``GET /v1/products/{id}`` answers
it plus ``company_key``, ``username`` and ``topic``, POSTed unsigned from a background thread (the sending
machinery is the Alegra sandbox's: :class:`sandbox.alegra_webhooks.AlegraWebhooks`).
"""

from __future__ import annotations

import copy
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask, jsonify

from sandbox.alegra_webhooks import AlegraWebhooks
from sandbox.knobs import Knobs, faulty_write
from sandbox.siigo_http import SiigoError, json_body, paged

TOPICS = frozenset({"public.siigoapi.products.create", "public.siigoapi.products.update",
                    "public.siigoapi.products.stock.update"})
COMPANY_KEY = "TiendaCafetera"


@dataclass
class SiigoWebhooks(AlegraWebhooks):
    """Subscriptions keyed by their UUID; ``event`` is the subscription's ``topic``."""

    def subscribe(self, event: str, url: str, application_id: str = "") -> dict[str, Any]:
        if event not in TOPICS:
            raise SiigoError(400, "invalid_type", f"The topic {event} does not exist", ["topic"])
        if not url.strip() or not application_id.strip():
            raise SiigoError(400, "parameter_required", "application_id, topic and url are required", ["url"])
        with self._lock:
            subscription = {"id": str(uuid.uuid4()), "application_id": application_id, "url": url.strip(),
                            "topic": event, "event": event, "company_key": COMPANY_KEY, "active": True,
                            "created_at": datetime.now(UTC).isoformat()}
            self.subscriptions[subscription["id"]] = subscription
            self.failures[subscription["id"]] = 0
            return _public(subscription)

    def listed(self) -> list[dict[str, Any]]:
        with self._lock:
            return [_public(s) for s in sorted(self.subscriptions.values(), key=lambda s: s["created_at"])]

    def notify_product(self, topic: str, product: dict[str, Any], username: str) -> int:
        """Queue ``topic`` about ``product`` to each subscription of it; how many."""
        body = {"company_key": COMPANY_KEY, "username": username, "topic": topic, **copy.deepcopy(product)}
        with self._lock:
            targets = [dict(s) for s in self.subscriptions.values() if s["topic"] == topic]
            for subscription in targets:
                self._queue.put((subscription, body))
            if targets:
                self._start_sender()
        return len(targets)

    def _start_sender(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._send_loop, name="sandbox-siigo-webhooks", daemon=True)
            self._thread.start()


def _public(subscription: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in subscription.items() if k != "event"}


def install_webhook_routes(app: Flask, webhooks: SiigoWebhooks, knobs: Knobs) -> None:
    @app.post("/v1/webhooks")
    def create_webhook():
        body = json_body()
        return faulty_write(knobs, lambda: (jsonify(webhooks.subscribe(
            str(body.get("topic") or ""), str(body.get("url") or ""), str(body.get("application_id") or ""))), 201),
            kind="subscription")

    @app.get("/v1/webhooks")
    def list_webhooks():
        return jsonify(paged(webhooks.listed(), "webhooks"))

    @app.delete("/v1/webhooks/<subscription_id>")
    def delete_webhook(subscription_id: str):
        def commit():
            if not webhooks.drop(subscription_id):
                raise SiigoError(404, "not_found", "Resource not found", [])
            return jsonify({"id": subscription_id, "deleted": True})

        return faulty_write(knobs, commit, kind="subscription")
