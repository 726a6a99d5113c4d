"""The stock services the CLI and the panel share: a channel's stock settings, its listings and what
the last comparison found, and diff/push over one channel or every channel of an account."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from connector.context import AppContext
from connector.errors import ConfigurationError
from connector.models import ChannelConnection, StockListing
from connector.services import find_account, find_channel_connection
from connector.stock import StockReport, run_stock_sync
from connector.stock_settings import StockSettings, parse_stock_assignments, stock_settings_of


@dataclass(frozen=True)
class StockPage:
    """Everything the panel's stock page of one channel shows."""

    connection_id: int
    channel_name: str
    kind: str
    settings: StockSettings
    settings_version: int
    last_push: dict[str, Any] | None
    last_diff: dict[str, Any] | None
    listings: list[StockListing]
    deferred: dict[str, Any] | None = None  # a run waiting for invoicing, and why


def channel_ids(ctx: AppContext, account_ref, channel_ref) -> list[int]:
    """The channel connection named by ``channel_ref``, or every enabled one of the account."""
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        if channel_ref:
            return [find_channel_connection(session, account, channel_ref).id]
        return [c.id for c in session.scalars(select(ChannelConnection).where(
            ChannelConnection.account_id == account.id, ChannelConnection.enabled.is_(True))
            .order_by(ChannelConnection.id))]


def stock_run(ctx: AppContext, account_ref, channel_ref, *, dry_run: bool, trigger: str = "cli") -> list[StockReport]:
    """Compare (``dry_run``: only show what would change) or push, one channel or all of them. Pushing
    a channel whose stock sync is off only compares it, and says so. Invoicing is not waited for: a
    person asked."""
    ids = channel_ids(ctx, account_ref, channel_ref)
    if not ids:
        raise ConfigurationError("La cuenta no tiene canales conectados.")
    return [run_stock_sync(ctx, connection_id, dry_run=dry_run, trigger=trigger, yield_to_invoicing=False)
            for connection_id in ids]


def update_stock_settings(ctx: AppContext, account_ref, channel_ref, assignments: list[str] | None = None, *,
                          values: dict[str, Any] | None = None, expected_version: int | None = None) -> StockSettings:
    """Change a channel's stock settings (``key=value`` strings, or a form's ``values``); refused when
    someone saved a newer version meanwhile (``expected_version``)."""
    with ctx.db.transaction() as session:
        connection = find_channel_connection(session, find_account(session, account_ref), channel_ref)
        if expected_version is not None and connection.settings_version != expected_version:
            raise ConfigurationError("Alguien cambió esta configuración mientras la editabas; vuelve a abrirla "
                                     "y guarda de nuevo.")
        if values is not None:
            updated = parse_stock_assignments({}, [f"{k}={'' if v is None else v}" for k, v in values.items()])
        else:
            updated = parse_stock_assignments(connection.stock_settings, assignments or [])
        connection.stock_settings = updated
        connection.settings_version += 1
        return StockSettings.model_validate(updated)


def stock_page(ctx: AppContext, account_ref, channel_ref) -> StockPage:
    with ctx.db.session() as session:
        connection = find_channel_connection(session, find_account(session, account_ref), channel_ref)
        listings = list(session.scalars(select(StockListing).where(
            StockListing.channel_connection_id == connection.id).order_by(StockListing.title)))
        status = connection.stock_status or {}
        try:
            settings = stock_settings_of(connection.stock_settings)
        except ConfigurationError:
            settings = StockSettings()
        session.expunge_all()
        return StockPage(connection.id, connection.name, connection.kind, settings, connection.settings_version,
                         status.get("last_push"), status.get("last_diff"), listings, status.get("deferred"))
