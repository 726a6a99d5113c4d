"""The ERP's webhook subscriptions that keep the local mirror (catalog, contacts) fresh.

When an ERP connection is connected, the mirror subscribes to every change it follows
(:class:`erp.base.MirrorEvent`, mapped by the adapter to the ERP's own events) with one URL per
connection that carries a secret in its path: ``<public url>/webhooks/erp/<connection id>/<secret>``.
The ERP signs nothing, so that secret is the only proof a delivery comes from it; it is generated once,
stored encrypted like the credentials and compared in constant time (:func:`connection_for_secret`).

Each subscription is a remote write (:mod:`connector.remote_writes`): one
:class:`~connector.models.ERPWebhookSubscription` row per event is the claim, the attempt is recorded
before the call, and a lost answer is settled by listing the ERP's subscriptions (never a blind
repeat). Removing them on disconnect is the same write with ``purpose = "unsubscribe"``.

The ERP deletes a subscription whose deliveries keep failing; :func:`check_subscriptions` (the periodic
job, embedded scheduler or Celery beat) lists them, marks the dropped ones ``missing`` and subscribes
them again. :func:`subscription_status` is what the panel and the CLI show.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connector.context import AppContext
from connector.errors import ConnectorError, NotFound
from connector.models import ERPConnection, ERPWebhookSubscription, utcnow
from connector.ratelimit import RequestClass, request_class
from connector.reasons import N_
from connector.remote_writes import FINAL_STATES, NOT_DONE, Remote, WriteAction, perform
from erp.base import ERPAdapter, WebhookSubscription

log = logging.getLogger(__name__)

SECRET_FIELD = "secret"

# What each change the ERP notifies is, for the seller (keys: erp.base.MirrorEvent values).
CHANGE_LABELS = {
    "item.created": N_("Productos creados"), "item.updated": N_("Productos modificados"),
    "item.deleted": N_("Productos eliminados"), "contact.created": N_("Contactos creados"),
    "contact.updated": N_("Contactos modificados"), "contact.deleted": N_("Contactos eliminados"),
    "invoice.updated": N_("Facturas modificadas"), "item.stock_updated": N_("Stock de productos modificado"),
}

# What the panel and the CLI say of one subscription.
SUBSCRIBED, PENDING, MISSING, FAILING, OFF = "subscribed", "pending", "missing", "failing", "off"


# -- the secret and the URL ----------------------------------------------------------------------


def callback_path(erp_connection_id: int, secret: str) -> str:
    return f"/webhooks/erp/{erp_connection_id}/{secret}"


def callback_url(ctx: AppContext, erp_connection_id: int, secret: str) -> str | None:
    """The URL the ERP calls, or None when no public address is configured (``CONNECTOR_PUBLIC_URL``)."""
    base = (ctx.settings.public_url or "").strip().rstrip("/")
    return f"{base}{callback_path(erp_connection_id, secret)}" if base else None


def ensure_secret(ctx: AppContext, erp_connection_id: int) -> str:
    """The connection's webhook secret, generated (and stored encrypted) the first time. Two processes
    generating it at once agree on the one stored first."""
    with ctx.db.transaction() as session:
        stored = session.scalar(select(ERPConnection.mirror_secret_encrypted)
                                .where(ERPConnection.id == erp_connection_id))
        if stored is None and session.scalar(select(ERPConnection.id).where(
                ERPConnection.id == erp_connection_id)) is None:
            raise NotFound("No existe esa conexión con el ERP.")
        if not stored:
            session.execute(update(ERPConnection).where(ERPConnection.id == erp_connection_id,
                                                        ERPConnection.mirror_secret_encrypted.is_(None))
                            .values(mirror_secret_encrypted=ctx.vault.encrypt({SECRET_FIELD: secrets.token_urlsafe(32)}))
                            .execution_options(synchronize_session=False))
            stored = session.scalar(select(ERPConnection.mirror_secret_encrypted)
                                    .where(ERPConnection.id == erp_connection_id))
    return str(ctx.vault.decrypt(stored)[SECRET_FIELD])


def connection_for_secret(ctx: AppContext, erp_connection_id: int, given: str) -> ERPConnection | None:
    """The ERP connection whose secret is ``given`` (compared in constant time), else None."""
    with ctx.db.session() as session:
        erp = session.get(ERPConnection, erp_connection_id)
        if erp is None or not erp.mirror_secret_encrypted:
            return None
        try:
            expected = str(ctx.vault.decrypt(erp.mirror_secret_encrypted).get(SECRET_FIELD) or "")
        except ConnectorError:
            return None
        if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
            return None
        session.expunge(erp)
        return erp


# -- subscribing and unsubscribing ---------------------------------------------------------------


def subscribe(ctx: AppContext, erp_connection_id: int) -> dict[str, str]:
    """Subscribe the connection to every change the mirror follows; {event: state}. Without a public
    URL nothing is subscribed (the mirror keeps to polling) and ``{}`` comes back."""
    secret = ensure_secret(ctx, erp_connection_id)
    if callback_url(ctx, erp_connection_id, secret) is None:
        return {}
    with ctx.db.transaction() as session:
        erp = session.get(ERPConnection, erp_connection_id)
        events = list(getattr(ctx.erp_adapter(erp), "mirror_events", {}).values())  # an ERP without webhooks: none
        rows = {row.event: row for row in session.scalars(
            select(ERPWebhookSubscription).where(ERPWebhookSubscription.erp_connection_id == erp_connection_id))}
        for event in events:
            row = rows.get(event)
            if row is None:
                session.add(ERPWebhookSubscription(erp_connection_id=erp_connection_id, event=event,
                                                   purpose="subscribe", state="pending", detail="", result={}))
            elif row.purpose != "subscribe" or row.state in ("failed", "uncertain", "skipped"):
                _reopen(row, "subscribe")
    return perform_due(ctx, erp_connection_id)


def unsubscribe(ctx: AppContext, erp_connection_id: int) -> dict[str, str]:
    """Remove every subscription of the connection from the ERP (disconnecting); {event: state}. The rows
    stay, done, so the periodic check knows the seller turned them off (only :func:`subscribe` turns them
    on again)."""
    with ctx.db.transaction() as session:
        for row in session.scalars(select(ERPWebhookSubscription).where(
                ERPWebhookSubscription.erp_connection_id == erp_connection_id)):
            if row.purpose != "unsubscribe":
                _reopen(row, "unsubscribe")
    return perform_due(ctx, erp_connection_id)


def _reopen(row: ERPWebhookSubscription, purpose: str) -> None:
    row.purpose, row.state, row.attempts, row.next_attempt_at = purpose, "pending", 0, None
    row.detail, row.finished_at = "", None


def perform_due(ctx: AppContext, erp_connection_id: int) -> dict[str, str]:
    """Carry out every open subscription write of the connection now; {event: new state}."""
    with ctx.db.session() as session:
        erp = session.get(ERPConnection, erp_connection_id)
        if erp is None:
            return {}
        rows = [(row.id, row.event, row.purpose) for row in session.scalars(
            select(ERPWebhookSubscription).where(ERPWebhookSubscription.erp_connection_id == erp_connection_id,
                                                 ERPWebhookSubscription.state.not_in(FINAL_STATES))
            .order_by(ERPWebhookSubscription.id))]
        session.expunge(erp)
    if not rows:
        return {}
    secret = ensure_secret(ctx, erp_connection_id)
    url = callback_url(ctx, erp_connection_id, secret)
    adapter = ctx.erp_adapter(erp)
    states: dict[str, str] = {}
    with request_class(RequestClass.FOLLOWUP):
        listing = _Listing(adapter)
        for row_id, event, purpose in rows:
            if purpose == "subscribe" and url is None:
                continue
            action = _subscribe_action(ctx, row_id, adapter, listing, event, url) if purpose == "subscribe" \
                else _unsubscribe_action(ctx, row_id, adapter, listing)
            states[event] = perform(ctx, row_id, action, model=ERPWebhookSubscription)
    return states


@dataclass
class _Listing:
    """The ERP's subscriptions, listed at most once per round (one request settles every write)."""

    adapter: ERPAdapter
    found: list[WebhookSubscription] | None = None

    def get(self, *, fresh: bool = False) -> list[WebhookSubscription]:
        if self.found is None or fresh:
            self.found = self.adapter.list_webhook_subscriptions()
        return self.found


