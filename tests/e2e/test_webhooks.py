"""Webhooks for the three channels through ``register_webhooks`` on a bare Flask app: good, wrong and
missing signatures (401 stores nothing), duplicate deliveries, the hand-off that ends in an invoice —
and the sandbox delivering over real HTTP to the blueprint served on loopback."""

from __future__ import annotations

import json
import threading
import uuid
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import WSGIRequestHandler, make_server

from admin_ui.webhooks import register_webhooks
from channels.base import hmac_sha256_base64
from connector.demo_channels import subscribe_sandbox_webhooks
from connector.models import Order, WebhookDelivery
from connector.states import OrderState
from connector.webhooks import background_work, handle_webhook_delivery, webhook_registration
from sandbox import server as sandbox_server
from tests.conftest import each_on_one_database
from tests.e2e.conftest import buyer_paid, connect_channels_seller, new_sale

pytestmark = pytest.mark.e2e

KINDS = ("mercadolibre", "shopify", "woocommerce")


@pytest.fixture
def seller(ctx, sandbox):
    return connect_channels_seller(ctx, sandbox, KINDS)


@pytest.fixture
def client(ctx):
    app = Flask("webhooks-under-test")
    register_webhooks(app, ctx)
    return app.test_client()


def add_order(sandbox, kind: str, number: int) -> str:
    """A new sale in the sandbox store, without it notifying anyone (the test delivers by hand)."""
    spec = new_sale(number)
    if kind == "mercadolibre":
        return str(sandbox.ml_state.add_sale(spec))
    if kind == "shopify":
        return str(sandbox.shopify_state.add_sale(spec, notify=False))
    return str(sandbox.woo_state.add_sale(spec, notify=False))


