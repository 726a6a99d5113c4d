"""Sign-in, sign-out, language, CSRF and the pages that need a signed-in user."""

import pytest
from sqlalchemy import select

from admin_ui import create_app
from connector.models import User
from tests.admin_ui.conftest import PASSWORD, client_for, new_account, new_user, page_text

PROTECTED_PAGES = ["/", "/orders", "/orders/1", "/errors", "/mismatches", "/sync", "/connections",
                   "/connections/erp/alegra", "/connections/channels/mercadolibre", "/settings/configuration",
                   "/settings/auto-invoicing"]


def test_login_page_is_spanish_by_default(app):
    response = client_for(app).get("/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="es">' in html and "Iniciar sesión" in html and 'name="csrf_token"' in html


@pytest.mark.parametrize("path", PROTECTED_PAGES)
def test_every_page_needs_a_signed_in_user(app, path):
    response = client_for(app).get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_json_endpoints_answer_401_without_a_session(app):
    client = client_for(app)
    assert client.get("/catalog/search?q=vela", headers={"Accept": "application/json"}).status_code == 401
    assert client.get("/sync/jobs/abc", headers={"Accept": "application/json"}).status_code == 401


def test_wrong_password_says_so_and_keeps_the_email(app, bare_email):
    seller_email = bare_email
    client = client_for(app)
    client.get("/login")
    response = client.post("/login", data={"email": seller_email, "password": "otra-clave-999"})
    assert response.status_code == 401
    text = page_text(response)
    assert "Correo o contraseña incorrectos." in text
    assert f'value="{seller_email}"' in response.get_data(as_text=True)
    assert PASSWORD not in response.get_data(as_text=True) and "otra-clave-999" not in response.get_data(as_text=True)


def test_unknown_email_gets_the_same_message(app):
    client = client_for(app)
    client.get("/login")
    response = client.post("/login", data={"email": "nadie@tienda.co", "password": "lo-que-sea-123"})
    assert response.status_code == 401
    assert "Correo o contraseña incorrectos." in page_text(response)


def test_empty_fields_are_asked_for(app):
    client = client_for(app)
    client.get("/login")
    response = client.post("/login", data={"email": "", "password": ""})
    assert response.status_code == 400
    assert "Escribe tu correo y tu contraseña." in page_text(response)


def test_deactivated_user_cannot_sign_in_and_loses_open_sessions(app, ui_ctx, bare_email):
    seller_email = bare_email
    client = client_for(app, seller_email)
    assert client.get("/").status_code == 200
    with ui_ctx.db.transaction() as session:
        session.scalar(select(User).where(User.email == seller_email)).is_active = False
    assert client.get("/").status_code == 302  # the open session no longer counts
    again = client_for(app)
    again.get("/login")
    assert again.post("/login", data={"email": seller_email, "password": PASSWORD}).status_code == 401


def test_password_change_signs_every_session_out(app, ui_ctx, bare_email):
    seller_email = bare_email
    from connector.users import set_password

    client = client_for(app, seller_email)
    set_password(ui_ctx, seller_email, "una-clave-nueva-456")
    assert client.get("/").status_code == 302


def test_sign_in_follows_next_but_never_off_site(app, bare_email):
    seller_email = bare_email
    client = client_for(app)
    client.get("/login")
    ok = client.post("/login", data={"email": seller_email, "password": PASSWORD, "next": "/orders?state=error"})
    assert ok.headers["Location"] == "/orders?state=error"
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        client = client_for(app)
        client.get("/login")
        response = client.post("/login", data={"email": seller_email, "password": PASSWORD, "next": evil})
        assert response.headers["Location"] == "/"


def test_sign_out_is_a_post_and_ends_the_session(bare_client):
    client = bare_client
    assert client.get("/logout").status_code == 405
    response = client.post("/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/").status_code == 302


def test_repeated_failures_are_throttled(app, bare_email):
    seller_email = bare_email
    client = client_for(app)
    client.get("/login")
    for _ in range(8):
        client.post("/login", data={"email": seller_email, "password": "mala-clave-000"})
    response = client.post("/login", data={"email": seller_email, "password": PASSWORD})
    assert response.status_code == 429
    assert "Demasiados intentos" in page_text(response)


def test_language_is_saved_on_the_user(app, ui_ctx, seller_email, synced_seller):
    client = client_for(app, seller_email)
    response = client.post("/language", data={"locale": "en", "next": "/orders"})
    assert response.headers["Location"] == "/orders"
    text = page_text(client.get("/orders"))
    assert "Orders" in text and "Invoiced" in text and "Facturada" not in text
    with ui_ctx.db.session() as session:
        assert session.scalar(select(User.locale).where(User.email == seller_email)) == "en"
    # A new session of the same user starts in English too.
    assert 'lang="en"' in client_for(app, seller_email).get("/").get_data(as_text=True)


def test_language_can_be_chosen_before_signing_in(app):
    client = client_for(app)
    client.get("/login")
    client.post("/language", data={"locale": "en", "next": "/login"})
    assert "Sign in" in page_text(client.get("/login"))


@pytest.mark.parametrize("path", ["/login", "/logout", "/language", "/sync/now", "/errors/retry", "/errors/retry-held",
                                  "/mismatches/map", "/orders/1/invoice", "/settings/configuration",
                                  "/connections/erp/alegra", "/connections/channels/mercadolibre",
                                  "/connections/channels/mercadolibre/authorize", "/connections/erp/refresh-catalog"])
def test_a_post_without_the_csrf_token_is_refused(bare_client, path):
    assert bare_client.post(path, data={"email": "x"}, csrf=False).status_code == 400
    wrong = bare_client.post(path, data={"csrf_token": "not-the-token"}, csrf=False)
    assert wrong.status_code == 400
    assert "La página caducó" in page_text(wrong)


def test_the_csrf_token_may_come_in_a_header(bare_client):
    client = bare_client
    response = client.post("/sync/now", csrf=False, headers={"X-CSRF-Token": client.csrf(),
                                                             "Accept": "application/json"})
    assert response.status_code == 202


def test_signing_in_renews_the_csrf_token(app, bare_email):
    seller_email = bare_email
    client = client_for(app)
    client.get("/login")
    before = client.csrf()
    client.post("/login", data={"email": seller_email, "password": PASSWORD})
    assert client.csrf() and client.csrf() != before


def test_create_app_without_a_seller_serves_health(ui_ctx):
    app = create_app(ui_ctx)
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_json()["status"] == "ok"


def test_a_user_of_an_account_without_connections_sees_the_first_steps(app, ui_ctx):
    email = new_user(ui_ctx, new_account(ui_ctx))
    text = page_text(client_for(app, email).get("/"))
    # Several ERPs and channels are registered: each step leads to the connections page to choose one,
    # in words that name no channel.
    assert "Primeros pasos" in text and "Conectar el ERP" in text and "Conectar un canal" in text
    assert "Conecta tu canal de venta" in text and "Mercado Libre" not in text
