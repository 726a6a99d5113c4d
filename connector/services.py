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
from connector import mirror
from connector.canonical import OrderStatus
from connector.context import AppContext
from connector.crypto import mask
from connector.errors import ConfigurationError, ConnectorError, NotFound
from connector.fiscal import country_of_credentials, fiscal_profile_of
from connector.followup import request_write, resend_rejected, run_due_followups, run_followup
from connector.held_orders import PROCESS_NOW_LIMIT, MovedOrder, process_now, release_unblocked
from connector.mirror_contacts import restart_import
from connector.models import (
    Account,
    CatalogItem,
    ChannelConnection,
    ERPConnection,
    ERPContact,
    Order,
    OrderLine,
    Refund,
    SkuMapping,
    SkuMismatch,
    utcnow,
)
from connector.order_search import OrderFilters, count_orders_matching, orders_query
from connector.pipeline import CatalogRefreshes, process_order, store_pulled_order
from connector.reasons import reason
from connector.refunds import STATE_LABELS as REFUND_STATE_LABELS
from connector.refunds import approve as approve_refund
from connector.refunds import credit_notes_by_order
from connector.refunds import decline as decline_refund
from connector.rules import (
    SETTING_LABELS,
    InvoicingSettings,
    effective_settings,
    lenient_settings,
    parse_setting_assignments,
)
from connector.settings_check import (
    CheckContext,
    SettingProblem,
    SettingsProblems,
    blocking,
    choice_problem,
    implied_problems,
)
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
    "warehouse_id": ("list_warehouses", "La bodega"),
    "auto_warehouse_id": ("list_warehouses", "La bodega"),
    "price_list_id": ("list_price_lists", "La lista de precios"),
    "auto_price_list_id": ("list_price_lists", "La lista de precios"),
    "number_template_id": ("list_number_templates", "La numeración"),
    "payment_account_id": ("list_bank_accounts", "La cuenta bancaria"),
    "payment_account_method": ("payment_methods", "La forma de pago"),
    "credit_note_type_full": ("credit_note_types", "El tipo de nota crédito"),
    "credit_note_type_partial": ("credit_note_types", "El tipo de nota crédito"),
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


@dataclass
class SettingsSaved:
    """What a settings save did: the settings now in force, the problems they still have that did not
    stop this save (see :func:`connector.settings_check.blocking`), and the held orders the change
    sent back to the pipeline (rules that now let them through, a cause that is now fixed)."""

    settings: InvoicingSettings
    warnings: list[SettingProblem]
    released: list[int]


def update_settings(ctx: AppContext, account_ref, assignments: list[str], *, channel_ref=None,
                    expected_version: str | None = None) -> InvoicingSettings:
    """Apply ``key=value`` assignments (see :func:`save_settings`); returns the settings in force."""
    return save_settings(ctx, account_ref, assignments, channel_ref=channel_ref,
                         expected_version=expected_version).settings


