"""The account's invoicing settings and rules: read, versioned against lost updates, saved only when
everything they imply holds, and the held orders a change frees sent back to the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.context import AppContext
from connector.errors import ConfigurationError
from connector.fiscal import fiscal_profile_of
from connector.held_orders import PROCESS_NOW_LIMIT, MovedOrder, process_now, release_unblocked
from connector.models import ChannelConnection, ERPConnection, Order
from connector.reasons import reason
from connector.rules import (
    SETTING_LABELS,
    InvoicingSettings,
    effective_settings,
    lenient_settings,
    parse_setting_assignments,
)
from connector.services.accounts import find_account, find_channel_connection, get_erp_connection
from connector.settings_check import (
    CheckContext,
    SettingProblem,
    SettingsProblems,
    blocking,
    choice_problem,
    implied_problems,
)
from connector.states import OrderState, transition
from mapping.catalog import get_cached_item


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
