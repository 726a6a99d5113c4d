"""Housekeeping: forget what is only kept for a while.

* ``webhook_deliveries`` older than ``CONNECTOR_WEBHOOK_RETENTION_DAYS``: a delivery is remembered
  so that a repeat (or a replayed signed body) is recognised; past that window the row only costs
  space. The window is also how long a replay is recognised.
* OAuth round trips (``oauth_states``) that were used or are past their ten minutes: a used state
  can never be used again, an expired one is refused anyway.

:func:`prune_expired` is a plain function: Celery beat runs it (``connector.prune_expired``), the
CLI runs it on demand (``connector prune``), tests call it directly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_

from connector.context import AppContext
from connector.models import ERPMirrorEvent, OAuthState, WebhookDelivery, utcnow
from connector.oauth import STATE_TTL


@dataclass(frozen=True)
class PruneReport:
    """How many rows each kind of pruning deleted."""

    webhook_deliveries: int
    oauth_states: int
    mirror_events: int = 0  # the ERP's change notices already settled (connector/mirror_events.py)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def prune_expired(ctx: AppContext, *, now: datetime | None = None) -> PruneReport:
    """Delete webhook deliveries past the retention window and used or expired OAuth states."""
    now = now or utcnow()
    delivery_cutoff = now - timedelta(days=ctx.settings.webhook_retention_days)
    with ctx.db.transaction() as session:
        deliveries = session.execute(delete(WebhookDelivery).where(WebhookDelivery.received_at < delivery_cutoff)
                                     .execution_options(synchronize_session=False)).rowcount or 0
        states = session.execute(delete(OAuthState).where(or_(OAuthState.used_at.is_not(None),
                                                              OAuthState.created_at < now - STATE_TTL))
                                 .execution_options(synchronize_session=False)).rowcount or 0
        events = session.execute(delete(ERPMirrorEvent).where(ERPMirrorEvent.received_at < delivery_cutoff,
                                                              ERPMirrorEvent.processed_at.is_not(None))
                                 .execution_options(synchronize_session=False)).rowcount or 0
    return PruneReport(webhook_deliveries=deliveries, oauth_states=states, mirror_events=events)