def save_settings(ctx: AppContext, account_ref, assignments: list[str], *, channel_ref=None,
                  expected_version: str | None = None) -> SettingsSaved:
    """Apply ``key=value`` assignments after checking everything they imply; every problem is raised at
    once (:class:`SettingsProblems`) and then nothing changes. Held orders the change frees go back to
    the pipeline in the same transaction (:mod:`connector.held_orders`).

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
        inherited = dict(erp.settings) if channel else {}
        try:
            updated = parse_setting_assignments(base, assignments)
            problems: list[SettingProblem] = []
        except SettingsProblems as exc:  # bad values: what the good ones imply is reported with them
            problems, updated = list(exc.problems), None
        old_values = lenient_settings({**inherited, **base})
        keys = {a.partition("=")[0].strip() for a in assignments} & set(InvoicingSettings.model_fields)
        if updated is None:
            raw = {**base, **{a.partition("=")[0].strip(): a.partition("=")[2].strip() for a in assignments}}
            new_values = lenient_settings({**inherited, **{k: v for k, v in raw.items() if k in InvoicingSettings.model_fields}})
        else:
            new_values = lenient_settings({**inherited, **(
                {**base, **{k: updated[k] for k in keys}} if channel else updated)})
        old_dump, new_dump = old_values.model_dump(mode="json"), new_values.model_dump(mode="json")
        changed = {k for k in keys if new_dump.get(k) != old_dump.get(k)}
        check = _check_context(session, account.id, erp.id)
        problems += [p for p in implied_problems(new_values, check) if p.field not in {q.field for q in problems}]
        problems += _choice_problems(ctx, erp, {k: new_dump[k] for k in changed})
        enabling = new_values.enabled and not old_values.enabled
        if problems and (updated is None or blocking(problems, implied_problems(old_values, check),
                                                     enabling=enabling)):
            raise SettingsProblems(problems, SETTING_LABELS)
        if channel is not None:
            channel.settings_overrides = {**channel.settings_overrides, **{k: updated[k] for k in keys}}
            channel.settings_version += 1
        else:
            erp.settings = updated
            erp.settings_version += 1
        released: list[int] = []
        if changed:
            session.flush()
            released = _reconsider_held_by_rules(session, account.id, channel.id if channel else None)
            released += release_unblocked(session, account.id, channel_connection_id=channel.id if channel else None,
                                          actor="rules", why="La configuración cambió y ya no retiene esta orden; "
                                                             "se procesa de nuevo.")
        session.flush()
        settings = effective_settings(erp.settings, channel.settings_overrides if channel else None)
        return SettingsSaved(settings, problems, released)


@dataclass
class SettingsChange:
    """A save as the person who made it sees it: the settings, the problems left (they did not stop it)
    and the held orders it moved, with the state each one reached now."""

    settings: InvoicingSettings
    warnings: list[SettingProblem]
    moved: list[MovedOrder]
    still_due: int  # released orders beyond what one save takes through the pipeline: the scheduler's


def change_settings(ctx: AppContext, account_ref, assignments: list[str], *, channel_ref=None,
                    expected_version: str | None = None) -> SettingsChange:
    """The panel's "Guardar" and the CLI's ``rules set``: save (:func:`save_settings`), then take the
    orders the change freed through the pipeline now."""
    saved = save_settings(ctx, account_ref, assignments, channel_ref=channel_ref, expected_version=expected_version)
    moved = process_now(ctx, saved.released)
    return SettingsChange(saved.settings, saved.warnings, moved, max(0, len(saved.released) - PROCESS_NOW_LIMIT))


def _check_context(session: Session, account_id: int, erp_id: int) -> CheckContext:
    channels = session.execute(select(ChannelConnection.id, ChannelConnection.kind)
                               .where(ChannelConnection.account_id == account_id)).all()
    refs = frozenset({str(i) for i, _ in channels} | {k.lower() for _, k in channels})
    return CheckContext(item_exists=lambda item_id: get_cached_item(session, erp_id, str(item_id)) is not None,
                        channel_refs=refs)


def _reconsider_held_by_rules(session: Session, account_id: int, channel_connection_id: int | None) -> list[int]:
    """Orders the rules held back (waiting or skipped) are evaluated again under the new rules."""
    query = select(Order).where(Order.account_id == account_id,
                                Order.state.in_([OrderState.WAITING_RULE.value, OrderState.SKIPPED.value]))
    if channel_connection_id is not None:
        query = query.where(Order.channel_connection_id == channel_connection_id)
    ids = []
    for order in session.scalars(query.order_by(Order.id)):
        transition(session, order, OrderState.RECEIVED,
                   reason("Las reglas de facturación cambiaron; se evalúa de nuevo."), actor="rules")
        ids.append(order.id)
    return ids


def _choice_problems(ctx: AppContext, erp: ERPConnection, changed: dict[str, Any]) -> list[SettingProblem]:
    """Changed values that must be one of the ERP's lists (warehouses, price lists…): each list is read
    once (an unreachable ERP raises its own error: the save waits rather than guesses)."""
    adapter, lists, problems = None, {}, []
    for key, value in changed.items():
        if value in (None, "") or key not in _CHOICE_SETTINGS:
            continue
        adapter = adapter or ctx.erp_adapter(erp)
        lister, what = _CHOICE_SETTINGS[key]
        if lister not in lists:
            lists[lister] = getattr(adapter, lister)()
        problem = choice_problem(key, str(value), what, lists[lister])
        if problem is not None:
            problems.append(problem)
    return problems


def erp_choices(ctx: AppContext, account_ref=None) -> dict[str, list[dict]]:
    """Warehouses, price lists, taxes and numberings of the seller's ERP (for dropdowns and the CLI), and
    the fiscal code lists of its country (its profile: identification types, regimes...)."""
    with ctx.db.session() as session:
        erp = get_erp_connection(session, find_account(session, account_ref))
    adapter = ctx.erp_adapter(erp)
    as_dicts = lambda items: [{"id": c.id, "name": c.name, **c.extra} for c in items]  # noqa: E731
    profile = fiscal_profile_of(erp)
    fiscal = {key: [{"id": o.code, "name": o.label} for o in profile.options(setting)]
              for key, setting in (("identification_types", "identification_type"), ("kinds_of_person", "kind_of_person"),
                                   ("regimes", "regime"), ("payment_forms", "payment_form"),
                                   ("invoice_payment_methods", "payment_method"))}
    return {**fiscal, "warehouses": as_dicts(adapter.list_warehouses()), "price_lists": as_dicts(adapter.list_price_lists()),
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
    time in ``[created_from, created_to)``, and ``text`` found — accents and case aside — in the order or
    pack number, buyer, document, e-mail, a line's SKU or title, or the invoice number."""
    filters = OrderFilters(tuple(states or ()), channel_connection_id, created_from, created_to, text or "")
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        query = orders_query(account.id, filters)
        offset, limit = min(max(0, offset), MAX_ROW_ID), min(max(0, limit), MAX_ROW_ID)
        orders = list(session.scalars(query.order_by(Order.id.desc()).offset(offset).limit(limit)))
        for order in orders:  # load what callers print, before the session closes
            _ = order.invoice, order.lines, order.channel_connection
            if order.invoice is not None:
                _ = order.invoice.writes
        return orders