def delivery(ctx, sandbox, seller, kind: str, order_id: str, *, secret: str | None = None):
    """Path, headers and body of a delivery for ``order_id``, signed (or authenticated) like the real one."""
    registration = webhook_registration(ctx, seller.connections[kind], "http://conector.test")
    path = registration.url.removeprefix("http://conector.test")
    if kind == "mercadolibre":
        body = json.dumps(sandbox.ml_notifier.notification(order_id)).encode()
        if secret is not None:
            path = path.split("?")[0] + f"?secret={secret}"
        return path, {"Content-Type": "application/json"}, body
    if kind == "shopify":
        body = json.dumps(sandbox.shopify_state.order(int(order_id))).encode()
        key = secret if secret is not None else sandbox_server.SHOPIFY_WEBHOOK_SECRET
        return path, {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create",
                      "X-Shopify-Hmac-Sha256": hmac_sha256_base64(key, body),
                      "X-Shopify-Shop-Domain": sandbox_server.SHOPIFY_SHOP,
                      "X-Shopify-Webhook-Id": str(uuid.uuid4())}, body
    body = json.dumps(sandbox.woo_state.order(int(order_id))).encode()
    key = secret if secret is not None else registration.secret
    return path, {"Content-Type": "application/json", "X-WC-Webhook-Topic": "order.created",
                  "X-WC-Webhook-Signature": hmac_sha256_base64(key, body),
                  "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex}, body


def strip_signature(kind: str, path: str, headers: dict) -> tuple[str, dict]:
    if kind == "mercadolibre":
        return path.split("?")[0], headers
    return path, {k: v for k, v in headers.items() if k not in ("X-Shopify-Hmac-Sha256", "X-WC-Webhook-Signature")}


def stored(ctx) -> tuple[int, int]:
    with ctx.db.session() as session:
        return (session.scalar(select(func.count()).select_from(WebhookDelivery)),
                session.scalar(select(func.count()).select_from(Order)))


def order_row(ctx, connection_id: int, external_id: str) -> Order | None:
    with ctx.db.session() as session:
        order = session.scalar(select(Order).where(Order.channel_connection_id == connection_id,
                                                   Order.external_id == external_id))
        if order is not None:
            _ = order.invoice
        return order


@pytest.mark.parametrize("kind", KINDS)
def test_a_good_delivery_is_answered_at_once_and_the_order_gets_invoiced(ctx, sandbox, seller, client, kind):
    order_id = add_order(sandbox, kind, 600)
    path, headers, body = delivery(ctx, sandbox, seller, kind, order_id)

    answer = client.post(path, data=body, headers=headers)

    assert answer.status_code == 200 and answer.get_json()["status"] == "accepted"
    assert background_work.wait_idle(timeout=60)
    order = order_row(ctx, seller.connections[kind], order_id)
    assert order is not None and order.state == OrderState.INVOICED, order and order.state_reason
    assert abs(order.invoice.total - buyer_paid(kind, order.raw)) <= Decimal("0.02")
    with ctx.db.session() as session:
        row = session.scalar(select(WebhookDelivery))
        assert row.channel_kind == kind and row.resource == order_id and row.outcome == "processed:invoiced"


@pytest.mark.parametrize("kind", KINDS)
def test_a_wrong_or_missing_signature_is_401_and_nothing_is_stored(ctx, sandbox, seller, client, kind):
    order_id = add_order(sandbox, kind, 601)
    wrong = delivery(ctx, sandbox, seller, kind, order_id, secret="no-es-el-secreto")
    path, headers, body = delivery(ctx, sandbox, seller, kind, order_id)
    missing = (*strip_signature(kind, path, headers), body)

    for path, headers, body in (wrong, missing):
        answer = client.post(path, data=body, headers=headers)
        assert answer.status_code == 401 and answer.get_json()["status"] == "rejected"
        assert "secreto" not in answer.get_data(as_text=True)

    assert background_work.wait_idle(timeout=10)
    assert stored(ctx) == (0, 0)


@pytest.mark.parametrize("kind", KINDS)
def test_a_duplicate_delivery_is_recognised_and_queues_nothing(ctx, sandbox, seller, client, kind):
    order_id = add_order(sandbox, kind, 602)
    path, headers, body = delivery(ctx, sandbox, seller, kind, order_id)

    first = client.post(path, data=body, headers=headers)
    assert background_work.wait_idle(timeout=60)
    second = client.post(path, data=body, headers=headers)

    assert (first.get_json()["status"], second.get_json()["status"]) == ("accepted", "duplicate")
    assert second.status_code == 200
    assert background_work.wait_idle(timeout=10)
    assert stored(ctx) == (1, 1)
    assert len(sandbox.alegra_state.invoices) == 1


REPLAYS = 500


# Each signed channel on one database in `make test` (both covered), on the other in `make test-slow`.
@pytest.mark.parametrize(("kind", "database_url"), each_on_one_database(["shopify", "woocommerce"]),
                         indirect=["database_url"])
def test_a_signed_body_replayed_with_new_delivery_ids_is_processed_once(ctx, sandbox, seller, client, kind):
    """The delivery id header is not signed: a captured body re-sent under 500 fresh ids is still one delivery."""
    order_id = add_order(sandbox, kind, 610)
    path, headers, body = delivery(ctx, sandbox, seller, kind, order_id)
    id_header = "X-Shopify-Webhook-Id" if kind == "shopify" else "X-WC-Webhook-Delivery-ID"
    statuses = []
    for _ in range(REPLAYS):
        answer = client.post(path, data=body, headers={**headers, id_header: uuid.uuid4().hex})
        statuses.append(answer.get_json()["status"])
    assert statuses[0] == "accepted" and set(statuses[1:]) == {"duplicate"}
    assert background_work.wait_idle(timeout=60)
    assert stored(ctx) == (1, 1)
    with ctx.db.session() as session:
        [row] = session.scalars(select(WebhookDelivery)).all()
    assert row.remote_delivery_id  # the channel's own id, kept for information
    assert len(sandbox.alegra_state.invoices) == 1


def test_an_unsigned_notification_repeated_with_new_ids_is_processed_once(ctx, sandbox, seller, client):
    """Mercado Libre notifications are not signed: the same topic, resource and sent time is the same one,
    whatever its ``_id`` or attempt number; another sent time is a new notification."""
    order_id = add_order(sandbox, "mercadolibre", 611)
    path, headers, _ = delivery(ctx, sandbox, seller, "mercadolibre", order_id)
    notification = sandbox.ml_notifier.notification(order_id)
    statuses = []
    for attempt in range(1, 51):
        body = {**notification, "_id": uuid.uuid4().hex, "attempts": attempt}
        statuses.append(client.post(path, data=json.dumps(body).encode(), headers=headers).get_json()["status"])
    assert statuses[0] == "accepted" and set(statuses[1:]) == {"duplicate"}
    later = {**notification, "_id": uuid.uuid4().hex, "sent": "2099-01-01T00:00:00.000Z"}
    assert client.post(path, data=json.dumps(later).encode(), headers=headers).get_json()["status"] == "accepted"
    assert background_work.wait_idle(timeout=60)


def test_unknown_connections_and_a_kind_that_does_not_match_are_404(ctx, seller, client):
    assert client.post("/webhooks/shopify/999999", data=b"{}").status_code == 404
    assert client.post(f"/webhooks/woocommerce/{seller.connections['shopify']}", data=b"{}").status_code == 404
    assert client.post(f"/webhooks/tiendanube/{seller.connections['shopify']}", data=b"{}").status_code == 404
    assert stored(ctx) == (0, 0)


def test_the_woocommerce_set_up_ping_is_answered_200_and_stores_nothing(ctx, sandbox, seller, client):
    answer = client.post(f"/webhooks/woocommerce/{seller.connections['woocommerce']}", data=b"webhook_id=11",
                         content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 200 and answer.get_json()["status"] == "ignored"
    assert stored(ctx) == (0, 0)


def test_a_webhook_for_an_order_the_api_does_not_have_is_recorded_as_not_found(ctx, sandbox, seller, client):
    path, headers, _ = delivery(ctx, sandbox, seller, "shopify", str(sandbox.shopify_state.order_ids()[0]))
    body = json.dumps({"id": 5199999999}).encode()  # an order the store does not have (deleted meanwhile)
    headers["X-Shopify-Hmac-Sha256"] = hmac_sha256_base64(sandbox_server.SHOPIFY_WEBHOOK_SECRET, body)
    assert client.post(path, data=body, headers=headers).status_code == 200
    assert background_work.wait_idle(timeout=60)
    with ctx.db.session() as session:
        assert session.scalar(select(WebhookDelivery.outcome)) == "not_found"
        assert session.scalar(select(func.count()).select_from(Order)) == 0


def test_celery_mode_hands_the_delivery_to_a_task(ctx, sandbox, seller, client, monkeypatch):
    from connector import tasks

    sent: list[int] = []
    monkeypatch.setattr(ctx.settings, "redis_url", "redis://127.0.0.1:6379/15")
    monkeypatch.setattr(tasks.handle_webhook_delivery_task, "delay", sent.append)
    order_id = add_order(sandbox, "woocommerce", 603)
    path, headers, body = delivery(ctx, sandbox, seller, "woocommerce", order_id)

    answer = client.post(path, data=body, headers=headers)

    assert answer.get_json()["status"] == "accepted" and len(sent) == 1
    assert order_row(ctx, seller.connections["woocommerce"], order_id) is None  # nothing done in the web process
    monkeypatch.setattr(ctx.settings, "redis_url", None)
    assert handle_webhook_delivery(ctx, sent[0]) == "processed:invoiced"  # what the worker runs
    assert handle_webhook_delivery(ctx, sent[0]) == "processed:invoiced"  # a redelivered task does nothing new
    assert len(sandbox.alegra_state.invoices) == 1


# -- over real HTTP --------------------------------------------------------------------------------


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


@pytest.fixture
def connector_url(ctx):
    app = Flask("connector-webhooks")
    register_webhooks(app, ctx)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_the_sandbox_delivers_webhooks_over_http_and_orders_get_invoiced(ctx, sandbox, seller, connector_url):
    from connector.models import ChannelConnection

    with ctx.db.session() as session:
        connections = list(session.scalars(select(ChannelConnection).where(
            ChannelConnection.id.in_(seller.connections.values()))))
    subscribe_sandbox_webhooks(ctx, sandbox, connections, connector_url)

    ml_id = sandbox.ml_notifier.add_sale(new_sale(700))
    shopify_id = sandbox.shopify_state.add_sale(new_sale(701))
    woo_id = sandbox.woo_state.add_sale(new_sale(702))
    ping = sandbox.woo_state.ping(sandbox.woo_state.subscriptions[0])

    deliveries = [sandbox.ml_notifier.sender.last(), sandbox.shopify_state.sender.last(),
                  sandbox.woo_state.sender.deliveries[0]]
    assert [d.status for d in deliveries] == [200, 200, 200] and ping.status == 200
    assert all(d.answer["status"] == "accepted" for d in deliveries)
    assert background_work.wait_idle(timeout=90)
    for kind, external_id in (("mercadolibre", ml_id), ("shopify", shopify_id), ("woocommerce", woo_id)):
        order = order_row(ctx, seller.connections[kind], str(external_id))
        assert order is not None and order.state == OrderState.INVOICED, (kind, order and order.state_reason)

    again = sandbox.shopify_state.sender.redeliver(sandbox.shopify_state.sender.last())
    assert again.status == 200 and again.answer["status"] == "duplicate"
    # A change in the store arrives as orders/updated and is stored like a pull would.
    sandbox.woo_state.update_status(woo_id, "completed")
    assert sandbox.woo_state.sender.last().answer["status"] == "accepted"
    assert background_work.wait_idle(timeout=60)
    assert order_row(ctx, seller.connections["woocommerce"], str(woo_id)).status == "completed"
    assert len(sandbox.alegra_state.invoices) == 3


def test_a_delivery_refused_by_a_full_pool_is_handed_again_by_the_next_sweep(ctx, sandbox, seller, client,
                                                                             monkeypatch):
    """A burst fills the in-process pool: the delivery is kept ``deferred`` (answered 200 all the same)
    and the scheduler's sweep hands it again as soon as there is room, so the sale does not wait for
    the next pull."""
    from connector.scheduler import sweep_due_orders

    order_id = add_order(sandbox, "shopify", 640)
    path, headers, body = delivery(ctx, sandbox, seller, "shopify", order_id)
    monkeypatch.setattr(background_work, "max_pending", 0)  # the pool is full
    answer = client.post(path, data=body, headers=headers)
    assert answer.status_code == 200 and answer.get_json()["status"] == "accepted"
    with ctx.db.session() as session:
        assert session.scalar(select(WebhookDelivery.outcome)) == "deferred"
    assert sweep_due_orders(ctx)["webhooks_requeued"] == 0  # still no room: it stays deferred
    with ctx.db.session() as session:
        assert session.scalar(select(WebhookDelivery.outcome)) == "deferred"

    monkeypatch.setattr(background_work, "max_pending", 64)  # room again
    assert sweep_due_orders(ctx)["webhooks_requeued"] == 1
    assert background_work.wait_idle(timeout=60)
    order = order_row(ctx, seller.connections["shopify"], order_id)
    assert order is not None and order.state == OrderState.INVOICED, order and order.state_reason
    with ctx.db.session() as session:
        assert session.scalar(select(WebhookDelivery.outcome)) == "processed:invoiced"
