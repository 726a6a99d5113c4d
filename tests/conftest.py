"""Shared fixtures: a database per test (SQLite and PostgreSQL), the loopback sandbox, a connected seller."""

from __future__ import annotations

import os
import uuid

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from connector import services
from connector.context import AppContext
from connector.settings import Settings
from sandbox import server as sandbox_server
from sandbox.knobs import Knobs

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session")
def postgres_engine():
    engine = create_engine(PG_URL)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"PostgreSQL is needed at {PG_URL} (start it: see README): {exc}")
    yield engine
    engine.dispose()


def _postgres_schema_url(engine) -> tuple[str, str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    return schema, f"{PG_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """Each test that takes this runs twice: on a SQLite file and on a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'connector.sqlite3'}"
        return
    engine = request.getfixturevalue("postgres_engine")
    schema, url = _postgres_schema_url(engine)
    yield url
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'connector.sqlite3'}"


@pytest.fixture
def postgres_url(postgres_engine):
    schema, url = _postgres_schema_url(postgres_engine)
    yield url
    with postgres_engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))


def make_settings(tmp_path, database_url: str, **overrides) -> Settings:
    values = dict(data_dir=tmp_path, database_url=database_url, redis_url=None, mode="sandbox",
                  secret_keys=Fernet.generate_key().decode(), reconcile_delay_seconds=0, catalog_min_age_seconds=0,
                  http_timeout_seconds=5.0, erp_rate_limit_per_minute=60000, circuit_first_pause_seconds=0.5)
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path, database_url):
    return make_settings(tmp_path, database_url)


@pytest.fixture
def ctx(settings):
    context = AppContext.from_settings(settings)
    context.db.migrate()
    yield context
    context.close()
    context.db.dispose()


@pytest.fixture
def sandbox():
    box = sandbox_server.Sandbox(order_count=40, seed=5, alegra_knobs=Knobs(rate_limit_per_minute=0),
                                 siigo_knobs=Knobs(rate_limit_per_minute=0)).start()
    yield box
    box.stop()


DEMO_RULES = ["enabled=true", "order_states=pending,shipped,completed", "invoice_status=open", "stamp=true",
              "match_by=barcode", "apply_taxes=true", "default_email=facturas@tienda.co"]


def connect_seller(ctx: AppContext, box, rules: list[str] | None = None, *, erp: str = "alegra") -> int:
    """A seller with the ERP ``erp`` and Mercado Libre connected to the sandbox and the demo's rules."""
    account = services.create_account(ctx, f"Tienda {uuid.uuid4().hex[:6]}")
    erp_box = box.erp(erp)
    services.connect_erp(ctx, account.id, erp, erp_box.credentials, base_url=erp_box.url)
    services.connect_channel(ctx, account.id, "mercadolibre", {
        "client_id": sandbox_server.ML_CLIENT_ID, "client_secret": sandbox_server.ML_CLIENT_SECRET,
        "refresh_token": sandbox_server.ML_REFRESH_TOKEN}, base_url=box.ml_url)
    shipping = next(i for i in services.search_catalog(ctx, account.id, "ENVIO") if i.reference == "ENVIO")
    services.update_settings(ctx, account.id, (rules if rules is not None else DEMO_RULES)
                             + [f"shipping_item_id={shipping.erp_id}"])
    return account.id


@pytest.fixture
def seller(ctx, sandbox):
    return connect_seller(ctx, sandbox)


@pytest.fixture
def cli_env(ctx, monkeypatch):
    """The environment under which ``connector.cli.main`` works on this test's database. The process
    caches its settings (``get_settings``), so the cache is emptied before and after."""
    from connector.settings import get_settings

    for name, value in (("CONNECTOR_DATA_DIR", str(ctx.settings.data_dir)), ("DATABASE_URL", ctx.settings.database_url),
                        ("CONNECTOR_MODE", "sandbox"),
                        ("CONNECTOR_SECRET_KEYS", ctx.settings.secret_keys.get_secret_value())):
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
