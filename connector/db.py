"""Engine, sessions and migrations."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from connector.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            # WAL lets readers work while a writer commits; busy_timeout makes concurrent writers wait.
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (pysqlite's breaks SAVEPOINT)
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection):
            # Take the write lock up front: a deferred transaction that reads and then writes fails at
            # once ("database is locked") when another process wrote in between; IMMEDIATE waits instead.
            # The pipeline never keeps a transaction open across an HTTP call, so waits stay short.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(url, pool_size=5, max_overflow=5)
    _ping_when_idle(engine)
    return engine


# A pooled connection that was used a moment ago is alive; one that sat idle may have been cut (a
# database restart, an idle timeout, a proxy) and is pinged before use.
IDLE_PING_SECONDS = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's ``pool_pre_ping`` with an idle threshold, which it does not offer: its ping costs
    a round trip and ~0.1 ms of CPU on every checkout — three or four on every invoice — while a
    connection checked in milliseconds ago is known to be alive. A failed ping is a disconnect: the
    pool replaces the connection and checks out again (SQLAlchemy's documented ``checkout`` recipe)."""

    @event.listens_for(engine, "checkin")
    def _note_checkin(_dbapi_connection, record):
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy):
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at > IDLE_PING_SECONDS:
            try:
                alive = engine.dialect.do_ping(dbapi_connection)
            except Exception as exc:  # noqa: BLE001 - whatever the driver raises, the connection is gone
                raise DisconnectionError(f"ping failed: {exc}") from exc
            if not alive:
                raise DisconnectionError("ping failed")


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str):
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self.sessionmaker()

    @contextmanager
    def transaction(self):
        """A session that commits on success and rolls back on error."""
        with self.sessionmaker() as session, session.begin():
            yield session

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection_url"] = self.url
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self.engine.dispose()


_databases: dict[str, Database] = {}


def database_for(url: str) -> Database:
    """One Database (engine + pool) per URL per process."""
    if url not in _databases:
        _databases[url] = Database(url)
    return _databases[url]


def forget_connections_after_fork() -> None:
    """In a freshly forked worker: drop the parent's pooled connections without closing them
    (closing would also cut the parent's), so this process opens its own."""
    for database in _databases.values():
        database.engine.dispose(close=False)


def get_database(settings: Settings) -> Database:
    return database_for(settings.effective_database_url)
