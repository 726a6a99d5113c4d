"""Odd input never becomes a 500 or a traceback: ids beyond any integer column, pages and dates at the
edge of the calendar, NUL bytes in a search, malformed store addresses — on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from connector.context import AppContext
from sandbox import server as sandbox_server
from tests.admin_ui.conftest import client_for, fresh_seller, make_app, new_user, page_text
from tests.conftest import _postgres_schema_url, make_settings

HUGE = "99999999999999999999999"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ctx(request, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp(f"odd-input-{request.param}")
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
def client(ctx, ui_sandbox):
    account = fresh_seller(ctx, ui_sandbox)
    app = make_app(ctx, ui_sandbox)
    return client_for(app, new_user(ctx, account))


@pytest.mark.parametrize(("path", "status", "words"), [
    (f"/orders/{HUGE}", 404, "No existe la orden"),
    ("/orders/2147483648", 404, "No existe la orden"),
    ("/orders?page=99999999999999999999", 200, ""),
    ("/orders?to=9999-12-31", 200, "fuera del rango"),
    ("/orders?from=0001-01-01&to=0001-01-01", 200, "fuera del rango"),
    ("/orders?from=9999-12-31", 200, "fuera del rango"),
    (f"/orders?channel={HUGE}", 200, ""),
    ("/orders?q=%00caf%C3%A9", 200, ""),
    ("/errors?q=%00", 200, ""),
])
def test_odd_listing_and_detail_input_is_answered_not_a_500(client, path, status, words):
    response = client.get(path)
    assert response.status_code == status, page_text(response)[:300]
    assert words in page_text(response)


def test_invoicing_an_order_id_beyond_any_integer_is_not_found(client):
    assert client.post(f"/orders/{HUGE}/invoice", data={}).status_code == 404


@pytest.mark.parametrize("store_url", ["https://\x00.com", "https://" + "a" * 300 + ".com",
                                       "https://tienda .com", "https://" + ".".join(["a" * 63] * 5) + ".com"])
def test_a_malformed_store_address_is_a_form_error(client, store_url):
    response = client.post("/connections/channels/woocommerce", data={
        "store_url": store_url, "consumer_key": sandbox_server.WOO_CONSUMER_KEY,
        "consumer_secret": sandbox_server.WOO_CONSUMER_SECRET})
    assert response.status_code == 400
    assert "no es válida" in page_text(response)
