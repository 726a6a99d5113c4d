"""What the connector's mirror of an Alegra account needs: webhook subscriptions, the webhook payload,
one contact by id and the contacts page by page.

Shapes (API_NOTES and Alegra's public webhook examples; the points marked *unconfirmed* are parsed
defensively in both readings):

* ``POST /webhooks/subscriptions {"event": "new-item", "url": "..."}`` answers
  ``{"subscription": {"id", "event", "url"}}`` (the integrations we found read ``subscription.id``;
  *unconfirmed* whether the object may also come bare). They send the URL **without** ``https://``
  (Alegra only calls https addresses): we do the same for https URLs and compare URLs without it.
* ``GET /webhooks/subscriptions`` lists them (*unconfirmed* envelope: a plain array, ``{"data": [...]}``
  or ``{"subscriptions": [...]}`` are all read). ``DELETE /webhooks/subscriptions/{id}``.
* A delivery is unsigned: ``{"subject": "new-item", "message": {"item": {"id": "865", ...}}}`` (``client``
  and ``invoice`` likewise). Only ``subject`` and the record's id are used: the record is re-read.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from connector.errors import InvalidPayload
from erp.alegra import parsing
from erp.alegra.client import MAX_PAGE_SIZE
from erp.base import ContactPage, ContactRecord, MirrorEvent, MirrorNotice, WebhookSubscription

SUBSCRIPTIONS = "/webhooks/subscriptions"

MIRROR_EVENTS: dict[MirrorEvent, str] = {
    MirrorEvent.ITEM_CREATED: "new-item",
    MirrorEvent.ITEM_UPDATED: "edit-item",
    MirrorEvent.ITEM_DELETED: "delete-item",
    MirrorEvent.CONTACT_CREATED: "new-client",
    MirrorEvent.CONTACT_UPDATED: "edit-client",
    MirrorEvent.CONTACT_DELETED: "delete-client",
    MirrorEvent.INVOICE_UPDATED: "edit-invoice",
}
_EVENT_OF_SUBJECT = {subject: event for event, subject in MIRROR_EVENTS.items()}
_RECORD_KEYS = {"item": "item", "contact": "client", "invoice": "invoice"}


def subscription_url(url: str) -> str:
    """The URL as Alegra takes it: an https address without its scheme (other schemes, only met in
    the sandbox, are sent whole)."""
    return url[len("https://"):] if url.startswith("https://") else url


def parse_subscription(raw: Any) -> WebhookSubscription | None:
    if isinstance(raw, dict) and isinstance(raw.get("subscription"), dict):
        raw = raw["subscription"]
    if not isinstance(raw, dict):
        return None
    remote_id = parsing.as_id(raw.get("id"))
    event, url = parsing.as_text(raw.get("event")), parsing.as_text(raw.get("url"))
    if remote_id is None or event is None:
        return None
    # Listed back as a whole URL (Alegra keeps https ones without their scheme), so it compares equal
    # to the URL the connector subscribed.
    url = url or ""
    return WebhookSubscription(remote_id=remote_id, event=event, url=url if "://" in url or not url else f"https://{url}")


def parse_subscription_list(body: Any) -> list[WebhookSubscription]:
    if isinstance(body, dict):
        for key in ("data", "subscriptions"):
            if isinstance(body.get(key), list):
                body = body[key]
                break
    if not isinstance(body, list):
        raise InvalidPayload("Alegra devolvió las suscripciones con un formato inesperado.", detail=repr(body)[:300])
    return [s for s in map(parse_subscription, body) if s is not None]


def parse_notice(body: bytes) -> MirrorNotice | None:
    """The change and record id of a delivery; None for a subject the mirror does not follow."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidPayload("La notificación no es JSON.", detail="undecodable ERP webhook body") from None
    if not isinstance(document, dict):
        raise InvalidPayload("La notificación no tiene el formato esperado.", detail="ERP webhook body not an object")
    event = _EVENT_OF_SUBJECT.get(str(document.get("subject") or "").strip())
    if event is None:
        return None
    message = document.get("message") if isinstance(document.get("message"), dict) else {}
    record = message.get(_RECORD_KEYS[event.record])
    record_id = parsing.as_id(record) if isinstance(record, dict) else parsing.as_id(message.get("id"))
    if record_id is None or not record_id.isdigit():
        raise InvalidPayload("La notificación no dice de qué registro se trata.", detail=repr(document)[:200])
    return MirrorNotice(event=event, record_id=record_id)


