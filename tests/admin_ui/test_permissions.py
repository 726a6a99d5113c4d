"""One seller can never see or touch another's orders, connections, settings or actions — on SQLite
and on PostgreSQL. The two sellers are built once per database (the attempts change nothing)."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, text

from connector import services
from connector.context import AppContext
from connector.models import OAuthState, SkuMapping
from connector.states import OrderState
from connector.sync import sync_once
from sandbox import server as sandbox_server
from tests.admin_ui.conftest import client_for, fresh_seller, make_app, new_user, page_text
from tests.conftest import _postgres_schema_url, make_settings


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ctx(request, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp(f"permissions-{request.param}")
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'connector.sqlite3'}"
    else:
        engine = request.getfixturevalue("postgres_engine")
        schema, url = _postgres_schema_url(engine)
    context = AppContext.from_settings(make_settings(tmp_path, url))
    context.db.migrate()
    yield context
    context.close()
    context.db.dispose()
    if schema is not None:
        with request.getfixturevalue("postgres_engine").begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))


@pytest.fixture(scope="module")
def two_sellers(ctx, ui_sandbox):
    """Seller A and seller B, both connected and synced, each with a signed-in client."""
    a = fresh_seller(ctx, ui_sandbox)
    sync_once(ctx, a)
    b = fresh_seller(ctx, ui_sandbox)
    sync_once(ctx, b)
    app = make_app(ctx, ui_sandbox)
    return app, (a, client_for(app, new_user(ctx, a))), (b, client_for(app, new_user(ctx, b)))


def _order_links(response) -> set[int]:
    return {int(n) for n in re.findall(r'href="/orders/(\d+)"', response.get_data(as_text=True))}


def test_another_sellers_orders_are_not_found(ctx, two_sellers):
    _app, (a, _client_a), (b, client_b) = two_sellers
    a_order = services.error_queue(ctx, a)[0]
    assert client_b.get(f"/orders/{a_order.id}").status_code == 404
    response = client_b.post(f"/orders/{a_order.id}/invoice", data={"item[VELA-AROM-01]": "1"})
    assert response.status_code == 404
    assert services.get_order(ctx, a_order.id, a).state == OrderState.ERROR  # untouched
    a_ids = {o.id for o in services.list_orders(ctx, a)}
    for path in ("/orders", "/orders?state=error", "/errors", "/", "/orders?q=VELA"):
        assert not (_order_links(client_b.get(path)) & a_ids), path
    assert _order_links(client_b.get("/orders")) == {o.id for o in services.list_orders(ctx, b)}


def test_another_sellers_channel_is_not_a_filter_nor_a_scope(ctx, two_sellers):
    _app, (a, _client_a), (b, client_b) = two_sellers
    [a_channel] = services.list_channel_connections(ctx, a)
    text = page_text(client_b.get(f"/orders?channel={a_channel.id}"))
    assert "Ese canal no es de tu cuenta." in text and "No hay órdenes que coincidan." in text
    assert client_b.get(f"/settings/configuration?scope={a_channel.id}").status_code == 404
    response = client_b.post(f"/settings/auto-invoicing?scope={a_channel.id}",
                             data={"scope": str(a_channel.id), "enabled": "true", "invoice_fulfillment": "true"})
    assert response.status_code == 404
    assert services.list_channel_connections(ctx, a)[0].settings_overrides == {}


def test_another_sellers_sku_cannot_be_mapped(ctx, two_sellers):
    _app, (a, _client_a), (b, client_b) = two_sellers
    [a_channel] = services.list_channel_connections(ctx, a)
    item = services.search_catalog(ctx, b, "VEL-SOY-200")[0].erp_id
    response = client_b.post("/mismatches/map", data={"sku_key": "VELA-AROM-01", "channel": str(a_channel.id),
                                                      "item_id": item, "invoice": "1"})
    assert response.status_code == 404
    with ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(SkuMapping)
                              .where(SkuMapping.channel_connection_id == a_channel.id)) == 0
    assert len(services.error_queue(ctx, a)) == 3


def test_another_sellers_sync_job_is_not_found(ctx, two_sellers):
    app, (a, client_a), (b, client_b) = two_sellers
    job = client_a.post("/sync/now", headers={"Accept": "application/json"}).get_json()
    try:
        assert client_b.get(job["status_url"]).status_code == 404
        assert client_a.get(job["status_url"]).status_code == 200
        assert job["id"] not in client_b.get("/sync").get_data(as_text=True)
    finally:
        app.extensions["sync_jobs"].wait(job["id"], timeout=60)


def test_another_sellers_oauth_state_is_refused_and_stays_usable(ctx, two_sellers, ui_sandbox):
    _app, (a, client_a), (b, client_b) = two_sellers
    response = client_a.post("/connections/channels/mercadolibre/authorize", data={
        "client_id": sandbox_server.ML_CLIENT_ID, "client_secret": sandbox_server.ML_CLIENT_SECRET,
        "base_url": ui_sandbox.ml_url})
    state = parse_qs(urlsplit(response.headers["Location"]).query)["state"][0]
    stolen = client_b.get(f"/connections/channels/mercadolibre/callback?code=TG-x&state={state}")
    assert stolen.status_code == 400 and "no es válida" in page_text(stolen)
    with ctx.db.session() as session:
        assert session.scalar(select(OAuthState.used_at).where(OAuthState.state == state)) is None


def test_each_seller_sees_only_its_own_connections_and_counts(ctx, two_sellers):
    _app, (a, client_a), (b, client_b) = two_sellers
    with ctx.db.session() as session:
        a_name, b_name = (services.find_account(session, x).name for x in (a, b))
    home_b = page_text(client_b.get("/"))
    assert b_name in home_b and a_name not in home_b
    assert a_name not in page_text(client_b.get("/connections"))
