"""Connecting Alegra and Mercado Libre from the UI: checked before saving, secrets never shown back."""

from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select

from connector import services
from connector.models import ChannelConnection, OAuthState, utcnow
from sandbox import server as sandbox_server
from tests.admin_ui.conftest import page_text

ALEGRA_FORM = {"name": "Alegra (mi tienda)", "email": sandbox_server.ALEGRA_EMAIL, "country": "CO"}


def test_connections_page_offers_alegra_and_the_channels(bare_client):
    text = page_text(bare_client.get("/connections"))
    assert "Conectar Alegra" in text and "Conectar Mercado Libre" in text
    assert "listas de precios y bodegas" in text


def test_a_refused_alegra_token_gets_a_clear_message_and_keeps_the_form(bare_client, ui_sandbox, ui_ctx):
    response = bare_client.post("/connections/erp/alegra", data={**ALEGRA_FORM, "token": "token-equivocado-9999",
                                                                 "base_url": ui_sandbox.alegra_url})
    assert response.status_code == 400
    html, text = response.get_data(as_text=True), page_text(response)
    assert "Alegra rechazó las credenciales" in text
    assert 'value="Alegra (mi tienda)"' in html and f'value="{sandbox_server.ALEGRA_EMAIL}"' in html
    assert "token-equivocado-9999" not in html  # a secret is never echoed, not even a wrong one


def test_missing_fields_are_named(bare_client, ui_sandbox):
    response = bare_client.post("/connections/erp/alegra", data={"email": "", "token": "",
                                                                 "base_url": ui_sandbox.alegra_url})
    assert response.status_code == 400
    assert "Faltan datos para conectar Alegra" in page_text(response)


def test_connecting_alegra_saves_it_and_only_a_masked_hint_comes_back(bare_client, ui_sandbox, ui_ctx):
    response = bare_client.post("/connections/erp/alegra", data={**ALEGRA_FORM, "token": sandbox_server.ALEGRA_TOKEN,
                                                                 "base_url": ui_sandbox.alegra_url})
    assert response.status_code == 302 and response.headers["Location"] == "/settings/configuration"
    for path in ("/connections", "/connections/erp/alegra", "/settings/configuration"):
        html = bare_client.get(path).get_data(as_text=True)
        assert sandbox_server.ALEGRA_TOKEN not in html
    text = page_text(bare_client.get("/connections"))
    assert "Tienda Cafetera S.A.S." in text and "••••" + sandbox_server.ALEGRA_TOKEN[-4:] in text


def test_a_custom_api_address_is_refused_in_production(app, ui_ctx, ui_sandbox, bare_email):
    from pydantic import SecretStr

    from admin_ui import create_app
    from tests.admin_ui.conftest import SellerClient

    production_settings = ui_ctx.settings.model_copy(update={"mode": "production",  # production needs its secret
                                                              "web_secret": SecretStr("s3creto-de-la-web-largo")})
    production = create_app(ui_ctx.__class__(settings=production_settings, db=ui_ctx.db, vault=ui_ctx.vault),
                            TESTING=True)
    production.test_client_class = SellerClient
    client = production.test_client()
    client.get("/login")
    client.post("/login", data={"email": bare_email, "password": "clave-de-prueba-123"},
                base_url="https://localhost")
    response = client.get("/connections/erp/alegra", base_url="https://localhost")
    assert "Dirección de la API" not in page_text(response)  # the field is not offered
    response = client.post("/connections/erp/alegra", base_url="https://localhost",
                           data={**ALEGRA_FORM, "token": sandbox_server.ALEGRA_TOKEN, "base_url": ui_sandbox.alegra_url})
    assert response.status_code == 400 and "solo se permite en modo sandbox" in page_text(response)


