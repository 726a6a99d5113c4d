"""Migrations on both databases: 0007 keeps one account per store when duplicates already exist."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from connector.db import MIGRATIONS_DIR, Database


def _upgrade(db: Database, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def test_0007_keeps_the_oldest_connection_of_a_store_and_disables_the_later_ones(database_url):
    db = Database(database_url)
    try:
        _upgrade(db, "0006")
        with db.engine.begin() as connection:
            for account_id in (1, 2, 3):
                connection.execute(text("INSERT INTO accounts (id, name, created_at) VALUES (:id, :name, "
                                        "CURRENT_TIMESTAMP)"), {"id": account_id, "name": f"Tienda {account_id}"})
            for row_id, account_id, kind, remote in ((1, 1, "shopify", "548380009"), (2, 2, "shopify", "548380009"),
                                                     (3, 3, "shopify", "548380009"), (4, 2, "woocommerce", "t.co")):
                connection.execute(text(
                    "INSERT INTO channel_connections (id, account_id, kind, name, credentials_encrypted, "
                    "credential_hint, remote_account_id, settings_overrides, enabled, created_at) VALUES "
                    "(:id, :account, :kind, 'x', '', '', :remote, '{}', :on, CURRENT_TIMESTAMP)"),
                    {"id": row_id, "account": account_id, "kind": kind, "remote": remote, "on": True})
        _upgrade(db, "head")
        with db.engine.connect() as connection:
            rows = connection.execute(text("SELECT id, remote_account_id, enabled FROM channel_connections "
                                           "ORDER BY id")).fetchall()
        assert [(r[0], r[1], bool(r[2])) for r in rows] == [
            (1, "548380009", True), (2, None, False), (3, None, False), (4, "t.co", True)]
    finally:
        db.dispose()


def test_0007_goes_down_and_up_again(database_url):
    db = Database(database_url)
    try:
        _upgrade(db, "head")
        _upgrade(db, "0006", down=True)
        _upgrade(db, "head")
    finally:
        db.dispose()


def test_0010_fills_the_search_text_of_existing_orders_and_goes_down_and_up(database_url):
    db = Database(database_url)
    try:
        _upgrade(db, "0007")
        canonical = ('{"buyer": {"name": "Ana Muñoz", "identification": {"number": "1020"}}, "pack_id": null, '
                     '"lines": [{"sku": "VELA-01", "title": "Vela Aromática"}]}')
        with db.engine.begin() as connection:
            connection.execute(text("INSERT INTO accounts (id, name, created_at) VALUES (1, 'T', CURRENT_TIMESTAMP)"))
            connection.execute(text(
                "INSERT INTO channel_connections (id, account_id, kind, name, credentials_encrypted, credential_hint, "
                "settings_overrides, enabled, created_at) VALUES (1, 1, 'x', 'x', '', '', '{}', :on, CURRENT_TIMESTAMP)"),
                {"on": True})
            for row_id, stored in ((1, canonical), (2, None)):
                connection.execute(text(
                    "INSERT INTO orders (id, channel_connection_id, account_id, external_id, state, state_reason, "
                    "is_fulfillment, shipping_cost, raw, canonical, attempts, version, created_at, updated_at) VALUES "
                    "(:id, 1, 1, :ext, 'received', '', :off, 0, '{}', :canonical, 0, 1, CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP)"), {"id": row_id, "ext": f"ORD-{row_id}", "off": False, "canonical": stored})
        _upgrade(db, "0010")
        with db.engine.connect() as connection:
            rows = dict(connection.execute(text("SELECT id, search_text FROM orders ORDER BY id")).fetchall())
        assert rows == {1: "ord-1 ana munoz 1020 vela-01 vela aromatica", 2: "ord-2"}
        _upgrade(db, "0007", down=True)
        _upgrade(db, "head")
    finally:
        db.dispose()