def count_orders(ctx: AppContext, account_ref=None, *, states: list[str] | None = None,
                 channel_connection_id: int | None = None, created_from: datetime | None = None,
                 created_to: datetime | None = None, text: str | None = None) -> int:
    """How many orders :func:`list_orders` would list with the same filters and no limit."""
    filters = OrderFilters(tuple(states or ()), channel_connection_id, created_from, created_to, text or "")
    with ctx.db.session() as session:
        return count_orders_matching(session, find_account(session, account_ref).id, filters)


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
    """:func:`invoice_with_picked_items`, for callers that only need this order."""
    return invoice_with_picked_items(ctx, account_ref, order_id, items_by_sku, actor=actor)[0]


def invoice_with_picked_items(ctx: AppContext, account_ref, order_id: int, items_by_sku: dict[str, str], *,
                              actor: str = "cli") -> tuple[Order, list[MovedOrder]]:
    """The error queue's "Facturar" after picking ERP items: remember each pick as the SKU's mapping,
    then invoice this order now. Other orders the same SKUs held are taken through the pipeline now too
    (their own rules apply) and returned, so the person is told which moved."""
    order = get_order(ctx, order_id, account_ref)
    keys = {line.sku_key for line in order.lines}
    others: list[int] = []
    for sku_key, item_id in items_by_sku.items():
        if not str(item_id or "").strip():
            continue
        if sku_key not in keys:
            raise ConfigurationError(f"El SKU «{sku_key}» no es de la orden {order_id}.")
        _, _, freed = _map_sku(ctx, order.account_id, sku_key, str(item_id).strip(),
                               channel_ref=order.channel_connection_id, actor=actor)
        others += [i for i in freed if i != order_id and i not in others]
    invoiced = invoice_orders(ctx, [order_id], account_ref=order.account_id, actor=actor)[order_id]
    return invoiced, process_now(ctx, others)


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
    mapping, blocked_ids, _ = _map_sku(ctx, account_ref, sku, erp_item_id, channel_ref=channel_ref, actor=actor,
                                       requeue=not invoice)
    results = invoice_orders(ctx, blocked_ids, account_ref=account_ref, actor=actor) if invoice else {}
    return mapping, results


def _map_sku(ctx: AppContext, account_ref, sku: str, erp_item_id: str, *, channel_ref=None, actor: str = "cli",
             requeue: bool = True) -> tuple[SkuMapping, list[int], list[int]]:
    """Store the mapping; returns it, the orders the SKU blocked and (with ``requeue``) those of them
    sent back to the pipeline."""
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
                   OrderLine.sku_key == key).order_by(Order.id)))
        requeued = []
        if requeue:
            for order in session.scalars(select(Order).where(Order.id.in_(blocked_ids))):
                transition(session, order, OrderState.RECEIVED,
                           reason("SKU %(sku)s asignado a «%(item)s».", sku=sku, item=item.name), actor=actor)
                requeued.append(order.id)
        session.flush()
    return mapping, blocked_ids, requeued
