"""Engine, sessions and migrations."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
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
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


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
