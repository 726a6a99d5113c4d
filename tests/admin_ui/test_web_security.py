"""Session cookie flags, security headers, the web secret, and an app that works offline."""

import re
import stat

import pytest

from admin_ui import create_app, security
from connector.context import AppContext
from connector.errors import ConfigurationError
from tests.admin_ui.conftest import PASSWORD, SellerClient, client_for
from tests.conftest import make_settings


def _session_cookie(response) -> str:
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("connector_session="))


def test_sandbox_over_plain_http_on_loopback_gets_a_cookie_without_secure(app, bare_email):
    client = client_for(app)
    client.get("/login")
    cookie = _session_cookie(client.post("/login", data={"email": bare_email, "password": PASSWORD}))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_anything_else_gets_a_secure_cookie(app, ui_ctx, bare_email, tmp_path):
    # Sandbox mode, but not on loopback: Secure (so this plain-http client never sends it back).
    response = client_for(app).get("/login", base_url="http://tienda.example.com")
    assert "Secure" in _session_cookie(response) and "HttpOnly" in _session_cookie(response)
    production = create_app(AppContext(settings=make_settings(tmp_path, ui_ctx.db.url, mode="production",
                                                              web_secret="s3creto-de-la-web-que-es-largo"),
                                       db=ui_ctx.db, vault=ui_ctx.vault), TESTING=True)
    production.test_client_class = SellerClient
    client = production.test_client()
    client.get("/login")
    cookie = _session_cookie(client.post("/login", data={"email": bare_email, "password": PASSWORD}))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_security_headers(bare_client):
    response = bare_client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"


def test_no_cdn_and_no_inline_scripts_or_styles(client, synced_seller):
    for path in ("/login", "/", "/orders", "/errors", "/mismatches", "/sync", "/connections",
                 "/connections/channels/mercadolibre", "/settings/configuration", "/settings/auto-invoicing"):
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r'(src|href)="(https?:)?//', html), path  # every asset is served by the app
        assert "<script>" not in html and "<style" not in html and ' style="' not in html, path
    for asset in ("app.css", "app.js", "favicon.svg"):
        assert client.get(f"/static/{asset}").status_code == 200
    css = client.get("/static/app.css").get_data(as_text=True)
    assert "@import" not in css and "url(http" not in css and "@font-face" not in css


def test_phone_viewport_meta(bare_client):
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in \
        bare_client.get("/").get_data(as_text=True)


def test_the_web_secret_comes_from_settings_or_a_private_file(tmp_path):
    settings = make_settings(tmp_path, "sqlite://", web_secret="s3creto-de-la-web-que-es-largo")
    assert security.load_secret_key(settings) == "s3creto-de-la-web-que-es-largo"
    generated = make_settings(tmp_path / "data", "sqlite://")
    key = security.load_secret_key(generated)
    path = tmp_path / "data" / "web.key"
    assert len(key) == 64 and path.read_text().strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert security.load_secret_key(generated) == key  # generated once, then reused


def test_production_never_generates_a_web_secret(tmp_path):
    with pytest.raises(ConfigurationError, match="CONNECTOR_WEB_SECRET"):
        security.load_secret_key(make_settings(tmp_path, "sqlite://", mode="production"))
    assert not (tmp_path / "web.key").exists()


def test_hsts_only_over_https(bare_client):
    assert bare_client.get("/login", base_url="https://tienda.example.com").headers[
        "Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in bare_client.get("/login").headers


def _app_behind(ui_ctx, tmp_path, proxies: int):
    settings = make_settings(tmp_path, ui_ctx.db.url, trusted_proxies=proxies)
    return create_app(AppContext(settings=settings, db=ui_ctx.db, vault=ui_ctx.vault), TESTING=True)


PROXIED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "tienda.co"}


def test_a_trusted_proxy_says_https_and_who_the_client_is(ui_ctx, tmp_path):
    app = _app_behind(ui_ctx, tmp_path, 1)

    @app.get("/_seen")
    def _seen():
        from flask import request

        return {"secure": request.is_secure, "client": request.remote_addr, "host": request.host}

    response = app.test_client().get("/_seen", headers=PROXIED)
    assert response.json == {"secure": True, "client": "203.0.113.9", "host": "tienda.co"}
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_without_trusted_proxies_forwarded_headers_are_ignored(ui_ctx, tmp_path):
    app = _app_behind(ui_ctx, tmp_path, 0)

    @app.get("/_seen")
    def _seen():
        from flask import request

        return {"secure": request.is_secure, "client": request.remote_addr}

    response = app.test_client().get("/_seen", headers=PROXIED)
    assert response.json == {"secure": False, "client": "127.0.0.1"}
    assert "Strict-Transport-Security" not in response.headers


def test_safe_next():
    assert security.safe_next("/orders?state=error", "/") == "/orders?state=error"
    for bad in (None, "", "orders", "//evil.example", "https://evil.example/x", "/\\evil", "javascript:alert(1)"):
        assert security.safe_next(bad, "/") == "/"


def test_marketplace_webhooks_are_not_wrapped_by_the_ui_checks(app):
    """Webhooks come from the marketplaces' servers: no session, no CSRF token (they sign instead)."""
    response = client_for(app).post("/webhooks/mercadolibre/999999", csrf=False, data=b"{}",
                                    content_type="application/json")
    assert response.status_code not in (302, 400, 401) or "csrf" not in response.get_data(as_text=True)
    assert response.status_code == 404 and response.is_json


def test_an_unexpected_error_gets_a_calm_page(bare_client, app, monkeypatch):
    import admin_ui.blueprints.home as home

    def boom(*_args, **_kwargs):
        raise RuntimeError("kaput")

    monkeypatch.setattr(home.services, "count_orders_by_state", boom)
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    response = bare_client.get("/")
    assert response.status_code == 500
    assert "Algo salió mal de nuestro lado" in response.get_data(as_text=True) and "kaput" not in \
        response.get_data(as_text=True)
