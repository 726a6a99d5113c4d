"""Pooled PostgreSQL connections are pinged before use only when they sat idle (connector.db): one cut
while idle — a database restart, an idle timeout — is replaced without the caller seeing an error."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from connector import db
from tests.conftest import PG_URL

pytestmark = pytest.mark.postgres


def _backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar()


def _cut(postgres_engine, pid: int) -> None:
    with postgres_engine.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        connection.commit()


def test_a_connection_cut_while_idle_is_replaced_before_use(postgres_engine, monkeypatch):
    engine = db.make_engine(PG_URL)
    try:
        pid = _backend_pid(engine)
        _cut(postgres_engine, pid)
        monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)  # as if it had sat idle longer than the threshold
        assert _backend_pid(engine) != pid  # no error: pinged, found dead, replaced
    finally:
        engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged_and_a_cut_fails_one_use_only(postgres_engine, monkeypatch):
    engine = db.make_engine(PG_URL)
    pings = []
    original = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda connection: pings.append(1) or original(connection))
    try:
        pid = _backend_pid(engine)  # a new connection: pinged once
        _backend_pid(engine)
        assert len(pings) == 1  # checked in a moment ago: not pinged again
        _cut(postgres_engine, pid)
        with pytest.raises(OperationalError):
            _backend_pid(engine)  # the cut is seen by the statement (what a restart mid-work does anyway)
        assert _backend_pid(engine) != pid  # and the pool has let the dead connection go
    finally:
        engine.dispose()