def _attempted(ctx: AppContext, row_id: int) -> bool:
    """Whether the subscription's last attempt may have happened unseen (a lost answer, a dead owner):
    then only a list read now settles it. The round's list may have been read before that attempt
    (by this process, before another one's create landed) and would make it look never done."""
    with ctx.db.session() as session:
        return session.scalar(select(ERPWebhookSubscription.state).where(
            ERPWebhookSubscription.id == row_id)) in ("sending", "ambiguous")


def _matching(listing: list[WebhookSubscription], event: str, url: str) -> WebhookSubscription | None:
    return next((s for s in listing if s.event == event and s.url == url), None)


def _subscribe_action(ctx: AppContext, row_id: int, adapter: ERPAdapter, listing: _Listing, event: str,
                      url: str) -> WriteAction:
    def send() -> dict:
        created = adapter.create_webhook_subscription(event, url)
        _remember(ctx, row_id, created.remote_id)
        return {"remote_id": created.remote_id}

    def read() -> Remote:
        # An earlier connect (or a lost answer) may have left it subscribed already: adopt it.
        found = _matching(listing.get(fresh=_attempted(ctx, row_id)), event, url)
        if found is None:
            return NOT_DONE
        _remember(ctx, row_id, found.remote_id)
        return Remote(True, {"remote_id": found.remote_id})

    return WriteAction(send=send, read=read, read_first=True)