def test_channel_credentials_form_connects_and_masks_secrets(bare_client, ui_sandbox, ui_ctx):
    ui_sandbox.ml_state.refresh_token = sandbox_server.ML_REFRESH_TOKEN
    response = bare_client.post("/connections/channels/mercadolibre", data={
        "client_id": sandbox_server.ML_CLIENT_ID, "client_secret": sandbox_server.ML_CLIENT_SECRET,
        "refresh_token": sandbox_server.ML_REFRESH_TOKEN, "site_id": "MCO", "base_url": ui_sandbox.ml_url})
    assert response.status_code == 302
    html = bare_client.get("/connections").get_data(as_text=True)
    assert "TIENDACAFETERA" in html
    assert sandbox_server.ML_CLIENT_SECRET not in html and sandbox_server.ML_REFRESH_TOKEN not in html
    assert "••••" + sandbox_server.ML_CLIENT_SECRET[-4:] in html


def test_a_store_of_another_account_is_a_form_error_not_a_500(app, bare_client, ui_sandbox, ui_ctx):
    from tests.admin_ui.conftest import client_for, new_account, new_user

    form = {"shop": sandbox_server.SHOPIFY_SHOP, "access_token": sandbox_server.SHOPIFY_ACCESS_TOKEN,
            "base_url": ui_sandbox.shopify_url}
    assert bare_client.post("/connections/channels/shopify", data=form).status_code == 302
    other = client_for(app, new_user(ui_ctx, new_account(ui_ctx)))
    response = other.post("/connections/channels/shopify", data=form)
    assert response.status_code == 400
    assert "Esta tienda ya está conectada en otra cuenta" in page_text(response)
    assert sandbox_server.SHOPIFY_ACCESS_TOKEN not in response.get_data(as_text=True)


def test_the_same_alegra_company_in_another_account_connects_with_a_warning(app, bare_client, ui_sandbox, ui_ctx):
    from tests.admin_ui.conftest import new_account

    services.connect_erp(ui_ctx, new_account(ui_ctx), "alegra", {"email": sandbox_server.ALEGRA_EMAIL,
                                                                 "token": sandbox_server.ALEGRA_TOKEN},
                         base_url=ui_sandbox.alegra_url)
    response = bare_client.post("/connections/erp/alegra", data={
        **ALEGRA_FORM, "token": sandbox_server.ALEGRA_TOKEN, "base_url": ui_sandbox.alegra_url}, follow_redirects=True)
    assert response.status_code == 200
    assert "ya está conectada en otra cuenta" in page_text(response)


def test_a_refused_refresh_token_is_explained(bare_client, ui_sandbox):
    response = bare_client.post("/connections/channels/mercadolibre", data={
        "client_id": sandbox_server.ML_CLIENT_ID, "client_secret": sandbox_server.ML_CLIENT_SECRET,
        "refresh_token": "TG-vencido", "base_url": ui_sandbox.ml_url})
    assert response.status_code == 400
    assert "Mercado Libre rechazó la autorización" in page_text(response)
    assert "TG-vencido" not in response.get_data(as_text=True)


def _authorize(client, box) -> str:
    """Start the OAuth round trip; returns the sandbox authorization URL we were sent to."""
    response = client.post("/connections/channels/mercadolibre/authorize", data={
        "client_id": sandbox_server.ML_CLIENT_ID, "client_secret": sandbox_server.ML_CLIENT_SECRET, "site_id": "MCO",
        "name": "ML Tienda", "base_url": box.ml_url})
    assert response.status_code == 303, response.get_data(as_text=True)[:400]
    return response.headers["Location"]


def _consent(authorization_url: str, decision: str = "allow") -> str:
    """What the seller's browser does at Mercado Libre: open the page, press a button; returns where
    Mercado Libre sends the browser back to."""
    page = httpx.get(authorization_url)
    assert page.status_code == 200 and "Permitir" in page.text
    params = {k: v[0] for k, v in parse_qs(urlsplit(authorization_url).query).items()}
    answer = httpx.post(authorization_url.split("?")[0], data={**params, "decision": decision})
    assert answer.status_code == 302
    return answer.headers["Location"]


