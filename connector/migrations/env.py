"""Alembic environment: runs on the connection ``Database.migrate`` hands over (or DATABASE_URL)."""

from alembic import context
from sqlalchemy import create_engine

from connector.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    from connector.settings import get_settings

    url = config.attributes.get("connection_url") or get_settings().effective_database_url
    engine = create_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
