"""Services a seller or an operator calls (the CLI and the panel are thin over them)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connector import services
from connector.errors import ConfigurationError
from connector.models import ChannelConnection
from sandbox import server as sandbox_server
from tests.conftest import connect_seller


def channel_credentials(kind: str, box) -> tuple[dict, str]:
    """Credentials for ``kind``'s sandbox store (Mercado Libre's refresh token reset first: it rotates)."""
    if kind == "mercadolibre":
        box.ml_state.refresh_token = sandbox_server.ML_REFRESH_TOKEN
        return {"client_id": sandbox_server.ML_CLIENT_ID, "client_secret": sandbox_server.ML_CLIENT_SECRET,
                "refresh_token": sandbox_server.ML_REFRESH_TOKEN}, box.ml_url
    if kind == "shopify":
        return {"shop": sandbox_server.SHOPIFY_SHOP, "access_token": sandbox_server.SHOPIFY_ACCESS_TOKEN,
                "webhook_secret": sandbox_server.SHOPIFY_WEBHOOK_SECRET}, box.shopify_url
    return {"store_url": box.woo_url, "consumer_key": sandbox_server.WOO_CONSUMER_KEY,
            "consumer_secret": sandbox_server.WOO_CONSUMER_SECRET}, box.woo_url


# -- one store, one account ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mercadolibre", "shopify", "woocommerce"])
def test_a_store_connected_in_one_account_is_refused_in_another(ctx, sandbox, kind):
    first, second = (services.create_account(ctx, name).id for name in ("Tienda A", "Tienda B"))
    credentials, url = channel_credentials(kind, sandbox)
    services.connect_channel(ctx, first, kind, credentials, base_url=url)
    credentials, url = channel_credentials(kind, sandbox)
    with pytest.raises(ConfigurationError, match="Esta tienda ya está conectada en otra cuenta"):
        services.connect_channel(ctx, second, kind, credentials, base_url=url)
    assert services.list_channel_connections(ctx, second) == []
    credentials, url = channel_credentials(kind, sandbox)  # the same account may reconnect it
    again = services.connect_channel(ctx, first, kind, credentials, base_url=url)
    assert [c.id for c in services.list_channel_connections(ctx, first)] == [again.id]


def test_the_database_refuses_the_same_store_twice_whatever_the_account(ctx):
    first, second = (services.create_account(ctx, name).id for name in ("Tienda A", "Tienda B"))
    with pytest.raises(IntegrityError), ctx.db.transaction() as session:
        for account_id in (first, second):
            session.add(ChannelConnection(account_id=account_id, kind="shopify", name="x", credentials_encrypted="",
                                          remote_account_id="548380009", settings_overrides={}))
            session.flush()


def test_a_connect_that_loses_the_race_gets_the_same_refusal(ctx, sandbox, monkeypatch):
    """Two accounts connecting the same store at once: the unique constraint decides, same message."""
    first, second = (services.create_account(ctx, name).id for name in ("Tienda A", "Tienda B"))
    credentials, url = channel_credentials("shopify", sandbox)
    services.connect_channel(ctx, first, "shopify", credentials, base_url=url)
    monkeypatch.setattr(services.connections, "_store_connected_elsewhere", lambda *args, **kwargs: False)
    with pytest.raises(ConfigurationError, match="Esta tienda ya está conectada en otra cuenta"):
        services.connect_channel(ctx, second, "shopify", credentials, base_url=url)
    with ctx.db.session() as session:
        assert len(session.scalars(select(ChannelConnection)).all()) == 1


def test_the_same_erp_company_in_two_accounts_is_allowed_with_a_warning(ctx, sandbox):
    first = connect_seller(ctx, sandbox)
    with ctx.db.session() as session:
        assert services.get_erp_connection(session, services.find_account(session, first)) is not None
    second = services.create_account(ctx, "Otra tienda").id
    connection = services.connect_erp(ctx, second, "alegra", {"email": sandbox_server.ALEGRA_EMAIL,
                                                              "token": sandbox_server.ALEGRA_TOKEN},
                                      base_url=sandbox.alegra_url)
    assert connection.warning and "ya está conectada en otra cuenta" in connection.warning
    again = services.connect_erp(ctx, first, "alegra", {"email": sandbox_server.ALEGRA_EMAIL,
                                                        "token": sandbox_server.ALEGRA_TOKEN},
                                 base_url=sandbox.alegra_url)
    assert again.warning and "Otra tienda" not in again.warning  # another seller's name is never shown