def _unsubscribe_action(ctx: AppContext, row_id: int, adapter: ERPAdapter, listing: _Listing) -> WriteAction:
    with ctx.db.session() as session:
        remote_id = session.get(ERPWebhookSubscription, row_id).remote_id

    def send() -> dict:
        if remote_id is None:
            return {"removed": "never subscribed"}
        try:
            adapter.delete_webhook_subscription(remote_id)
        except NotFound:
            return {"removed": "already gone"}
        return {"removed": remote_id}

    def read() -> Remote:
        if remote_id is None:
            return Remote(True, {"removed": "never subscribed"})
        listed = any(s.remote_id == remote_id for s in listing.get(fresh=_attempted(ctx, row_id)))
        return NOT_DONE if listed else Remote(True, {"removed": "not listed"})

    return WriteAction(send=send, read=read, read_first=True)


def _remember(ctx: AppContext, row_id: int, remote_id: str) -> None:
    with ctx.db.transaction() as session:
        row = session.get(ERPWebhookSubscription, row_id)
        if row is not None:
            row.remote_id, row.checked_at, row.missing_since = remote_id, utcnow(), None


# -- the periodic check ----------------------------------------------------------------------------


def check_subscriptions(ctx: AppContext, erp_connection_id: int) -> dict[str, str]:
    """List the ERP's subscriptions (one request); subscribe again those it dropped; {event: state}."""
    with ctx.db.session() as session:
        erp = session.get(ERPConnection, erp_connection_id)
        rows = list(session.scalars(select(ERPWebhookSubscription).where(
            ERPWebhookSubscription.erp_connection_id == erp_connection_id,
            ERPWebhookSubscription.purpose == "subscribe")))
        if erp is None or not rows:
            return {}
        session.expunge(erp)
    secret = ensure_secret(ctx, erp_connection_id)
    url = callback_url(ctx, erp_connection_id, secret)
    if url is None:
        return {}
    try:
        with request_class(RequestClass.FOLLOWUP):
            listed = ctx.erp_adapter(erp).list_webhook_subscriptions()
    except ConnectorError as exc:
        log.warning("ERP connection %s: subscriptions not checked: %s", erp_connection_id, exc.detail or exc)
        return {}
    now = utcnow()
    with ctx.db.transaction() as session:
        for row in session.scalars(select(ERPWebhookSubscription).where(
                ERPWebhookSubscription.erp_connection_id == erp_connection_id,
                ERPWebhookSubscription.purpose == "subscribe", ERPWebhookSubscription.state == "done")):
            # Listed under our id and to today's URL (a changed public URL subscribes again).
            found = next((s for s in listed if s.remote_id == row.remote_id and s.url == url), None) \
                or _matching(listed, row.event, url)
            if found is not None:
                row.remote_id, row.checked_at, row.missing_since = found.remote_id, now, None
            else:  # the ERP dropped it (failed deliveries) or someone deleted it: subscribe again
                log.warning("ERP connection %s: subscription %s is gone; subscribing again",
                            erp_connection_id, row.event)
                row.missing_since = row.missing_since or now
                row.remote_id = None
                _reopen(row, "subscribe")
    return perform_due(ctx, erp_connection_id)


