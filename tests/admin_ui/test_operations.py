"""/metrics (Prometheus text, counts only, not for the public) and /healthz (database and Redis)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from admin_ui import create_app
from connector import services
from connector.context import AppContext
from connector.metrics import http_calls
from tests.conftest import make_settings

REMOTE = {"REMOTE_ADDR": "203.0.113.9"}


@pytest.fixture(autouse=True)
def _http_counts_stay_in_this_process():
    """An app with REDIS_URL points the process's HTTP call counts at Redis: undo it after each test."""
    yield
    http_calls.share_through(None)


def _families(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {family.name: family for family in text_string_to_metric_families(response.get_data(as_text=True))}


def test_metrics_name_every_series_and_count_the_work(app, ui_ctx, synced_seller):
    families = _families(app.test_client().get("/metrics"))
    assert {"connector_database_up", "connector_orders", "connector_oldest_waiting_order_age_seconds",
            "connector_queue_depth", "connector_invoices", "connector_http_requests",
            "connector_http_rate_limited", "connector_erp_rate_windows",
            "connector_erp_rate_window_max_used_ratio"} <= set(families)
    assert families["connector_database_up"].samples[0].value == 1
    by_state = {s.labels["state"]: s.value for s in families["connector_orders"].samples}
    counts = services.count_orders_by_state(ui_ctx, synced_seller)
    assert by_state["invoiced"] >= counts.get("invoiced", 0) > 0  # every seller of the module is counted
    assert set(by_state) >= {"received", "ready", "waiting_erp", "invoicing", "invoiced", "error", "failed"}
    assert families["connector_queue_depth"].samples[0].value == 0  # nothing dispatched without Celery
    assert families["connector_oldest_waiting_order_age_seconds"].samples[0].value >= 0
    invoices = {s.labels["recovered"]: s.value for s in families["connector_invoices"].samples
                if s.name == "connector_invoices_total"}
    assert invoices["false"] >= counts["invoiced"]
    calls = {(s.labels["api"], s.labels["outcome"]): s.value for s in families["connector_http_requests"].samples
             if s.name == "connector_http_requests_total"}
    assert calls[("Alegra", "ok")] > 0 and calls[("Mercado Libre", "ok")] > 0


def test_metrics_carry_no_tenant_data(app, ui_ctx, synced_seller):
    body = app.test_client().get("/metrics").get_data(as_text=True)
    orders = services.list_orders(ui_ctx, synced_seller, limit=5)
    with ui_ctx.db.session() as session:
        account = services.find_account(session, synced_seller)
    for private in [account.name, *(o.buyer_name for o in orders if o.buyer_name), *(o.external_id for o in orders)]:
        assert private not in body


def test_metrics_are_for_loopback_only_without_a_token(app):
    client = app.test_client()
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    refused = client.get("/metrics", environ_base=REMOTE)
    assert refused.status_code == 403 and "connector_" not in refused.get_data(as_text=True)


def _app(ui_ctx, tmp_path, **overrides):
    settings = make_settings(tmp_path, overrides.pop("database_url", ui_ctx.db.url), **overrides)
    return create_app(AppContext.from_settings(settings), TESTING=True)


def test_behind_a_trusted_proxy_the_real_client_is_not_loopback(ui_ctx, tmp_path):
    client = _app(ui_ctx, tmp_path, trusted_proxies=1).test_client()
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200


def test_with_a_token_only_its_bearer_gets_the_metrics(ui_ctx, tmp_path):
    client = _app(ui_ctx, tmp_path, metrics_token="tok-de-metricas-123").test_client()
    assert client.get("/metrics").status_code == 401  # even from loopback
    wrong = client.get("/metrics", headers={"Authorization": "Bearer otro"}, environ_base=REMOTE)
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    right = client.get("/metrics", headers={"Authorization": "Bearer tok-de-metricas-123"}, environ_base=REMOTE)
    assert "connector_orders" in _families(right)


def test_healthz_ok(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.json["database"] == "ok" and response.json["status"] == "ok"
    assert "redis" not in response.json  # not configured: not checked


@pytest.mark.parametrize("broken", [{"database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none"},
                                    {"redis_url": "redis://127.0.0.1:1/0"}])
def test_healthz_503_when_the_database_or_redis_is_down(ui_ctx, tmp_path, broken):
    client = _app(ui_ctx, tmp_path, **broken).test_client()
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json["status"] == "error"
    part = "database" if "database_url" in broken else "redis"
    assert response.json[part] == "error"
    if part == "redis":
        assert response.json["database"] == "ok"
    metrics = client.get("/metrics")  # the scrape still answers, with the database reported down
    assert metrics.status_code == 200
    up = _families(metrics)["connector_database_up"].samples[0].value
    assert up == (0 if part == "database" else 1)
