"""What the connector's mirror can follow in a Siigo company: its **product** webhooks.

Siigo's API Blueprint ([APIB Group Webhooks]) documents three topics, all about products:
``public.siigoapi.products.create``, ``public.siigoapi.products.update`` and
``public.siigoapi.products.stock.update``; ``POST /v1/webhooks {application_id, topic, url}`` → ``{id,
application_id, url, topic, company_key, active, created_at}``; ``GET /v1/webhooks`` (``pagination`` +
``results``); ``DELETE /v1/webhooks/{id}``. A delivery carries ``company_key``, ``username``, ``topic``
and the product as ``GET /v1/products/{id}`` answers it (``id``, ``code``, ...): only ``topic`` and
``code`` (the connector's id of a Siigo product) are used; the product is re-read.

Not offered, so not mapped (the mirror keeps to reading for them): product deletion, customers and
invoices have no webhook topic. ``get_contact``/``list_contacts_page`` are left out on purpose: without
customer events a local copy of Siigo's customers could not be kept current, and the id the core keeps
for a Siigo customer is its identification number itself (``find_contact`` asks Siigo by it).
*Unconfirmed*: whether deliveries are signed (nothing documented; the mirror's URL carries its secret),
and whether an inactive subscription (``active: false``) is still listed — it is read as absent.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from connector.errors import InvalidPayload, NotFound
from erp.base import MirrorEvent, MirrorNotice, WebhookSubscription
from erp.siigo import parsing
from erp.siigo.client import PARTNER_ID, SiigoRequestor

WEBHOOKS = "/v1/webhooks"
MIRROR_EVENTS: dict[MirrorEvent, str] = {
    MirrorEvent.ITEM_CREATED: "public.siigoapi.products.create",
    MirrorEvent.ITEM_UPDATED: "public.siigoapi.products.update",
    MirrorEvent.ITEM_STOCK_UPDATED: "public.siigoapi.products.stock.update",
}
_EVENT_OF_TOPIC = {topic: event for event, topic in MIRROR_EVENTS.items()}
_MAX_PAGES = 40  # 1,000 subscriptions: far beyond what a company has (3 topics per application)


def parse_subscription(raw: Any) -> WebhookSubscription | None:
    if not isinstance(raw, dict) or raw.get("active") is False:
        return None
    remote_id, topic = parsing.text(raw.get("id")), parsing.text(raw.get("topic"))
    if remote_id is None or topic is None:
        return None
    return WebhookSubscription(remote_id=remote_id, event=topic, url=parsing.text(raw.get("url")) or "")


def parse_notice(body: bytes) -> MirrorNotice | None:
    """The change and product code of a delivery; None for a topic the mirror does not follow."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidPayload("La notificación no es JSON.", detail="undecodable ERP webhook body") from None
    if not isinstance(document, dict):
        raise InvalidPayload("La notificación no tiene el formato esperado.", detail="ERP webhook body not an object")
    event = _EVENT_OF_TOPIC.get(str(document.get("topic") or "").strip())
    if event is None:
        return None
    code = parsing.text(document.get("code"))
    if code is None or len(code) > 60:
        raise InvalidPayload("La notificación no dice de qué producto se trata.", detail=repr(document)[:200])
    return MirrorNotice(event=event, record_id=code)


class SiigoMirrorMixin:
    """The mirror's half of :class:`erp.siigo.adapter.SiigoAdapter` (it provides ``requestor``)."""

    requestor: SiigoRequestor
    mirror_events: ClassVar[dict[MirrorEvent, str]] = MIRROR_EVENTS

    def list_webhook_subscriptions(self) -> list[WebhookSubscription]:
        """``GET /v1/webhooks`` page by page (a plain array is read too)."""
        found: list[WebhookSubscription] = []
        for page in range(1, _MAX_PAGES + 1):
            records, total = parsing.page_of(self.requestor.get(WEBHOOKS, params={"page": page,
                                                                                 "page_size": 25}).json())
            found += [s for s in map(parse_subscription, records) if s is not None]
            if total is None or not records or page * 25 >= total:
                break
        return found

    def create_webhook_subscription(self, event: str, url: str) -> WebhookSubscription:
        """``POST /v1/webhooks`` once: a lost answer is ``AmbiguousOutcome`` (list to settle it)."""
        body = self.requestor.post(WEBHOOKS, json={"application_id": PARTNER_ID, "topic": event, "url": url}).json()
        subscription = parse_subscription(body)
        if subscription is None:
            raise InvalidPayload("Siigo creó la suscripción pero no devolvió su id.", detail=repr(body)[:300])
        return subscription

    def delete_webhook_subscription(self, remote_id: str) -> None:
        """``DELETE /v1/webhooks/{id}``: deleting twice is harmless, so it is retried like a read."""
        text = str(remote_id).strip()
        if not text or not all(c.isalnum() or c == "-" for c in text) or len(text) > 64:
            raise NotFound("Id de suscripción inválido.", detail=f"subscription id {remote_id!r}")
        self.requestor.request("DELETE", f"{WEBHOOKS}/{text}", idempotent=True)

    def parse_mirror_notice(self, body: bytes) -> MirrorNotice | None:
        return parse_notice(body)
