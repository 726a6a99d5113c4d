"""The ERP's webhook subscriptions are remote writes: a lost answer is settled by listing them (never a
second subscription), removing one already gone is done, and the URL's secret is checked in constant
time and stored encrypted."""

from __future__ import annotations

from sqlalchemy import select

from connector import mirror
from connector.models import ERPConnection, ERPWebhookSubscription, utcnow
from tests.conftest import connect_seller

PUBLIC = "http://127.0.0.1:9"  # nothing listens: no delivery is made in these tests


def erp_id_of(ctx, account_id: int) -> int:
    with ctx.db.session() as session:
        return session.scalar(select(ERPConnection.id).where(ERPConnection.account_id == account_id))


def test_without_a_public_address_nothing_is_subscribed(ctx, sandbox):
    erp_id = erp_id_of(ctx, connect_seller(ctx, sandbox))
    assert mirror.subscribe(ctx, erp_id) == {}
    assert sandbox.alegra_state.webhooks.listed() == []


def test_a_lost_answer_is_settled_by_listing_and_never_subscribes_twice(ctx, sandbox):
    erp_id = erp_id_of(ctx, connect_seller(ctx, sandbox))
    ctx.settings.public_url = PUBLIC
    sandbox.alegra_knobs.reset_after_commit_rate = 1.0  # every subscription is made, and its answer lost
    states = mirror.subscribe(ctx, erp_id)
    assert set(states.values()) == {"ambiguous"}
    assert len(sandbox.alegra_state.webhooks.listed()) == 7
    sandbox.alegra_knobs.reset_after_commit_rate = 0.0
    assert set(mirror.perform_due(ctx, erp_id).values()) == {"done"}
    listed = sandbox.alegra_state.webhooks.listed()
    assert len(listed) == 7  # each settled by reading the list: not one sent twice
    with ctx.db.session() as session:
        remote_ids = {row.remote_id for row in session.scalars(select(ERPWebhookSubscription))}
    assert remote_ids == {str(s["id"]) for s in listed}


def test_removing_subscriptions_the_erp_already_dropped_is_done(ctx, sandbox):
    erp_id = erp_id_of(ctx, connect_seller(ctx, sandbox))
    ctx.settings.public_url = PUBLIC
    mirror.subscribe(ctx, erp_id)
    for subscription in sandbox.alegra_state.webhooks.listed()[:3]:
        sandbox.alegra_state.webhooks.drop(subscription["id"])
    assert set(mirror.unsubscribe(ctx, erp_id).values()) == {"done"}
    assert sandbox.alegra_state.webhooks.listed() == []
    assert mirror.subscription_status(ctx, erp_id) == []
    mirror.check_all_subscriptions(ctx)  # turned off by the seller: the periodic check leaves them off
    assert sandbox.alegra_state.webhooks.listed() == []
    mirror.subscribe(ctx, erp_id)  # and on again
    assert len(sandbox.alegra_state.webhooks.listed()) == 7


def test_the_secret_is_stored_encrypted_and_only_the_exact_one_opens_the_door(ctx, sandbox):
    erp_id = erp_id_of(ctx, connect_seller(ctx, sandbox))
    secret = mirror.ensure_secret(ctx, erp_id)
    assert mirror.ensure_secret(ctx, erp_id) == secret and len(secret) >= 40
    with ctx.db.session() as session:
        assert secret not in session.get(ERPConnection, erp_id).mirror_secret_encrypted
    assert mirror.connection_for_secret(ctx, erp_id, secret).id == erp_id
    for wrong in (secret[:-1], secret + "x", "", secret.upper()):
        assert mirror.connection_for_secret(ctx, erp_id, wrong) is None
    assert mirror.connection_for_secret(ctx, erp_id + 1000, secret) is None


def test_a_lost_create_is_settled_from_a_list_read_after_it_never_from_the_rounds_earlier_one(ctx, sandbox,
                                                                                          monkeypatch):
    """The round listed the ERP's subscriptions, then another worker's create of one of them landed and
    its answer was lost. Settling that one from the round's list (read before it) subscribed it twice."""
    erp_id = erp_id_of(ctx, connect_seller(ctx, sandbox))
    ctx.settings.public_url = PUBLIC
    url = mirror.callback_url(ctx, erp_id, mirror.ensure_secret(ctx, erp_id))
    with ctx.db.session() as session:
        adapter = ctx.erp_adapter(session.get(ERPConnection, erp_id))
    original, lists = adapter.list_webhook_subscriptions, []

    def listed_then_another_create_lands():
        found = original()
        if not lists:
            with ctx.db.transaction() as session:
                last = session.scalars(select(ERPWebhookSubscription).order_by(ERPWebhookSubscription.id.desc())).first()
                sandbox.alegra_state.webhooks.subscribe(last.event, url)  # made; its answer never came
                last.state, last.attempts, last.sent_at = "ambiguous", 1, utcnow()
        lists.append(len(found))
        return found

    monkeypatch.setattr(adapter, "list_webhook_subscriptions", listed_then_another_create_lands)
    assert set(mirror.subscribe(ctx, erp_id).values()) == {"done"}
    events = [s["event"] for s in sandbox.alegra_state.webhooks.listed()]
    assert len(events) == 7 and len(set(events)) == 7  # one each: the lost one was found, not sent again
