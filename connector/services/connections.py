"""Connecting an ERP and the channels: credentials checked against the remote API before they are stored
encrypted, one store per account, and the ERP's webhook mirror switched on and off."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from channels.registry import channel_class
from connector import mirror
from connector.context import AppContext
from connector.crypto import mask
from connector.errors import ConfigurationError, ConnectorError
from connector.fiscal import country_of_credentials
from connector.mirror_contacts import restart_import
from connector.models import ChannelConnection, ERPConnection, ERPContact
from connector.rules import InvoicingSettings
from connector.services.accounts import find_account, get_erp_connection
from erp.registry import erp_class
from mapping.catalog import fetch_catalog, replace_catalog

log = logging.getLogger(__name__)


def _require_fields(fields, credentials: dict[str, Any], what: str) -> dict[str, Any]:
    cleaned = {k: (v.strip() if isinstance(v, str) else v) for k, v in credentials.items() if v not in (None, "")}
    missing = [f.label for f in fields if f.required and not cleaned.get(f.name)]
    if missing:
        raise ConfigurationError(f"Faltan datos para conectar {what}: {', '.join(missing)}.")
    return cleaned


def _hint(fields, credentials: dict[str, Any]) -> str:
    shown = []
    for f in fields:
        value = credentials.get(f.name)
        if value:
            shown.append(f"{f.name}={mask(str(value)) if f.secret else value}")
    return ", ".join(shown)[:200]


def connect_erp(ctx: AppContext, account_ref: str | int | None, kind: str, credentials: dict[str, Any], *,
                name: str | None = None, base_url: str | None = None) -> ERPConnection:
    """Check the credentials against the ERP, then store them encrypted and load the catalog.

    Nothing is stored when the ERP refuses them. The same ERP company may serve several accounts
    (a seller with two brands), but it is rarely meant: the returned connection's ``warning`` (not
    stored) says so when another account already invoices into that company, for the CLI to print
    and the panel to flash; otherwise it is ``None``.
    """
    cls = erp_class(kind)
    credentials = _require_fields(cls.credential_fields, credentials, cls.display_name)
    adapter = ctx.new_erp_adapter(kind, credentials, base_url)
    try:
        info = adapter.validate_credentials()
        choices = _default_choices(adapter)
        if erp_class(kind).fiscal_profile(country_of_credentials(kind, credentials)).document_kinds:
            # The buyer decides the document (Peru's factura or boleta): no single numbering is preselected.
            choices.pop("number_template_id", None)
        catalog = fetch_catalog(adapter)
    finally:
        adapter.close()
    with ctx.db.transaction() as session:
        account = find_account(session, account_ref)
        connection = session.scalar(select(ERPConnection).where(ERPConnection.account_id == account.id))
        if connection is None:
            connection = ERPConnection(account_id=account.id, kind=kind, settings={}, credentials_encrypted="")
            session.add(connection)
        if connection.remote_account_id != info.remote_id:  # another ERP company: import its contacts
            restart_import(session, connection)
        connection.kind = kind
        connection.name = name or f"{cls.display_name} ({info.display_name})"
        connection.credentials_encrypted = ctx.vault.encrypt(credentials)
        connection.credential_hint = _hint(cls.credential_fields, credentials)
        connection.api_base_url = base_url or None
        connection.remote_account_id, connection.remote_name = info.remote_id, info.display_name
        connection.country = country_of_credentials(kind, credentials)  # picks its fiscal profile
        settings = InvoicingSettings.model_validate(connection.settings or {})
        for key, value in choices.items():
            if getattr(settings, key) is None:
                setattr(settings, key, value)
        connection.settings = settings.model_dump(mode="json")
        session.flush()
        replace_catalog(session, connection, catalog)
        connection.warning = _erp_company_warning(session, connection, cls.display_name)
    start_erp_mirror(ctx, connection.id)
    return connection


def start_erp_mirror(ctx: AppContext, erp_connection_id: int) -> dict[str, str]:
    """Subscribe the connection to the ERP's webhooks (the mirror): {event: state}. A failure leaves the
    subscriptions pending: the periodic check makes them (connecting never fails for it)."""
    try:
        return mirror.subscribe(ctx, erp_connection_id)
    except ConnectorError as exc:
        log.warning("ERP connection %s: webhooks not subscribed yet: %s", erp_connection_id, exc.detail or exc)
        return {}


def stop_erp_mirror(ctx: AppContext, account_ref=None) -> dict[str, str]:
    """Remove the connection's webhook subscriptions from the ERP (disconnecting the mirror): {event: state}.
    The catalog re-read by age takes over again."""
    with ctx.db.session() as session:
        erp_connection_id = get_erp_connection(session, find_account(session, account_ref)).id
    return mirror.unsubscribe(ctx, erp_connection_id)


def erp_mirror_status(ctx: AppContext, account_ref=None) -> dict[str, Any]:
    """What the panel and the CLI show of the mirror: each subscription's state, the contacts import."""
    with ctx.db.session() as session:
        erp = get_erp_connection(session, find_account(session, account_ref))
        contacts = session.scalar(select(func.count()).select_from(ERPContact).where(
            ERPContact.erp_connection_id == erp.id, ERPContact.erp_contact_id.is_not(None))) or 0
        importing = erp.contacts_import_start is not None
        erp_connection_id = erp.id
        changes = {event: change.value for change, event in getattr(erp_class(erp.kind), "mirror_events", {}).items()}
    return {"subscriptions": mirror.subscription_status(ctx, erp_connection_id),
            "changes": changes,  # the ERP's event name -> the neutral change it carries (erp.base.MirrorEvent)
            "healthy": mirror.webhooks_healthy(ctx, erp_connection_id),
            "public_url": bool((ctx.settings.public_url or "").strip()),
            "contacts": contacts, "contacts_importing": importing}


