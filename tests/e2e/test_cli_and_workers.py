"""The CLI as a user runs it (separate processes, environment variables), and the Celery path on the
real local Redis with PostgreSQL."""

import json
import os
import subprocess
import sys
import time

import pytest
import redis
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, select, text

from connector.models import Order
from connector.states import OrderState
from sandbox import server as sandbox_server
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.e2e


@pytest.fixture
def cli(tmp_path, sqlite_url):
    env = dict(os.environ)
    env.update({"DATABASE_URL": sqlite_url, "CONNECTOR_MODE": "sandbox", "CONNECTOR_DATA_DIR": str(tmp_path),
                "CONNECTOR_SECRET_KEYS": Fernet.generate_key().decode(), "CONNECTOR_RECONCILE_DELAY": "0"})
    env.pop("REDIS_URL", None)

    def run(*args, ok=True):
        result = subprocess.run([sys.executable, "-m", "connector", *args], env=env, capture_output=True, text=True,
                                timeout=120)
        if ok:
            assert result.returncode == 0, result.stderr + result.stdout
        assert "Traceback" not in result.stderr, result.stderr
        return result

    run.env = env
    return run


def test_the_whole_flow_from_the_command_line(cli, sandbox):
    cli("account", "create", "Tienda Cafetera")
    bad = cli("erp", "connect", "alegra", "--email", sandbox_server.ALEGRA_EMAIL, "--token", "malo",
              "--base-url", sandbox.alegra_url, ok=False)
    assert bad.returncode == 2 and "error: Alegra rechazó las credenciales" in bad.stderr and "malo" not in bad.stderr
    cli("erp", "connect", "alegra", "--email", sandbox_server.ALEGRA_EMAIL, "--token", sandbox_server.ALEGRA_TOKEN,
        "--base-url", sandbox.alegra_url)
    out = cli("channel", "connect", "mercadolibre", "--client-id", sandbox_server.ML_CLIENT_ID, "--client-secret",
              sandbox_server.ML_CLIENT_SECRET, "--refresh-token", sandbox_server.ML_REFRESH_TOKEN,
              "--base-url", sandbox.ml_url).stdout
    assert sandbox_server.ML_CLIENT_SECRET not in out and "••••" in out

    choices = json.loads(cli("choices", "--json").stdout)
    assert {w["name"] for w in choices["warehouses"]} >= {"Bodega principal"}
    shipping = json.loads(cli("catalog", "search", "ENVIO", "--json").stdout)[0]["id"]
    refused = cli("rules", "set", "warehouse_id=999", ok=False)
    assert refused.returncode == 2 and "Bodega principal" in refused.stderr
    rules = json.loads(cli("rules", "set", "enabled=true", "order_states=pending,shipped,completed", "invoice_status=open",
                           f"shipping_item_id={shipping}", "default_email=f@tienda.co", "--json").stdout)
    assert rules["enabled"] is True and rules["order_states"] == ["pending", "shipped", "completed"]
    assert json.loads(cli("rules", "show", "--json").stdout) == rules

    summary = json.loads(cli("sync", "--once", "--json").stdout)
    assert summary["pulled"] == 40 and summary["processed"]["invoiced"] > 0
    errors = json.loads(cli("errors", "--json").stdout)
    assert errors and all(e["reason"] for e in errors)
    mismatches = json.loads(cli("mismatches", "--json").stdout)
    vela = next(m for m in mismatches if m["sku"].startswith("VELA"))
    item = json.loads(cli("catalog", "search", "VEL-SOY-200", "--json").stdout)[0]["id"]
    mapped = cli("map", vela["sku"], item)
    assert "factura" in mapped.stdout
    errors_after = json.loads(cli("errors", "--json").stdout)
    assert len(errors_after) < len(errors)

    order_id = json.loads(cli("orders", "list", "--state", "invoiced", "--json").stdout)[0]["id"]
    shown = cli("orders", "show", str(order_id)).stdout
    assert "factura" in shown and "invoicing" in shown  # the activity trail
    again = json.loads(cli("sync", "--once", "--json").stdout)
    assert again["processed"].get("invoiced", 0) == 0 or len(sandbox.alegra_state.invoices) == len(
        json.loads(cli("orders", "list", "--state", "invoiced", "--limit", "1000", "--json").stdout))


def test_cli_errors_are_one_clear_line(cli):
    result = cli("rules", "show", ok=False)
    assert result.returncode == 2 and result.stderr.startswith("error: No hay cuentas")
    result = cli("invoice", "abc", ok=False)
    assert result.returncode == 2 and "invalid int value" in result.stderr


@pytest.mark.redis
@pytest.mark.postgres
def test_celery_workers_on_redis_invoice_the_backlog(tmp_path, postgres_url, sandbox):
    """The production shape: PostgreSQL + Redis + a Celery worker process; beat's tasks sent by hand."""
    from connector.context import AppContext
    from tests.conftest import connect_seller, make_settings

    broker = redis.Redis.from_url(REDIS_URL)
    broker.flushdb()
    settings = make_settings(tmp_path, postgres_url, redis_url=REDIS_URL)
    ctx = AppContext.from_settings(settings)
    ctx.db.migrate()
    connect_seller(ctx, sandbox)
    env = dict(os.environ)
    env.update({"DATABASE_URL": postgres_url, "REDIS_URL": REDIS_URL, "CONNECTOR_MODE": "sandbox",
                "CONNECTOR_SECRET_KEYS": settings.secret_keys.get_secret_value(),
                "CONNECTOR_DATA_DIR": str(tmp_path), "CONNECTOR_RECONCILE_DELAY": "0"})
    worker = subprocess.Popen([sys.executable, "-m", "connector", "worker", "--concurrency", "2"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        from connector.tasks import celery_app, sync_all_connections_task

        celery_app.conf.broker_url = REDIS_URL
        sync_all_connections_task.delay()
        deadline = time.monotonic() + 90
        engine = create_engine(postgres_url)
        invoiced = 0
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                invoiced = connection.execute(text("SELECT count(*) FROM orders WHERE state = 'invoiced'")).scalar()
                pending = connection.execute(text(
                    "SELECT count(*) FROM orders WHERE state IN ('received', 'ready', 'invoicing')")).scalar()
            if invoiced and not pending:
                break
            time.sleep(0.5)
        engine.dispose()
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0]
    assert invoiced > 0, output[-3000:]
    assert invoiced == len(sandbox.alegra_state.invoices)
    with ctx.db.session() as session:
        assert session.scalars(select(Order).where(Order.state == OrderState.INVOICING.value)).all() == []
    ctx.close()
