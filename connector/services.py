"""What a seller or an operator can do. The CLI and the admin UI both call these; no logic lives
in either of them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from channels.registry import channel_class
from connector.canonical import OrderStatus
from connector.context import AppContext
from connector.crypto import mask
from connector.errors import ConfigurationError, ConnectorError, NotFound
from connector.followup import request_write, resend_rejected, run_due_followups, run_followup
from connector.models import (
    Account,
    CatalogItem,
    ChannelConnection,
    ERPConnection,
    Order,
    OrderLine,
    Refund,
    SkuMapping,
    SkuMismatch,
    utcnow,
)
from connector.pipeline import CatalogRefreshes, process_order, store_pulled_order
from connector.reasons import reason
from connector.refunds import STATE_LABELS as REFUND_STATE_LABELS
from connector.refunds import approve as approve_refund
from connector.refunds import credit_notes_by_order
from connector.refunds import decline as decline_refund
from connector.rules import InvoicingSettings, effective_settings, parse_setting_assignments
from connector.states import ERROR_QUEUE_STATES, SETTLED_STATES, OrderState, transition
from erp.registry import erp_class
from mapping.catalog import fetch_catalog, get_cached_item, replace_catalog, search_cached_items

log = logging.getLogger(__name__)


class NotFoundLocally(ConnectorError):
    """An id or name given by a person does not exist here."""


# Ids are INTEGER columns: a number a person typed beyond this cannot be a row (and PostgreSQL would
# refuse the query with an overflow instead of finding nothing).
MAX_ROW_ID = 2**31 - 1


def is_row_id(value: Any) -> bool:
    """True when ``value`` can be the id of a row (a positive integer within the column's range)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ROW_ID


# -- accounts ------------------------------------------------------------------------------------


def create_account(ctx: AppContext, name: str) -> Account:
    name = name.strip()
    if not name:
        raise ConfigurationError("El nombre de la cuenta no puede estar vacío.")
    with ctx.db.transaction() as session:
        if session.scalar(select(Account).where(Account.name == name)) is not None:
            raise ConfigurationError(f"Ya existe una cuenta llamada «{name}».")
        account = Account(name=name)
        session.add(account)
        session.flush()
        return account


def list_accounts(ctx: AppContext) -> list[Account]:
    with ctx.db.session() as session:
        return list(session.scalars(select(Account).order_by(Account.id)))


def find_account(session: Session, ref: str | int | None) -> Account:
    """An account by id or name; with no reference, the only account there is."""
    if ref is None or ref == "":
        accounts = list(session.scalars(select(Account).limit(2)))
        if len(accounts) == 1:
            return accounts[0]
        raise NotFoundLocally("Indica la cuenta (--account) : hay varias o ninguna." if accounts else
                              "No hay cuentas: crea una con «connector account create NOMBRE».")
    account = None
    if str(ref).isdigit() and is_row_id(int(ref)):
        account = session.get(Account, int(ref))
    if account is None:
        account = session.scalar(select(Account).where(Account.name == str(ref)))
    if account is None:
        raise NotFoundLocally(f"No existe la cuenta «{ref}».")
    return account


# -- connections ---------------------------------------------------------------------------------


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
        catalog = fetch_catalog(adapter)
    finally:
        adapter.close()
    with ctx.db.transaction() as session:
        account = find_account(session, account_ref)
        connection = session.scalar(select(ERPConnection).where(ERPConnection.account_id == account.id))
        if connection is None:
            connection = ERPConnection(account_id=account.id, kind=kind, settings={}, credentials_encrypted="")
            session.add(connection)
        connection.kind = kind
        connection.name = name or f"{cls.display_name} ({info.display_name})"
        connection.credentials_encrypted = ctx.vault.encrypt(credentials)
        connection.credential_hint = _hint(cls.credential_fields, credentials)
        connection.api_base_url = base_url or None
        connection.remote_account_id, connection.remote_name = info.remote_id, info.display_name
        settings = InvoicingSettings.model_validate(connection.settings or {})
        for key, value in choices.items():
            if getattr(settings, key) is None:
                setattr(settings, key, value)
        connection.settings = settings.model_dump(mode="json")
        session.flush()
        replace_catalog(session, connection, catalog)
        connection.warning = _erp_company_warning(session, connection, cls.display_name)
        return connection


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


def get_erp_connection(session: Session, account: Account) -> ERPConnection:
    connection = session.scalar(select(ERPConnection).where(ERPConnection.account_id == account.id))
    if connection is None:
        raise NotFoundLocally("La cuenta no tiene ERP conectado: usa «connector erp connect».")
    return connection


def find_channel_connection(session: Session, account: Account, ref: str | int | None) -> ChannelConnection:
    query = select(ChannelConnection).where(ChannelConnection.account_id == account.id)
    connections = list(session.scalars(query.order_by(ChannelConnection.id)))
    if ref in (None, ""):
        if len(connections) == 1:
            return connections[0]
        raise NotFoundLocally("Indica la conexión de canal (--channel): hay varias o ninguna.")
    for connection in connections:
        if str(connection.id) == str(ref) or connection.kind == str(ref) or connection.name == str(ref):
            return connection
    raise NotFoundLocally(f"No existe la conexión de canal «{ref}» en esta cuenta.")


# -- settings ------------------------------------------------------------------------------------


def show_settings(ctx: AppContext, account_ref=None, channel_ref=None) -> InvoicingSettings:
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        erp = get_erp_connection(session, account)
        overrides = find_channel_connection(session, account, channel_ref).settings_overrides if channel_ref else {}
        return effective_settings(erp.settings, overrides)


# Settings whose value must be one of the ERP's choices: (lister, what).
_CHOICE_SETTINGS = {
    "warehouse_id": ("list_warehouses", "bodega"),
    "auto_warehouse_id": ("list_warehouses", "bodega"),
    "price_list_id": ("list_price_lists", "lista de precios"),
    "auto_price_list_id": ("list_price_lists", "lista de precios"),
    "number_template_id": ("list_number_templates", "numeración"),
    "payment_account_id": ("list_bank_accounts", "cuenta bancaria"),
    "payment_account_method": ("payment_methods", "forma de pago"),
    "credit_note_type_full": ("credit_note_types", "tipo de nota crédito"),
    "credit_note_type_partial": ("credit_note_types", "tipo de nota crédito"),
}


class StaleSettings(ConfigurationError):
    """The settings changed since the form being saved was read: nothing is saved (no lost update)."""


def settings_version(ctx: AppContext, account_ref=None, channel_ref=None) -> str:
    """The version a settings form carries: the account's, and a channel connection's own after a dot
    (a channel's form also shows the account's values it inherits)."""
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        erp = get_erp_connection(session, account)
        channel = find_channel_connection(session, account, channel_ref) if channel_ref else None
        return _version_of(erp, channel)


def _version_of(erp: ERPConnection, channel: ChannelConnection | None) -> str:
    return f"{erp.settings_version}.{channel.settings_version}" if channel is not None else str(erp.settings_version)


def update_settings(ctx: AppContext, account_ref, assignments: list[str], *, channel_ref=None,
                    expected_version: str | None = None) -> InvoicingSettings:
    """Apply ``key=value`` assignments, checking ERP choices (warehouse, price list, ...) exist.

    With ``expected_version`` (a form's :func:`settings_version`), settings changed since then are not
    overwritten: :class:`StaleSettings`, and nothing changes."""
    with ctx.db.transaction() as session:
        account = find_account(session, account_ref)
        erp = get_erp_connection(session, account)
        channel = find_channel_connection(session, account, channel_ref) if channel_ref else None
        # Lock the rows (ERP first, always): a concurrent save waits here and then sees the new version.
        session.refresh(erp, with_for_update=True)
        if channel is not None:
            session.refresh(channel, with_for_update=True)
        if expected_version is not None and expected_version != _version_of(erp, channel):
            raise StaleSettings("Alguien cambió esta configuración mientras la editabas; recarga la página.")
        base = dict(channel.settings_overrides if channel else erp.settings)
        updated = parse_setting_assignments(base, assignments)
        changed = {k for k in updated if updated.get(k) != InvoicingSettings.model_validate(base).model_dump(mode="json").get(k)}
        _check_choices(ctx, session, erp, {k: updated[k] for k in changed})
        if channel is not None:
            keys = {a.partition("=")[0].strip() for a in assignments}
            channel.settings_overrides = {**channel.settings_overrides, **{k: updated[k] for k in keys}}
            channel.settings_version += 1
        else:
            erp.settings = updated
            erp.settings_version += 1
        if changed:
            _reconsider_held_by_rules(session, account.id, channel.id if channel else None)
        session.flush()
        return effective_settings(erp.settings, channel.settings_overrides if channel else None)


def _reconsider_held_by_rules(session: Session, account_id: int, channel_connection_id: int | None) -> None:
    """Orders the rules held back (waiting or skipped) are evaluated again under the new rules."""
    query = select(Order).where(Order.account_id == account_id,
                                Order.state.in_([OrderState.WAITING_RULE.value, OrderState.SKIPPED.value]))
    if channel_connection_id is not None:
        query = query.where(Order.channel_connection_id == channel_connection_id)
    for order in session.scalars(query):
        transition(session, order, OrderState.RECEIVED,
                   reason("Las reglas de facturación cambiaron; se evalúa de nuevo."), actor="rules")


def _check_choices(ctx: AppContext, session: Session, erp: ERPConnection, changed: dict[str, Any]) -> None:
    adapter = None
    for key, value in changed.items():
        if value in (None, ""):
            continue
        if key == "shipping_item_id":
            if get_cached_item(session, erp.id, str(value)) is None:
                raise ConfigurationError(f"El producto {value} no está en el catálogo del ERP.")
            continue
        if key not in _CHOICE_SETTINGS:
            continue
        adapter = adapter or ctx.erp_adapter(erp)
        lister, what = _CHOICE_SETTINGS[key]
        choices = getattr(adapter, lister)()
        if str(value) not in {c.id for c in choices}:
            valid = ", ".join(f"{c.id} ({c.name})" for c in choices) or "ninguna"
            raise ConfigurationError(f"La {what} {value} no existe en el ERP. Opciones: {valid}.")


def erp_choices(ctx: AppContext, account_ref=None) -> dict[str, list[dict]]:
    """Warehouses, price lists, taxes and numberings of the seller's ERP (for dropdowns and the CLI)."""
    with ctx.db.session() as session:
        erp = get_erp_connection(session, find_account(session, account_ref))
    adapter = ctx.erp_adapter(erp)
    as_dicts = lambda items: [{"id": c.id, "name": c.name, **c.extra} for c in items]  # noqa: E731
    return {"warehouses": as_dicts(adapter.list_warehouses()), "price_lists": as_dicts(adapter.list_price_lists()),
            "taxes": as_dicts(adapter.list_taxes()), "number_templates": as_dicts(adapter.list_number_templates()),
            "bank_accounts": as_dicts(adapter.list_bank_accounts()),
            "payment_methods": as_dicts(adapter.payment_methods()),
            "credit_note_types": as_dicts(adapter.credit_note_types())}


def refresh_erp_catalog(ctx: AppContext, account_ref=None) -> int:
    """Read the whole ERP catalog again (outside any transaction), then replace the cache."""
    with ctx.db.session() as session:
        erp = get_erp_connection(session, find_account(session, account_ref))
    items = fetch_catalog(ctx.erp_adapter(erp))
    with ctx.db.transaction() as session:
        return replace_catalog(session, session.get(ERPConnection, erp.id), items)


def search_catalog(ctx: AppContext, account_ref, text: str) -> list[CatalogItem]:
    with ctx.db.session() as session:
        erp = get_erp_connection(session, find_account(session, account_ref))
        return search_cached_items(session, erp.id, text)


# -- orders and the error queue ------------------------------------------------------------------


def list_orders(ctx: AppContext, account_ref=None, *, states: list[str] | None = None, limit: int = 200,
                channel_connection_id: int | None = None, created_from: datetime | None = None,
                created_to: datetime | None = None, text: str | None = None, offset: int = 0) -> list[Order]:
    """The account's orders, newest first. Filters: states, one channel connection, marketplace creation
    time in ``[created_from, created_to)``, and ``text`` found in the order id, buyer, document or a line's
    SKU or title."""
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        query = select(Order).where(Order.account_id == account.id)
        if states:
            query = query.where(Order.state.in_(states))
        if channel_connection_id is not None:
            query = query.where(Order.channel_connection_id == channel_connection_id)
        created = func.coalesce(Order.remote_created_at, Order.created_at)
        if created_from is not None:
            query = query.where(created >= created_from)
        if created_to is not None:
            query = query.where(created < created_to)
        text = (text or "").replace("\x00", "")  # PostgreSQL text cannot hold NUL
        if text.strip():
            like = "%" + text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            in_lines = (select(OrderLine.id).where(OrderLine.order_id == Order.id,
                                                   func.lower(OrderLine.sku).like(like, escape="\\")
                                                   | func.lower(OrderLine.title).like(like, escape="\\"))
                        .exists())
            query = query.where(func.lower(Order.external_id).like(like, escape="\\")
                                | func.lower(func.coalesce(Order.buyer_name, "")).like(like, escape="\\")
                                | func.lower(func.coalesce(Order.buyer_document, "")).like(like, escape="\\")
                                | in_lines)
        offset, limit = min(max(0, offset), MAX_ROW_ID), min(max(0, limit), MAX_ROW_ID)
        orders = list(session.scalars(query.order_by(Order.id.desc()).offset(offset).limit(limit)))
        for order in orders:  # load what callers print, before the session closes
            _ = order.invoice, order.lines, order.channel_connection
            if order.invoice is not None:
                _ = order.invoice.writes
        return orders


def error_queue(ctx: AppContext, account_ref=None) -> list[Order]:
    return list_orders(ctx, account_ref, states=[s.value for s in ERROR_QUEUE_STATES])


def credit_notes_of(ctx: AppContext, order_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The refunds and credit notes of these orders (callers got the orders from this account)."""
    with ctx.db.session() as session:
        return credit_notes_by_order(session, order_ids)


def get_order(ctx: AppContext, order_id: int, account_ref=None) -> Order:
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        order = session.get(Order, order_id) if is_row_id(order_id) else None
        if order is None or order.account_id != account.id:
            raise NotFoundLocally(f"No existe la orden {order_id} en esta cuenta.")
        _ = order.invoice, order.lines, order.activity, order.channel_connection
        if order.invoice is not None:
            _ = order.invoice.writes
        return order


def invoice_orders(ctx: AppContext, order_ids: list[int], *, account_ref=None, actor: str = "cli") -> dict[int, Order]:
    """The "Facturar" button: invoice these orders now, whatever the auto-invoicing rules say."""
    refreshes = CatalogRefreshes()
    results = {}
    for order_id in order_ids:
        order = get_order(ctx, order_id, account_ref)
        if order.state == OrderState.REJECTED:  # the e-invoice was rejected and the cause fixed: send it again
            resend_rejected(ctx, order_id, actor=actor)
        elif order.state not in SETTLED_STATES:
            # Read the order again first: one cancelled since the last pull is not invoiced by a click.
            cancelled = _reread_from_channel(ctx, order_id) == OrderStatus.CANCELLED
            process_order(ctx, order_id, manual=not cancelled, actor=actor, refreshes=refreshes)
        results[order_id] = get_order(ctx, order_id, account_ref)
    return results


def _reread_from_channel(ctx: AppContext, order_id: int) -> str | None:
    """Fetch one order from its channel and store what changed; returns its (normalised) status. When
    the channel cannot be read now, the stored order is used as it is (the click still works)."""
    with ctx.db.session() as session:
        order = session.get(Order, order_id)
        connection = order.channel_connection
        try:
            adapter = ctx.channel_adapter(connection)
        except ConnectorError:
            return order.status
        try:
            store_pulled_order(session, connection, adapter, adapter.fetch_order(order.external_id))
            session.commit()
        except ConnectorError as exc:
            session.rollback()
            log.info("order %s: could not re-read it from the channel before invoicing: %s", order_id, exc)
        finally:
            adapter.close()
        return session.get(Order, order_id).status


FOLLOWUP_KINDS = {"stamp": "emitir la factura electrónica", "payment": "registrar el pago",
                  "delivery": "enviar la factura al comprador"}


def request_followups(ctx: AppContext, order_ids: list[int], kind: str, *, account_ref=None,
                      actor: str = "cli") -> dict[int, Order]:
    """A person asks for a step after the invoice now ("Expedir", "Registrar pago", "Enviar al
    comprador"): it runs exactly once like the automatic ones, and never twice over a done one."""
    if kind not in FOLLOWUP_KINDS:
        raise ConfigurationError(f"Paso desconocido {kind!r}.")
    results = {}
    for order_id in order_ids:
        order = get_order(ctx, order_id, account_ref)
        if order.invoice is None:
            raise ConfigurationError(f"La orden {order_id} aún no tiene factura: no se puede {FOLLOWUP_KINDS[kind]}.")
        if kind == "payment":
            _require_payment_account(ctx, order)
        if request_write(ctx, order_id, kind, actor=actor) is None:
            raise ConfigurationError(f"La orden {order_id} no necesita {FOLLOWUP_KINDS[kind]} (ya está hecho o en curso).")
        run_followup(ctx, order.invoice.id, actor=actor)
        results[order_id] = get_order(ctx, order_id, account_ref)
    return results


def _require_payment_account(ctx: AppContext, order: Order) -> None:
    with ctx.db.session() as session:
        erp = session.get(ERPConnection, order.invoice.erp_connection_id)
        channel = session.get(ChannelConnection, order.channel_connection_id)
        settings = effective_settings(erp.settings, channel.settings_overrides)
    if not settings.payment_account_id:
        raise ConfigurationError("Para registrar el pago elige primero la cuenta bancaria o caja donde entra el dinero.")


def list_refunds(ctx: AppContext, account_ref=None, *, states: list[str] | None = None,
                 limit: int = 500) -> list[dict[str, Any]]:
    """The account's refunds with their credit notes, newest first ("Notas crédito por aprobar" is
    ``states=["waiting_approval"]``)."""
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        query = select(Refund).where(Refund.account_id == account.id)
        if states:
            query = query.where(Refund.state.in_(states))
        rows = []
        for refund in session.scalars(query.order_by(Refund.id.desc()).limit(limit)):
            order = refund.order
            view = next(n for n in credit_notes_by_order(session, [order.id])[order.id] if n["id"] == refund.id)
            rows.append({**view, "order_id": order.id, "external_id": order.external_id,
                         "channel": order.channel_connection.kind, "buyer": order.buyer_name,
                         "invoice": order.invoice.number if order.invoice else None, "reason": refund.reason,
                         "currency": order.currency})
        return rows


def count_refunds_waiting(ctx: AppContext, account_ref=None) -> int:
    """Refunds whose credit note waits for a person's approval."""
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        return session.scalar(select(func.count()).select_from(Refund).where(
            Refund.account_id == account.id, Refund.state == "waiting_approval")) or 0


def decide_refunds(ctx: AppContext, refund_ids: list[int], *, approve: bool, account_ref=None,
                   actor: str = "cli") -> list[dict[str, Any]]:
    """Approve (the credit note is created in the ERP, once) or decline refunds waiting for approval."""
    invoices = set()
    with ctx.db.transaction() as session:
        account = find_account(session, account_ref)
        for refund_id in refund_ids:
            refund = session.get(Refund, refund_id) if 0 < refund_id <= MAX_ROW_ID else None
            if refund is None or refund.account_id != account.id:
                raise NotFoundLocally(f"No existe el reembolso {refund_id} en esta cuenta.")
            if refund.state == "before_invoice":
                raise ConfigurationError(f"La orden del reembolso {refund_id} no tiene factura: no hay nada que "
                                         "acreditar.")
            if refund.state not in ("waiting_approval", "declined", "off") or (not approve and refund.state != "waiting_approval"):
                state = REFUND_STATE_LABELS.get(refund.state, refund.state).lower()
                raise ConfigurationError(f"El reembolso {refund_id} ya no está por aprobar ({state}).")
            order = refund.order
            invoice = order.invoice
            if invoice is None:
                raise ConfigurationError(f"La orden {order.id} no tiene factura: no hay nada que acreditar.")
            if approve:
                approve_refund(session, order, invoice, refund, actor=actor)
                invoices.add(invoice.id)
            else:
                decline_refund(session, order, refund, actor=actor)
    for invoice_id in invoices:
        run_followup(ctx, invoice_id, actor=actor)
    return [r for r in list_refunds(ctx, account_ref) if r["id"] in set(refund_ids)]


def invoice_pdf_url(ctx: AppContext, order_id: int, account_ref=None) -> str:
    """A fresh link to the order's invoice PDF (the ERP's links are short-lived)."""
    order = get_order(ctx, order_id, account_ref)
    if order.invoice is None:
        raise ConfigurationError(f"La orden {order_id} aún no tiene factura.")
    with ctx.db.session() as session:
        erp = session.get(ERPConnection, order.invoice.erp_connection_id)
    url = ctx.erp_adapter(erp).invoice_pdf_url(order.invoice.erp_id)
    if not url or not url.startswith(("https://", "http://")):
        raise ConfigurationError("El ERP todavía no tiene el PDF de esta factura; inténtalo en unos minutos.")
    with ctx.db.transaction() as session:
        session.get(Order, order_id).invoice.pdf_url = url
    return url


def run_followups_now(ctx: AppContext, account_ref=None) -> dict[str, int]:
    """Everything due after the invoices of the account (e-invoice status, deliveries, payments)."""
    with ctx.db.session() as session:
        account_id = find_account(session, account_ref).id
    return run_due_followups(ctx, account_id)


def retry_error_queue(ctx: AppContext, account_ref=None, *, actor: str = "cli") -> dict[int, Order]:
    """Send every order of the error queue through the pipeline again (after a fix)."""
    ids = [o.id for o in error_queue(ctx, account_ref)]
    return invoice_orders(ctx, ids, account_ref=account_ref, actor=actor)


def orders_held_by_outage(ctx: AppContext, account_ref=None) -> list[Order]:
    """Orders an ERP outage holds: parked while the ERP is down (``waiting_erp``), or ready to invoice
    with their last attempt failed by a 5xx, 429 or maintenance and waiting for ``next_attempt_at``."""
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        held = (Order.state == OrderState.WAITING_ERP.value) | (
            (Order.state == OrderState.READY.value) & Order.next_attempt_at.is_not(None))
        orders = list(session.scalars(select(Order).where(Order.account_id == account.id, held).order_by(Order.id)))
        for order in orders:
            _ = order.invoice, order.lines, order.channel_connection
        return orders


def retry_orders_held_by_outage(ctx: AppContext, account_ref=None, *, actor: str = "cli") -> dict[int, Order]:
    """The ERP is back: invoice now every order an outage held, without waiting for its retry time."""
    ids = [o.id for o in orders_held_by_outage(ctx, account_ref)]
    return invoice_orders(ctx, ids, account_ref=account_ref, actor=actor)


def invoice_order_with_items(ctx: AppContext, account_ref, order_id: int, items_by_sku: dict[str, str], *,
                             actor: str = "cli") -> Order:
    """The error queue's "Facturar" after picking ERP items: remember each pick as the SKU's mapping,
    then invoice this order now. Other orders the same SKUs held go back to the rules."""
    order = get_order(ctx, order_id, account_ref)
    keys = {line.sku_key for line in order.lines}
    for sku_key, item_id in items_by_sku.items():
        if not str(item_id or "").strip():
            continue
        if sku_key not in keys:
            raise ConfigurationError(f"El SKU «{sku_key}» no es de la orden {order_id}.")
        map_sku(ctx, order.account_id, sku_key, str(item_id).strip(), channel_ref=order.channel_connection_id,
                actor=actor, invoice=False)
    return invoice_orders(ctx, [order_id], account_ref=order.account_id, actor=actor)[order_id]


def count_orders_by_state(ctx: AppContext, account_ref=None) -> dict[str, int]:
    """How many of the account's orders are in each state."""
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        rows = session.execute(select(Order.state, func.count()).where(Order.account_id == account.id)
                               .group_by(Order.state))
        return {state: count for state, count in rows}


def find_erp_connection(ctx: AppContext, account_ref=None) -> ERPConnection | None:
    """The account's ERP connection, or None when it has not connected one yet."""
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        return session.scalar(select(ERPConnection).where(ERPConnection.account_id == account.id))


@dataclass
class MismatchView:
    channel_connection_id: int
    sku_key: str
    sku: str | None
    title: str
    blocked_orders: int
    last_seen_at: Any


def list_mismatches(ctx: AppContext, account_ref=None) -> list[MismatchView]:
    """Unmatched marketplace SKUs with how many held orders each one blocks."""
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        blocked = (select(OrderLine.sku_key, Order.channel_connection_id,
                          func.count(distinct(Order.id)).label("orders"))
                   .join(Order, Order.id == OrderLine.order_id)
                   .where(Order.account_id == account.id, Order.state == OrderState.ERROR.value,
                          OrderLine.erp_item_id.is_(None))
                   .group_by(OrderLine.sku_key, Order.channel_connection_id).subquery())
        rows = session.execute(
            select(SkuMismatch, func.coalesce(blocked.c.orders, 0))
            .join(ChannelConnection, ChannelConnection.id == SkuMismatch.channel_connection_id)
            .outerjoin(blocked, (blocked.c.sku_key == SkuMismatch.sku_key)
                       & (blocked.c.channel_connection_id == SkuMismatch.channel_connection_id))
            .where(ChannelConnection.account_id == account.id, SkuMismatch.resolved_at.is_(None))
            .order_by(func.coalesce(blocked.c.orders, 0).desc(), SkuMismatch.sku_key))
        return [MismatchView(m.channel_connection_id, m.sku_key, m.sku, m.title, n, m.last_seen_at) for m, n in rows]


def map_sku(ctx: AppContext, account_ref, sku: str, erp_item_id: str, *, channel_ref=None, actor: str = "cli",
            invoice: bool = True) -> tuple[SkuMapping, dict[int, Order]]:
    """Remember that marketplace ``sku`` is ERP item ``erp_item_id``; then invoice (or re-queue) every
    order the SKU was blocking."""
    from mapping.codes import normalise_code

    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        cached = get_cached_item(session, get_erp_connection(session, account).id, erp_item_id)
    if cached is None:  # maybe created in the ERP after the last catalog read
        refresh_erp_catalog(ctx, account.id)
    with ctx.db.transaction() as session:
        account = find_account(session, account.id)
        erp = get_erp_connection(session, account)
        channel = find_channel_connection(session, account, channel_ref)
        item = get_cached_item(session, erp.id, erp_item_id)
        if item is None:
            raise NotFound(f"El producto {erp_item_id} no existe en el ERP.")
        key = sku if sku.startswith("ID:") else normalise_code(sku)
        if not key:
            raise ConfigurationError("El SKU no puede estar vacío.")
        mapping = session.scalar(select(SkuMapping).where(SkuMapping.channel_connection_id == channel.id,
                                                          SkuMapping.sku_key == key))
        if mapping is None:
            mapping = SkuMapping(channel_connection_id=channel.id, sku_key=key, erp_item_id=item.erp_id)
            session.add(mapping)
        mapping.erp_item_id, mapping.erp_item_name, mapping.created_by = item.erp_id, item.name, actor
        mismatch = session.scalar(select(SkuMismatch).where(SkuMismatch.channel_connection_id == channel.id,
                                                            SkuMismatch.sku_key == key))
        if mismatch is not None:
            mismatch.resolved_at = utcnow()
        blocked_ids = list(session.scalars(
            select(Order.id).distinct().join(OrderLine, OrderLine.order_id == Order.id)
            .where(Order.channel_connection_id == channel.id, Order.state == OrderState.ERROR.value,
                   OrderLine.sku_key == key)))
        if not invoice:
            for order in session.scalars(select(Order).where(Order.id.in_(blocked_ids))):
                transition(session, order, OrderState.RECEIVED,
                           reason("SKU %(sku)s asignado a «%(item)s».", sku=sku, item=item.name), actor=actor)
        session.flush()
    results = invoice_orders(ctx, blocked_ids, account_ref=account_ref, actor=actor) if invoice else {}
    return mapping, results
