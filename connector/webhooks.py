"""Webhook deliveries: verify, record, hand off fast — and the work handed off.

:func:`receive_webhook` is what the HTTP endpoint calls. It never talks to the marketplace, so the
answer is immediate:

1. the channel connection is loaded (unknown, disabled or of another kind -> ``not_found``);
2. its adapter verifies the delivery on the raw bytes (missing or wrong signature -> ``rejected``,
   and **nothing is stored**);
3. the delivery is recorded in ``webhook_deliveries`` under a unique (kind, connection:replay key):
   the same delivery again is a ``duplicate`` and nothing is queued twice. The replay key is what
   the signature covers — the SHA-256 of the signed raw body — never the delivery id header, which
   is not signed (a captured body re-sent under fresh ids would be accepted each time). An unsigned
   channel names its own key (:attr:`channels.base.WebhookEvent.replay_key`). The header id is kept
   in ``remote_delivery_id`` for information. Rows older than ``CONNECTOR_WEBHOOK_RETENTION_DAYS``
   are pruned (:mod:`connector.housekeeping`), which bounds the replay window to that many days;
4. the work is handed to the queue: a Celery task with ``REDIS_URL``, otherwise a small bounded
   in-process thread pool. A full pool or an unreachable broker leaves the delivery ``deferred``.

The queued work (:func:`handle_webhook_delivery`, a plain function tests call directly) fetches the
order from the API, stores it with the pull's own code path (:func:`connector.pipeline.store_pulled_order`)
and processes it (:func:`connector.pipeline.process_order`). A webhook is only a hint: polling stays
on, so a delivery that was missed, deferred or failed is picked up by the next sync.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from channels.base import WebhookRegistration
from channels.registry import CHANNELS, channel_class
from connector.context import AppContext
from connector.errors import ConnectorError, InvalidPayload, NotFound, WebhookRejected
from connector.models import ChannelConnection, Order, WebhookDelivery, utcnow
from connector.pipeline import process_order, store_pulled_order

log = logging.getLogger(__name__)

HTTP_STATUS = {"accepted": 200, "duplicate": 200, "ignored": 200, "rejected": 401, "not_found": 404,
               "invalid": 400}


@dataclass(frozen=True)
class WebhookResult:
    """How a delivery was answered. ``http_status`` is what the endpoint returns."""

    outcome: str  # accepted | duplicate | ignored | rejected | not_found | invalid
    message: str = ""
    delivery_id: int | None = None  # the webhook_deliveries row, when one was recorded
    queued: bool = False

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.outcome]


def receive_webhook(ctx: AppContext, channel_kind: str, channel_connection_id: int, headers: Mapping[str, str],
                    raw_body: bytes, *, query: Mapping[str, str] | None = None) -> WebhookResult:
    """Verify, record and hand off one delivery (see the module docstring). Never raises for bad input."""
    with ctx.db.session() as session:
        connection = session.get(ChannelConnection, channel_connection_id)
        if connection is None or connection.kind != channel_kind or not connection.enabled \
                or channel_kind not in CHANNELS:
            return WebhookResult("not_found", "No existe esa conexión de canal.")
        session.expunge(connection)
    try:
        adapter = ctx.channel_adapter(connection)
    except ConnectorError as exc:  # stored credentials unusable: nothing can be verified
        log.warning("webhook for connection %s: adapter unavailable: %s", connection.id, exc.detail or exc)
        return WebhookResult("rejected", "La conexión no puede verificar notificaciones.")
    try:
        adapter.verify_webhook(headers, raw_body, query=query)
        event = adapter.parse_webhook(headers, raw_body, query=query)
    except WebhookRejected as exc:
        log.warning("webhook for connection %s rejected: %s", connection.id, exc.detail or exc)
        return WebhookResult("rejected", exc.user_message)
    except InvalidPayload as exc:
        return WebhookResult("invalid", exc.user_message)
    finally:
        adapter.close()
    if event.external_order_id is None:
        return WebhookResult("ignored", f"Notificación «{event.topic or 'sin tema'}» recibida; no es de un pedido.")

    key = delivery_key(connection.id, event.replay_key, raw_body)
    duplicate = WebhookResult("duplicate", "Notificación repetida: ya se había recibido.")
    try:
        with ctx.db.transaction() as session:
            if session.scalar(select(WebhookDelivery.id).where(WebhookDelivery.channel_kind == channel_kind,
                                                               WebhookDelivery.delivery_id == key)) is not None:
                return duplicate  # the common replay: answered without an INSERT that must fail
            row = WebhookDelivery(channel_kind=channel_kind, channel_connection_id=connection.id, delivery_id=key,
                                  topic=event.topic[:100], resource=event.external_order_id[:300], outcome="queued",
                                  remote_delivery_id=(event.delivery_id or "")[:200] or None)
            session.add(row)
            session.flush()
            row_id = row.id
    except IntegrityError:  # the same delivery arriving twice at the same moment
        return duplicate
    queued = enqueue_webhook_delivery(ctx, row_id)
    if not queued:
        _set_outcome(ctx, row_id, "deferred")
    return WebhookResult("accepted", "Notificación recibida.", delivery_id=row_id, queued=queued)


def delivery_key(channel_connection_id: int, replay_key: str | None, raw_body: bytes) -> str:
    """The unique key of a delivery, per connection (one seller cannot shadow another's): the hash of
    the signed raw body, or the unsigned channel's own ``replay_key``."""
    ident = replay_key or "sha256:" + hashlib.sha256(raw_body).hexdigest()
    key = f"{channel_connection_id}:{ident}"
    return key if len(key) <= 200 else f"{channel_connection_id}:sha256:{hashlib.sha256(ident.encode()).hexdigest()}"


# -- the hand-off --------------------------------------------------------------------------------


class BackgroundWork:
    """A small bounded thread pool for the embedded mode (no Redis): at most ``max_pending`` jobs
    wait or run; past that a job is refused (the caller leaves the work to polling)."""

    def __init__(self, workers: int = 2, max_pending: int = 64):
        self.workers, self.max_pending = workers, max_pending
        self._executor: ThreadPoolExecutor | None = None
        self._pending = 0
        self._condition = threading.Condition()

    def submit(self, job: Callable[[], object]) -> bool:
        with self._condition:
            if self._pending >= self.max_pending:
                return False
            self._pending += 1
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="webhook-work")
            executor = self._executor
        executor.submit(self._run, job)
        return True

    def _run(self, job: Callable[[], object]) -> None:
        try:
            job()
        except Exception:  # noqa: BLE001 - a job must never kill the pool
            log.exception("background webhook work failed")
        finally:
            with self._condition:
                self._pending -= 1
                self._condition.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no job is waiting or running (tests); False on timeout."""
        with self._condition:
            return self._condition.wait_for(lambda: self._pending == 0, timeout=timeout)


background_work = BackgroundWork()


def enqueue_webhook_delivery(ctx: AppContext, webhook_delivery_id: int) -> bool:
    """Hand the delivery to Celery (``REDIS_URL``) or to :data:`background_work`; False if neither took it."""
    if ctx.settings.uses_celery:
        from connector.tasks import handle_webhook_delivery_task

        try:
            handle_webhook_delivery_task.delay(webhook_delivery_id)
            return True
        except Exception as exc:  # noqa: BLE001 - broker down: polling is the backstop
            log.warning("webhook delivery %s not queued: %s", webhook_delivery_id, type(exc).__name__)
            return False
    return background_work.submit(lambda: handle_webhook_delivery(ctx, webhook_delivery_id))


def requeue_deferred_deliveries(ctx: AppContext, limit: int = 200) -> int:
    """Hand again the deliveries the hand-off refused (a full pool in a burst, the broker down), oldest
    first, until the queue refuses one: a sale paid during a burst is invoiced on the next sweep, not at
    the next pull minutes later. Returns how many were handed."""
    with ctx.db.session() as session:
        ids = list(session.scalars(select(WebhookDelivery.id).where(
            WebhookDelivery.outcome == "deferred", WebhookDelivery.processed_at.is_(None))
            .order_by(WebhookDelivery.id).limit(limit)))
    handed = 0
    for row_id in ids:
        _set_outcome(ctx, row_id, "queued")  # before the hand-off: a fast worker's outcome is never overwritten
        if not enqueue_webhook_delivery(ctx, row_id):
            _set_outcome(ctx, row_id, "deferred")
            break
        handed += 1
    return handed


# -- the work ------------------------------------------------------------------------------------


def handle_webhook_delivery(ctx: AppContext, webhook_delivery_id: int) -> str:
    """Fetch the delivery's order, store it like a pull does and process it. Returns the outcome
    recorded on the delivery (``processed:<order state>``, ``not_found``, ``failed``...)."""
    with ctx.db.session() as session:
        row = session.get(WebhookDelivery, webhook_delivery_id)
        if row is None:
            return "gone"
        if row.processed_at is not None:
            return row.outcome  # a redelivered task: the work was done
        connection = session.get(ChannelConnection, row.channel_connection_id) if row.channel_connection_id else None
        if connection is None or not connection.enabled:
            session.rollback()
            return _set_outcome(ctx, webhook_delivery_id, "connection_gone", processed=True)
        external_id = row.resource
        session.expunge(connection)
    adapter = ctx.channel_adapter(connection)
    try:
        pulled = adapter.fetch_order(external_id)
        with ctx.db.session() as session:
            _store(session, session.get(ChannelConnection, connection.id), adapter, pulled)
            order_id = session.scalar(select(Order.id).where(Order.channel_connection_id == connection.id,
                                                             Order.external_id == pulled.external_id))
    except NotFound:
        return _set_outcome(ctx, webhook_delivery_id, "not_found", processed=True)
    except ConnectorError as exc:  # transient or configuration: the next pull gets the order
        log.warning("webhook delivery %s: %s", webhook_delivery_id, exc.detail or exc)
        return _set_outcome(ctx, webhook_delivery_id, "failed", processed=True)
    finally:
        adapter.close()
    try:
        state = process_order(ctx, order_id, actor=f"webhook:{connection.kind}")
    except Exception:  # noqa: BLE001 - the order stays due; the sweeper takes it again
        log.exception("webhook delivery %s: processing order %s failed", webhook_delivery_id, order_id)
        return _set_outcome(ctx, webhook_delivery_id, "failed", processed=True)
    return _set_outcome(ctx, webhook_delivery_id, f"processed:{state}"[:30], processed=True)


def _store(session, connection, adapter, pulled) -> str:
    """``store_pulled_order`` in a savepoint, re-read and retried when another process wrote it too."""
    for attempt in range(3):
        try:
            with session.begin_nested():
                outcome = store_pulled_order(session, connection, adapter, pulled)
            session.commit()
            return outcome
        except (StaleDataError, IntegrityError):
            session.rollback()
            if attempt == 2:
                raise
            connection = session.get(ChannelConnection, connection.id)
    return "unchanged"


def _set_outcome(ctx: AppContext, webhook_delivery_id: int, outcome: str, *, processed: bool = False) -> str:
    with ctx.db.transaction() as session:
        row = session.get(WebhookDelivery, webhook_delivery_id)
        if row is not None:
            row.outcome = outcome
            if processed:
                row.processed_at = utcnow()
    return outcome


# -- what the seller registers -------------------------------------------------------------------


def webhook_registration(ctx: AppContext, channel_connection_id: int, public_base_url: str) -> WebhookRegistration:
    """The URL (and, when the connector chooses it, the secret) to register in the marketplace.

    A channel whose secret the connector chooses gets one generated and stored encrypted the first
    time; it stays the same afterwards.
    """
    with ctx.db.transaction() as session:
        connection = session.get(ChannelConnection, channel_connection_id)
        if connection is None:
            raise NotFound("No existe esa conexión de canal.")
        cls = channel_class(connection.kind)
        credentials = ctx.vault.decrypt(connection.credentials_encrypted)
        if cls.generates_webhook_secret and not credentials.get(cls.webhook_secret_field):
            from channels.base import new_webhook_secret

            credentials[cls.webhook_secret_field] = new_webhook_secret()
            connection.credentials_encrypted = ctx.vault.encrypt(credentials)
        session.flush()
        session.expunge(connection)
    url = f"{public_base_url.rstrip('/')}/webhooks/{connection.kind}/{connection.id}"
    adapter = ctx.channel_adapter(connection)
    try:
        return adapter.webhook_registration(url)
    finally:
        adapter.close()
