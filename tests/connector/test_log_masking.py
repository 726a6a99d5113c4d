"""No secret, token or code reaches a log line: the demo flows run over real HTTP with every logger at
DEBUG, and every captured line is searched for every secret the flows used."""

from __future__ import annotations

import json
import logging
import re
import threading
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from werkzeug.serving import make_server

from admin_ui import create_app
from channels.base import hmac_sha256_base64
from connector.demo_channels import connect_sandbox_channels
from connector.sync import sync_once
from connector.users import create_user
from connector.webhooks import background_work, webhook_registration
from sandbox import server as sandbox_server
from tests.conftest import connect_seller

PASSWORD = "clave-de-prueba-que-no-se-loguea"


@pytest.fixture
def recorded_ml_secrets(sandbox):
    """Every authorization code and token the Mercado Libre sandbox hands out."""
    issued: list[str] = []
    state = sandbox.ml_state
    grant, authorize = state.grant, state.authorize

    def recording_grant(form):
        answer = grant(form)
        if answer:
            issued.extend([answer["access_token"], answer["refresh_token"]])
        return answer

    def recording_authorize(**kwargs):
        code = authorize(**kwargs)
        if code:
            issued.append(code)
        return code

    state.grant, state.authorize = recording_grant, recording_authorize
    return issued


@pytest.fixture
def served(ctx, sandbox):
    """The admin panel (with the webhook endpoint) on a real werkzeug server that logs every request."""
    app = create_app(ctx, API_BASE_URLS=sandbox.urls())
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_no_secret_reaches_any_log_line(ctx, sandbox, served, recorded_ml_secrets, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, the root's handlers see everything
    account = connect_seller(ctx, sandbox)
    extra = {c.kind: c.id for c in connect_sandbox_channels(ctx, account, sandbox, ("shopify", "woocommerce"))}
    email = "dueno@tienda.co"
    create_user(ctx, account, email, PASSWORD)

    with httpx.Client(base_url=served, timeout=30) as browser:
        # sign in
        page = browser.get("/login")
        assert browser.post("/login", data={"email": email, "password": PASSWORD,
                                            "csrf_token": _csrf(page.text)}).status_code == 302
        # OAuth round trip: the callback carries the code and the state in its query
        page = browser.get("/connections/channels/mercadolibre")
        authorize = browser.post("/connections/channels/mercadolibre/authorize", data={
            "client_id": sandbox_server.ML_CLIENT_ID, "client_secret": sandbox_server.ML_CLIENT_SECRET,
            "site_id": "MCO", "base_url": sandbox.ml_url, "csrf_token": _csrf(page.text)})
        assert authorize.status_code == 303
        url = authorize.headers["Location"]
        params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        consent = httpx.post(url.split("?")[0], data={**params, "decision": "allow"})
        callback = urlsplit(consent.headers["Location"])
        oauth_values = [v[0] for v in parse_qs(callback.query).values()]
        assert browser.get(f"{callback.path}?{callback.query}").status_code == 302

        # webhooks: Mercado Libre's secret travels in the URL; Shopify's signs the body
        with ctx.db.session() as session:
            from connector.models import ChannelConnection

            ml_id = next(c.id for c in session.query(ChannelConnection) if c.kind == "mercadolibre")
        ml = webhook_registration(ctx, ml_id, served)
        ml_secret = parse_qs(urlsplit(ml.url).query)["secret"][0]
        order_id = sandbox.ml_state.order_ids()[0]
        delivered = browser.post(ml.url.removeprefix(served), content=json.dumps(
            sandbox.ml_notifier.notification(order_id)).encode(), headers={"Content-Type": "application/json"})
        assert delivered.status_code == 200, delivered.text
        wrong = browser.post(ml.url.removeprefix(served).split("?")[0] + "?secret=" + ml_secret[::-1],
                             content=b"{}", headers={"Content-Type": "application/json"})
        assert wrong.status_code == 401
        shop = webhook_registration(ctx, extra["shopify"], served)
        body = json.dumps(sandbox.shopify_state.order(int(sandbox.shopify_state.order_ids()[0]))).encode()
        browser.post(shop.url.removeprefix(served), content=body, headers={
            "X-Shopify-Topic": "orders/updated", "X-Shopify-Webhook-Id": "w-1",
            "X-Shopify-Hmac-Sha256": hmac_sha256_base64(sandbox_server.SHOPIFY_WEBHOOK_SECRET, body)})
        woo = webhook_registration(ctx, extra["woocommerce"], served)
    assert background_work.wait_idle(timeout=60)

    sync_once(ctx, account)

    secrets = {
        "alegra token": sandbox_server.ALEGRA_TOKEN,
        "ml client secret": sandbox_server.ML_CLIENT_SECRET,
        "ml first refresh token": sandbox_server.ML_REFRESH_TOKEN,
        "shopify access token": sandbox_server.SHOPIFY_ACCESS_TOKEN,
        "shopify webhook secret": sandbox_server.SHOPIFY_WEBHOOK_SECRET,
        "woo consumer key": sandbox_server.WOO_CONSUMER_KEY,
        "woo consumer secret": sandbox_server.WOO_CONSUMER_SECRET,
        "woo webhook secret": woo.secret,
        "ml webhook secret": ml_secret,
        "ml webhook secret (a wrong one)": ml_secret[::-1],
        "panel password": PASSWORD,
        "fernet key": ctx.settings.secret_keys.get_secret_value(),
        **{f"oauth callback value {i}": v for i, v in enumerate(oauth_values)},
        **{f"ml issued {i}": v for i, v in enumerate(recorded_ml_secrets)},
    }
    assert len(recorded_ml_secrets) >= 4 and len(oauth_values) == 2
    lines = []
    for record in caplog.records:
        lines.append(record.getMessage())
        if record.exc_info:
            lines.append(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            lines.append(record.exc_text)
    access_log = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("/webhooks/mercadolibre/" in line for line in access_log)  # the access log was captured
    assert any("/callback" in line for line in lines)
    leaks = {name: line for name, value in secrets.items() for line in lines if value and value in line}
    assert not leaks, leaks


@pytest.mark.parametrize(("line", "hidden"), [
    ('"POST /webhooks/mercadolibre/3?secret=abcDEF123456 HTTP/1.1" 200 -', "abcDEF123456"),
    ("GET /callback?code=TG-123-456&state=xyz789abc HTTP/1.1", "TG-123-456"),
    ("GET /callback?code=TG-123-456&state=xyz789abc HTTP/1.1", "xyz789abc"),
    ("HTTP Request: GET https://t.co/wp-json/wc/v3/orders?consumer_key=ck_1234567&consumer_secret=cs_7654321",
     "cs_7654321"),
    ("{'grant_type': 'refresh_token', 'refresh_token': 'TG-9876543210'}", "TG-9876543210"),
    ('{"access_token": "APP_USR-1-2-3", "token_type": "Bearer"}', "APP_USR-1-2-3"),
    ("Authorization: Bearer APP_USR-abc.def", "APP_USR-abc.def"),
    ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
])
def test_sensitive_values_are_masked_by_name(line, hidden):
    from connector.log_masking import mask_text

    masked = mask_text(line)
    assert hidden not in masked and "***" in masked


def test_ordinary_lines_are_left_alone():
    from connector.log_masking import mask_text

    line = "GET /orders?page=2&state=error HTTP/1.1 200"  # a filter named state on a listing is not OAuth's
    assert mask_text("sync: pulled 40, processed {'invoiced': 35}, error queue 5") == \
        "sync: pulled 40, processed {'invoiced': 35}, error queue 5"
    assert "page=2" in mask_text(line)
