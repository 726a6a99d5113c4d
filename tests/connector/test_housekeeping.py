"""Pruning: old webhook deliveries and used or expired OAuth states go; everything recent stays."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from connector import services
from connector.housekeeping import prune_expired
from connector.models import OAuthState, WebhookDelivery, utcnow


def _seed(ctx) -> None:
    account = services.create_account(ctx, "Tienda").id
    now = utcnow()
    with ctx.db.transaction() as session:
        for key, age in (("old", timedelta(days=8)), ("recent", timedelta(days=6)), ("new", timedelta(0))):
            session.add(WebhookDelivery(channel_kind="shopify", delivery_id=key, received_at=now - age))
        for state, created, used in (("fresh", now, None), ("used", now, now),
                                     ("expired", now - timedelta(minutes=11), None)):
            session.add(OAuthState(state=state, account_id=account, channel_kind="mercadolibre", payload={},
                                   created_at=created, used_at=used))


def test_prune_forgets_old_deliveries_and_spent_states(ctx):
    _seed(ctx)
    report = prune_expired(ctx)
    assert (report.webhook_deliveries, report.oauth_states) == (1, 2)
    with ctx.db.session() as session:
        assert sorted(session.scalars(select(WebhookDelivery.delivery_id))) == ["new", "recent"]
        assert list(session.scalars(select(OAuthState.state))) == ["fresh"]
    assert prune_expired(ctx).as_dict() == {"webhook_deliveries": 0, "oauth_states": 0, "mirror_events": 0}


def test_the_retention_is_a_setting(ctx):
    _seed(ctx)
    ctx.settings.webhook_retention_days = 1
    assert prune_expired(ctx).webhook_deliveries == 2


def test_celery_beat_prunes_on_a_schedule():
    from connector.tasks import celery_app, prune_expired_task

    entry = celery_app.conf.beat_schedule["prune"]
    assert entry["task"] == prune_expired_task.name == "connector.prune_expired"