def parse_contact_record(raw: dict[str, Any]) -> ContactRecord | None:
    erp_id = parsing.as_id(raw.get("id"))
    if erp_id is None:
        return None
    identification = raw.get("identificationObject") or raw.get("identification")
    kind = parsing.as_text(identification.get("type")) if isinstance(identification, dict) else None
    name = parsing.as_text(raw.get("name"))
    if name is None and isinstance(raw.get("nameObject"), dict):
        name = " ".join(str(v) for v in raw["nameObject"].values() if v) or None
    return ContactRecord(erp_id=erp_id, identification_number=parsing.contact_identification(raw),
                         identification_type=kind, name=(name or "")[:200])


class AlegraMirrorMixin:
    """The mirror's half of :class:`erp.alegra.adapter.AlegraAdapter` (it provides ``requestor``)."""

    mirror_events: ClassVar[dict[MirrorEvent, str]] = MIRROR_EVENTS

    def list_webhook_subscriptions(self) -> list[WebhookSubscription]:
        return parse_subscription_list(self.requestor.get(SUBSCRIPTIONS).json())

    def create_webhook_subscription(self, event: str, url: str) -> WebhookSubscription:
        """``POST /webhooks/subscriptions`` once: a lost answer is ``AmbiguousOutcome`` (list to settle it)."""
        body = self.requestor.post(SUBSCRIPTIONS, json={"event": event, "url": subscription_url(url)}).json()
        subscription = parse_subscription(body)
        if subscription is None:
            raise InvalidPayload("Alegra creó la suscripción pero no devolvió su id.", detail=repr(body)[:300])
        return subscription

    def delete_webhook_subscription(self, remote_id: str) -> None:
        """``DELETE /webhooks/subscriptions/{id}``: deleting twice is harmless, so it is retried like a read."""
        if not str(remote_id).strip().isdigit():
            raise InvalidPayload("Id de suscripción inválido.", detail=f"subscription id {remote_id!r}")
        self.requestor.request("DELETE", f"{SUBSCRIPTIONS}/{str(remote_id).strip()}", idempotent=True)

    def parse_mirror_notice(self, body: bytes) -> MirrorNotice | None:
        return parse_notice(body)

    def get_contact(self, erp_id: str) -> ContactRecord:
        if not str(erp_id).strip().isdigit():
            raise InvalidPayload("Id de contacto inválido.", detail=f"contact id {erp_id!r}")
        raw = self.requestor.get(f"/contacts/{str(erp_id).strip()}").json()
        record = parse_contact_record(raw) if isinstance(raw, dict) else None
        if record is None:
            raise InvalidPayload(f"Alegra devolvió el contacto {erp_id} con un formato inesperado.",
                                 detail=repr(raw)[:300])
        return record

    def list_contacts_page(self, start: int) -> ContactPage:
        """``GET /contacts?start=&limit=30&order_field=id&order_direction=ASC``: oldest first, so a
        contact created during the import lands on a later page, never shifts one already read."""
        body = self.requestor.get("/contacts", params={"start": start, "limit": MAX_PAGE_SIZE,
                                                       "order_field": "id", "order_direction": "ASC"}).json()
        records, _ = parsing.records_of(body)
        contacts = tuple(c for c in map(parse_contact_record, records) if c is not None)
        return ContactPage(contacts, start + len(records) if len(records) >= MAX_PAGE_SIZE else None)
