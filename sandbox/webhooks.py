"""Webhook deliveries from the sandbox marketplaces to the connector, shaped like the real ones.

* :class:`WebhookSender` POSTs a body with its headers and remembers every delivery, so a test can
  :meth:`~WebhookSender.redeliver` one unchanged (a duplicate, as marketplaces do on timeouts).
* :func:`shopify_headers` / :func:`woocommerce_headers` sign the raw bytes like Shopify
  (``X-Shopify-Hmac-Sha256``) and WooCommerce (``X-WC-Webhook-Signature``) do.
* :class:`MercadoLibreNotifier` sends ``orders_v2`` notifications for the Mercado Libre sandbox
  (unsigned, as Mercado Libre sends them), after changing its state.

Deliveries are synchronous: the call returns once the connector answered (or failed to).
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from channels.base import hmac_sha256_base64
from integrations.http import shared_tls_context


@dataclass
class Delivery:
    """One POST to a subscriber: what was sent and how it was answered."""

    url: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None
    error: str | None = None
    answer: Any = None


@dataclass
class WebhookSender:
    """POSTs deliveries and keeps them (thread-safe)."""

    timeout: float = 10.0
    deliveries: list[Delivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Delivery:
        delivery = Delivery(url, dict(headers), body)
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=self.timeout, follow_redirects=False,
                                  verify=shared_tls_context())
            delivery.status = response.status_code
            try:
                delivery.answer = response.json()
            except ValueError:
                delivery.answer = response.text[:200]
        except httpx.HTTPError as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.deliveries.append(delivery)
        return delivery

    def redeliver(self, delivery: Delivery) -> Delivery:
        """The same delivery again, byte for byte (same id and signature)."""
        return self.post(delivery.url, delivery.body, delivery.headers)

    def last(self) -> Delivery:
        with self._lock:
            return self.deliveries[-1]


@dataclass(frozen=True)
class Subscription:
    url: str
    secret: str | None = None
    topics: tuple[str, ...] = ()
    webhook_id: int = 1

    def wants(self, topic: str) -> bool:
        return not self.topics or topic in self.topics


def json_body(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def shopify_headers(*, secret: str, body: bytes, topic: str, shop_domain: str, api_version: str) -> dict[str, str]:
    """Headers of a Shopify webhook delivery (a fresh ``X-Shopify-Webhook-Id``)."""
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": hmac_sha256_base64(secret, body),
        "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-API-Version": api_version,
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
        "User-Agent": "Shopify-Captain-Hook",
    }


def woocommerce_headers(*, secret: str, body: bytes, topic: str, source: str, webhook_id: int) -> dict[str, str]:
    """Headers of a WooCommerce webhook delivery (``X-WC-Webhook-*``, a fresh delivery id)."""
    resource, _, event = topic.partition(".")
    return {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)",
        "X-WC-Webhook-Source": source,
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": hmac_sha256_base64(secret, body),
        "X-WC-Webhook-ID": str(webhook_id),
        "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
    }


class MercadoLibreNotifier:
    """``orders_v2`` notifications for a :class:`sandbox.mercadolibre.MercadoLibreState`.

    ``subscribe(url)`` sets the application's callback URL (the connector's, with its ``?secret=``).
    ``add_sale`` / ``update_status`` change the state and notify, like Mercado Libre after a change;
    a refund the state gives (planned or on demand) is notified too.
    """

    def __init__(self, state, *, application_id: str | int, sender: WebhookSender | None = None):
        self.state = state
        self.application_id = int(application_id)
        self.sender = sender or WebhookSender()
        self.callback_url: str | None = None
        state.refund_listeners.append(self.notify_order)  # a refund changes the order: orders_v2

    def subscribe(self, url: str | None) -> None:
        self.callback_url = url

    def notification(self, order_id: int | str, *, attempts: int = 1) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {"_id": uuid.uuid4().hex, "resource": f"/orders/{order_id}", "user_id": self.state.user_id,
                "topic": "orders_v2", "application_id": self.application_id, "attempts": attempts,
                "sent": now, "received": now}

    def notify_order(self, order_id: int | str) -> Delivery | None:
        if not self.callback_url:
            return None
        body = json_body(self.notification(order_id))
        return self.sender.post(self.callback_url, body, {"Content-Type": "application/json",
                                                          "User-Agent": "MercadoLibre-Notifications"})

    def add_sale(self, spec) -> int:
        order_id = self.state.add_sale(spec)
        self.notify_order(order_id)
        return order_id

    def update_status(self, order_id: int, status: str, *, shipment_status: str | None = None) -> dict:
        order = self.state.update_status(order_id, status, shipment_status=shipment_status)
        self.notify_order(order_id)
        return order