def _erp_company_warning(session: Session, connection: ERPConnection, display_name: str) -> str | None:
    """A warning when another account is connected to the same ERP company (never naming it)."""
    if not connection.remote_account_id:
        return None
    others = session.scalar(select(func.count()).select_from(ERPConnection).where(
        ERPConnection.kind == connection.kind, ERPConnection.remote_account_id == connection.remote_account_id,
        ERPConnection.account_id != connection.account_id))
    if not others:
        return None
    return (f"Atención: esta empresa de {display_name} ya está conectada en otra cuenta. Las facturas de ambas "
            "cuentas irán a la misma empresa; si una misma tienda está conectada en las dos, cada venta se "
            "facturaría dos veces.")


STORE_TAKEN = ("Esta tienda ya está conectada en otra cuenta: una tienda solo puede estar conectada en una "
               "cuenta, o cada venta se facturaría dos veces. Desconéctala de la otra cuenta primero.")


def _store_connected_elsewhere(session: Session, account_id: int, kind: str, remote_account_id: str | None) -> bool:
    """Is this marketplace store (``kind`` + remote account id) already connected in another account?"""
    if not remote_account_id:
        return False
    return session.scalar(select(ChannelConnection.id).where(
        ChannelConnection.kind == kind, ChannelConnection.remote_account_id == remote_account_id,
        ChannelConnection.account_id != account_id).limit(1)) is not None


def _default_choices(adapter) -> dict[str, str]:
    """Pre-select the ERP's default warehouse, main price list and default numbering, as the seller would."""
    picked = {}
    for key, items in (("warehouse_id", adapter.list_warehouses()), ("price_list_id", adapter.list_price_lists()),
                       ("number_template_id", adapter.list_number_templates())):
        default = next((c for c in items if c.extra.get("isDefault") or c.extra.get("main")), items[0] if items else None)
        if default is not None:
            picked[key] = default.id
    return picked


def connect_channel(ctx: AppContext, account_ref: str | int | None, kind: str, credentials: dict[str, Any], *,
                    name: str | None = None, base_url: str | None = None) -> ChannelConnection:
    """Check the channel credentials, then store them encrypted. Nothing is stored when refused.

    Validating may rotate a refresh token: the rotated credentials are the ones saved. A store (the
    remote account the channel validated) connects to one account only: connecting it in another is
    refused (``ConfigurationError``, :data:`STORE_TAKEN`); the unique constraint on
    ``(kind, remote_account_id)`` settles two accounts connecting it at the same moment.
    """
    cls = channel_class(kind)
    credentials = _require_fields(cls.credential_fields, credentials, cls.display_name)
    latest = dict(credentials)

    def remember(new_credentials: dict[str, Any]) -> None:
        latest.clear()
        latest.update(new_credentials)

    adapter = ctx.new_channel_adapter(kind, credentials, base_url, remember)
    try:
        info = adapter.validate_credentials()
    finally:
        adapter.close()
    try:
        return _save_channel_connection(ctx, cls, account_ref, kind, info, latest, name=name, base_url=base_url)
    except IntegrityError as exc:  # another account connected the same store meanwhile
        raise ConfigurationError(STORE_TAKEN, detail="unique (kind, remote_account_id)") from exc


def _save_channel_connection(ctx: AppContext, cls, account_ref, kind: str, info, latest: dict[str, Any], *,
                             name: str | None, base_url: str | None) -> ChannelConnection:
    with ctx.db.transaction() as session:
        account = find_account(session, account_ref)
        if _store_connected_elsewhere(session, account.id, kind, info.remote_id):
            raise ConfigurationError(STORE_TAKEN, detail=f"{kind} store already connected in another account")
        connection = session.scalar(select(ChannelConnection).where(
            ChannelConnection.account_id == account.id, ChannelConnection.kind == kind,
            ChannelConnection.remote_account_id == info.remote_id))
        if connection is None:
            connection = ChannelConnection(account_id=account.id, kind=kind, remote_account_id=info.remote_id,
                                           settings_overrides={}, credentials_encrypted="")
            session.add(connection)
        connection.name = name or f"{cls.display_name} ({info.display_name})"
        if connection.credentials_encrypted:  # a reconnect keeps the webhook secret the seller registered
            previous = ctx.vault.decrypt(connection.credentials_encrypted)
            secret_field = getattr(cls, "webhook_secret_field", None)
            if secret_field and previous.get(secret_field) and not latest.get(secret_field):
                latest[secret_field] = previous[secret_field]
        for field in cls.credential_fields:  # what the API itself told of the account (its site) is kept
            if not latest.get(field.name) and info.extra.get(field.name):
                latest[field.name] = str(info.extra[field.name])
        connection.credentials_encrypted = ctx.vault.encrypt(latest)
        connection.credential_hint = _hint(cls.credential_fields, latest)
        connection.api_base_url = base_url or None
        connection.remote_name = info.display_name
        connection.enabled = True
        session.flush()
        return connection


def list_channel_connections(ctx: AppContext, account_ref=None) -> list[ChannelConnection]:
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        return list(session.scalars(select(ChannelConnection).where(ChannelConnection.account_id == account.id)
                                    .order_by(ChannelConnection.id)))