def check_all_subscriptions(ctx: AppContext) -> dict[int, dict[str, str]]:
    """:func:`check_subscriptions` for every ERP connection (the periodic job), subscribing those never
    subscribed (connected before the public URL was set). Those the seller turned off stay off."""
    if not (ctx.settings.public_url or "").strip():
        return {}
    with ctx.db.session() as session:
        ids = list(session.scalars(select(ERPConnection.id).order_by(ERPConnection.id)))
        subscribed = set(session.scalars(select(ERPWebhookSubscription.erp_connection_id).distinct()))
    results = {}
    for erp_connection_id in ids:
        try:
            results[erp_connection_id] = (check_subscriptions(ctx, erp_connection_id)
                                          if erp_connection_id in subscribed else subscribe(ctx, erp_connection_id))
        except ConnectorError as exc:  # one seller's ERP must not stop the others' checks
            log.warning("ERP connection %s: mirror check failed: %s", erp_connection_id, exc.detail or exc)
    return results


# -- what the panel and the CLI show ---------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionView:
    event: str
    status: str  # subscribed | pending | missing | failing | off
    detail: str = ""


def subscription_status(ctx: AppContext, erp_connection_id: int) -> list[SubscriptionView]:
    """One line per subscription the mirror keeps (or is still removing), in the order they were made."""
    with ctx.db.session() as session:
        return [SubscriptionView(row.event, _status_of(row), row.detail or "")
                for row in _rows(session, erp_connection_id)
                if not (row.purpose == "unsubscribe" and row.state == "done")]


def _rows(session: Session, erp_connection_id: int) -> list[ERPWebhookSubscription]:
    return list(session.scalars(select(ERPWebhookSubscription).where(
        ERPWebhookSubscription.erp_connection_id == erp_connection_id).order_by(ERPWebhookSubscription.id)))


def _status_of(row: ERPWebhookSubscription) -> str:
    if row.purpose != "subscribe":
        return OFF
    if row.missing_since is not None:
        return MISSING
    if row.state == "done":
        return SUBSCRIBED
    if row.state in ("failed", "uncertain") or row.attempts >= 3:
        return FAILING
    return PENDING


def webhooks_healthy(ctx: AppContext, erp_connection_id: int, session: Session | None = None) -> bool:
    """Every change the mirror follows is subscribed and was seen listed recently: the mirror is kept
    fresh by the ERP itself and needs no full re-read. ``session``: the caller's (SQLite allows one
    writer, and the pipeline asks from inside its own transaction)."""
    if session is None:
        with ctx.db.session() as own:
            return webhooks_healthy(ctx, erp_connection_id, own)
    rows = _rows(session, erp_connection_id)
    if not rows or any(_status_of(row) != SUBSCRIBED for row in rows):
        return False
    stale_before = utcnow() - timedelta(seconds=3 * ctx.settings.mirror_check_interval_seconds)
    return all((row.checked_at or row.finished_at or stale_before) > stale_before for row in rows)