def test_mercado_libre_oauth_round_trip_connects_the_channel(bare_client, ui_sandbox, ui_ctx):
    url = _authorize(bare_client, ui_sandbox)
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(ui_sandbox.ml_url + "/authorization?")
    assert query["response_type"] == ["code"] and query["client_id"] == [sandbox_server.ML_CLIENT_ID]
    assert query["redirect_uri"] == ["http://localhost/connections/channels/mercadolibre/callback"]
    assert query["code_challenge_method"] == ["S256"] and query["state"][0]
    back = _consent(url)
    assert back.startswith("http://localhost/connections/channels/mercadolibre/callback?code=")
    response = bare_client.get(back.removeprefix("http://localhost"))
    assert response.status_code == 302 and response.headers["Location"] == "/connections"
    text = page_text(bare_client.get("/connections"))
    assert "Mercado Libre conectado" in text and "ML Tienda" in text
    with ui_ctx.db.session() as session:
        connection = session.scalar(select(ChannelConnection).where(ChannelConnection.name == "ML Tienda"))
        credentials = ui_ctx.vault.decrypt(connection.credentials_encrypted)
    assert credentials["refresh_token"] == ui_sandbox.ml_state.refresh_token  # the rotated one is kept
    assert sandbox_server.ML_CLIENT_SECRET not in bare_client.get("/connections").get_data(as_text=True)

    # The same callback again (a reload, or someone replaying it) is refused: the state was spent.
    again = bare_client.get(back.removeprefix("http://localhost"))
    assert again.status_code == 400 and "ya se usó" in page_text(again)


def test_a_denied_authorization_says_so(bare_client, ui_sandbox):
    back = _consent(_authorize(bare_client, ui_sandbox), decision="deny")
    response = bare_client.get(back.removeprefix("http://localhost"))
    assert response.status_code == 400
    assert "No se autorizó la conexión en Mercado Libre" in page_text(response)


def test_an_expired_authorization_is_refused(bare_client, ui_sandbox, ui_ctx):
    from datetime import timedelta

    back = _consent(_authorize(bare_client, ui_sandbox))
    state = parse_qs(urlsplit(back).query)["state"][0]
    with ui_ctx.db.transaction() as session:
        session.scalar(select(OAuthState).where(OAuthState.state == state)).created_at = utcnow() - timedelta(minutes=11)
    response = bare_client.get(back.removeprefix("http://localhost"))
    assert response.status_code == 400 and "10 minutos" in page_text(response)


def test_a_made_up_state_is_refused(bare_client):
    response = bare_client.get("/connections/channels/mercadolibre/callback?code=TG-x&state=inventado")
    assert response.status_code == 400 and "no es válida" in page_text(response)


def test_authorize_form_errors_keep_the_values(bare_client, ui_sandbox):
    response = bare_client.post("/connections/channels/mercadolibre/authorize", data={
        "client_id": "", "client_secret": "secreto-123", "name": "Mi ML", "base_url": ui_sandbox.ml_url})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Faltan datos para conectar Mercado Libre" in page_text(response)
    assert 'value="Mi ML"' in html and "secreto-123" not in html


def test_unknown_kinds_are_not_found(bare_client):
    assert bare_client.get("/connections/erp/sap").status_code == 404
    assert bare_client.get("/connections/channels/amazon").status_code == 404


def test_refresh_catalog(client, ui_seller):
    response = client.post("/connections/erp/refresh-catalog")
    assert response.status_code == 302
    assert "Catálogo actualizado" in page_text(client.get("/connections"))


def test_sandbox_mode_shows_the_sandbox_credentials_and_address(bare_client, ui_sandbox):
    html = bare_client.get("/connections/erp/alegra").get_data(as_text=True)
    assert ui_sandbox.alegra_url in html and "Credenciales del sandbox" in html
    assert services  # the form is served from the services' registry of ERPs
