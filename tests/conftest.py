"""Shared fixtures: a database per test (SQLite and PostgreSQL), the loopback sandbox, a connected seller."""

from __future__ import annotations

import os
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from connector import services
from connector.context import AppContext
from connector.db import Database
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


def each_on_one_database(values) -> list:
    """Parameters ``(value, database_url)`` (``indirect=["database_url"]``) for a heavy test that runs
    per value: each value runs on one database in ``make test`` — SQLite and PostgreSQL in turn, so both
    stay covered — and on the other one in ``make test-slow`` (marked ``slow``)."""
    databases = ("sqlite", "postgres")
    params = []
    for index, value in enumerate(values):
        for offset, database in enumerate(databases):
            marks = [pytest.mark.postgres] if database == "postgres" else []
            if (index + offset) % 2:
                marks.append(pytest.mark.slow)
            params.append(pytest.param(value, database, marks=marks, id=f"{database}-{value}"))
    return params


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
    # The backoff between retries of a failed API call at 2 % of the real one: the retries and their
    # order are the same, without sleeping ~3 s per read the sandbox answers 503 (maintenance, faults).
    values = dict(data_dir=tmp_path, database_url=database_url, redis_url=None, mode="sandbox",
                  secret_keys=Fernet.generate_key().decode(), reconcile_delay_seconds=0, catalog_min_age_seconds=0,
                  http_timeout_seconds=5.0, erp_rate_limit_per_minute=60000, circuit_first_pause_seconds=0.5,
                  http_backoff_scale=0.02)
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path, database_url):
    return make_settings(tmp_path, database_url)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A SQLite database migrated to the newest schema once per test process. A test's SQLite ``ctx``
    starts from a copy of it (every migration from an empty database costs ~0.3 s; they still run from
    scratch here, and one by one in tests/connector/test_migrations.py)."""
    path = tmp_path_factory.mktemp("migrated") / "connector.sqlite3"
    database = Database(f"sqlite:///{path}")
    database.migrate()
    database.dispose()
    return path


def copy_sqlite(source: Path, database_url: str) -> None:
    """Copy a SQLite database to the file of ``database_url`` (SQLite's backup: whole, WAL included)."""
    target = database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(source)) as original, closing(sqlite3.connect(target)) as copy:
        original.backup(copy)


@pytest.fixture
def ctx(settings, request):
    url = settings.database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        copy_sqlite(request.getfixturevalue("migrated_sqlite"), url)
    context = AppContext.from_settings(settings)
    context.db.migrate()  # on a copy, a check that it is at the newest migration
    yield context
    context.close()
    context.db.dispose()


@pytest.fixture
def sandbox():
    box = sandbox_server.Sandbox(order_count=40, seed=5, alegra_knobs=Knobs(rate_limit_per_minute=0),
                                 siigo_knobs=Knobs(rate_limit_per_minute=0)).start()
    yield box
    box.stop()


@pytest.fixture
def quiet_box():
    """A sandbox whose stores have no sales yet (the test makes the ones it talks about), no rate limit."""
    box = sandbox_server.Sandbox(order_count=0, alegra_knobs=Knobs(rate_limit_per_minute=0)).start()
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


@pytest.fixture
def run_cli(ctx, monkeypatch, capsys):
    """``run_cli(*argv, stdin=None)`` -> (exit code, stdout, stderr): ``connector ...`` run in this process
    on the test's context (``stdin`` given as text when the command reads it). A traceback in either
    stream fails the test: the CLI says what went wrong in one line."""
    import io

    from connector import cli as cli_module

    monkeypatch.setattr(AppContext, "from_settings", classmethod(lambda cls, settings=None, **kw: ctx))

    def run(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = cli_module.main(list(argv))
        out, err = capsys.readouterr()
        assert "Traceback" not in err and "Traceback" not in out, err
        return code, out, err

    return run
