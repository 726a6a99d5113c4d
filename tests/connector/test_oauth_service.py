"""The OAuth round trip as a service: one-use states bound to the account, 10 minutes, secrets sealed."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from connector import oauth, services
from connector.errors import ConfigurationError
from connector.models import ChannelConnection, OAuthState, utcnow
from sandbox import server as sandbox_server

REDIRECT = "http://127.0.0.1:5000/connections/channels/mercadolibre/callback"
FORM = {"client_id": sandbox_server.ML_CLIENT_ID, "client_secret": sandbox_server.ML_CLIENT_SECRET, "site_id": "MCO"}


def _browser_consents(url: str, decision: str = "allow") -> dict:
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    answer = httpx.post(url.split("?")[0], data={**params, "decision": decision})
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}


@pytest.fixture
def accounts(ctx):
    return services.create_account(ctx, "Tienda A").id, services.create_account(ctx, "Tienda B").id


def test_begin_then_complete_connects_the_channel(ctx, sandbox, accounts):
    a, _b = accounts
    url = oauth.begin_authorization(ctx, a, "mercadolibre", FORM, redirect_uri=REDIRECT, name="ML A",
                                    base_url=sandbox.ml_url)
    with ctx.db.session() as session:
        row = session.scalar(select(OAuthState))
    assert row.account_id == a and row.channel_kind == "mercadolibre" and row.used_at is None
    assert sandbox_server.ML_CLIENT_SECRET not in str(row.payload)  # sealed with the vault
    back = _browser_consents(url)
    connection = oauth.complete_authorization(ctx, a, "mercadolibre", back["state"], code=back["code"])
    assert connection.name == "ML A" and connection.remote_account_id == str(sandbox_server.ML_USER_ID)
    with ctx.db.session() as session:
        stored = session.get(ChannelConnection, connection.id)
        assert session.scalar(select(OAuthState.used_at)) is not None
    credentials = ctx.vault.decrypt(stored.credentials_encrypted)
    assert credentials["refresh_token"] == sandbox.ml_state.refresh_token  # the rotated one
    with pytest.raises(oauth.AuthorizationRefused, match="ya se usó"):
        oauth.complete_authorization(ctx, a, "mercadolibre", back["state"], code=back["code"])


def test_another_account_cannot_use_the_state(ctx, sandbox, accounts):
    a, b = accounts
    back = _browser_consents(oauth.begin_authorization(ctx, a, "mercadolibre", FORM, redirect_uri=REDIRECT,
                                                       base_url=sandbox.ml_url))
    with pytest.raises(oauth.AuthorizationRefused, match="no es válida"):
        oauth.complete_authorization(ctx, b, "mercadolibre", back["state"], code=back["code"])
    assert oauth.complete_authorization(ctx, a, "mercadolibre", back["state"], code=back["code"]).account_id == a


def test_states_expire_after_ten_minutes(ctx, sandbox, accounts):
    a, _b = accounts
    back = _browser_consents(oauth.begin_authorization(ctx, a, "mercadolibre", FORM, redirect_uri=REDIRECT,
                                                       base_url=sandbox.ml_url))
    with ctx.db.transaction() as session:
        session.scalar(select(OAuthState)).created_at = utcnow() - timedelta(minutes=10, seconds=5)
    with pytest.raises(oauth.AuthorizationRefused, match="10 minutos"):
        oauth.complete_authorization(ctx, a, "mercadolibre", back["state"], code=back["code"])


def test_a_denied_authorization_spends_the_state(ctx, sandbox, accounts):
    a, _b = accounts
    back = _browser_consents(oauth.begin_authorization(ctx, a, "mercadolibre", FORM, redirect_uri=REDIRECT,
                                                       base_url=sandbox.ml_url), decision="deny")
    with pytest.raises(oauth.AuthorizationRefused, match="No se autorizó"):
        oauth.complete_authorization(ctx, a, "mercadolibre", back["state"], error=back["error"])
    with pytest.raises(oauth.AuthorizationRefused, match="ya se usó"):
        oauth.complete_authorization(ctx, a, "mercadolibre", back["state"], code="TG-x")


def test_missing_fields_and_production_addresses_are_refused(ctx, accounts, tmp_path):
    a, _b = accounts
    with pytest.raises(ConfigurationError, match="Clave secreta de la aplicación"):
        oauth.begin_authorization(ctx, a, "mercadolibre", {"client_id": "1"}, redirect_uri=REDIRECT)
    ctx.settings = ctx.settings.model_copy(update={"mode": "production"})
    with pytest.raises(ConfigurationError, match="solo se permite en modo sandbox"):
        oauth.begin_authorization(ctx, a, "mercadolibre", FORM, redirect_uri=REDIRECT, base_url="http://127.0.0.1:1")
    url = oauth.begin_authorization(ctx, a, "mercadolibre", FORM, redirect_uri=REDIRECT)
    assert url.startswith("https://auth.mercadolibre.com.co/authorization?")


def test_channels_without_an_authorization_module_use_the_credentials_form():
    assert oauth.supports_authorization("mercadolibre")
    assert [f.name for f in oauth.authorization_fields("mercadolibre")] == ["client_id", "client_secret", "site_id"]
    with pytest.raises(ConfigurationError, match="Canal desconocido"):
        oauth.authorization_module("amazon")


def test_old_states_are_forgotten(ctx, accounts):
    a, _b = accounts
    oauth.begin_authorization(ctx, a, "mercadolibre", FORM, redirect_uri=REDIRECT)
    with ctx.db.transaction() as session:
        session.scalar(select(OAuthState)).created_at = utcnow() - timedelta(days=2)
    assert oauth.forget_expired_states(ctx) == 1
