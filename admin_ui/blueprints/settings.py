""""Configuración" and "Facturación automática" (seed 004), for the whole account or for one channel
connection (its own values override the account's; what it does not change stays inherited)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from admin_ui import forms, security
from admin_ui.blueprints import ctx, redirect_without_erp, signed_in_blueprint
from admin_ui.i18n import gettext as _
from channels.registry import CHANNELS, channel_class
from connector import services
from connector.errors import ConnectorError
from connector.fiscal import fiscal_profile_of
from connector.settings_check import SettingProblem, SettingsProblems
from connector.states import STATE_LABELS, OrderState
from erp.registry import erp_class

bp = signed_in_blueprint("settings", __name__, url_prefix="/settings")

TITLES = {"configuration": "Configuración", "auto_invoicing": "Facturación automática"}


@bp.route("/configuration", methods=["GET", "POST"])
def configuration():
    return _settings_page("configuration")


@bp.route("/auto-invoicing", methods=["GET", "POST"])
def auto_invoicing():
    return _settings_page("auto_invoicing")


def _scope(channels) -> int | None:
    raw = request.values.get("scope") or ""
    if not raw:
        return None
    if not raw.isdigit() or int(raw) not in {c.id for c in channels}:
        abort(404)  # another account's connection is as unknown as a made-up one
    return int(raw)


def _settings_page(page: str):
    missing = redirect_without_erp()
    if missing is not None:
        return missing
    account = security.account_id()
    erp = services.find_erp_connection(ctx(), account)
    # What the connected ERP declares: the settings it honours and its country's code lists.
    fields = forms.supported_fields(forms.PAGES[page], erp_class(erp.kind).supported_settings)
    channels = services.list_channel_connections(ctx(), account)
    scope = _scope(channels)
    # The version is read before the values: a save landing in between makes this form stale (refused
    # later), never a form showing old values under the new version.
    version = services.settings_version(ctx(), account, scope)
    current = forms.form_values(fields, services.show_settings(ctx(), account, scope).model_dump(mode="json"))
    values, error, status = current, None, 200
    field_errors: dict[str, list[str]] = {}
    other_problems: list[dict] = []
    if request.method == "POST":
        values = forms.submitted_values(fields, request.form)
        # The version the form was read at: refused if anyone saved since (no silent lost update).
        version = request.form.get("settings_version", "")
        changes = forms.assignments(fields, values, current if scope is not None else None)
        change = None
        try:
            if changes:
                change = services.change_settings(ctx(), account, changes, channel_ref=scope, expected_version=version)
        except services.StaleSettings:
            # The submitted values stay on the page, with the old version: saving again needs a reload.
            error, status = _("Alguien cambió esta configuración mientras la editabas; recarga la página."), 409
        except SettingsProblems as exc:  # every problem at once, each next to its field
            field_errors, other_problems = _place_problems(exc.problems, page, fields)
            count = len(exc.problems)
            error = _("No se guardó: hay un problema que corregir.") if count == 1 else \
                _("No se guardó: hay %(count)s problemas que corregir.", count=count)
            status = 400
        except ConnectorError as exc:
            error, status = exc.user_message, 400
        else:
            flash(_("Cambios guardados.") if changes else _("No había cambios que guardar."), "success")
            if change is not None:
                _flash_change(change)
            target = "settings.auto_invoicing" if page == "configuration" and "next" in request.form \
                else f"settings.{page}"
            return redirect(url_for(target, scope=scope or None))
    choices, choices_error = {}, None
    try:
        choices = services.erp_choices(ctx(), account)
    except ConnectorError as exc:
        choices_error = exc.user_message
    choices["channels"] = _origin_channel_choices(channels)
    choices.update(forms.fiscal_choices(fiscal_profile_of(erp)))
    shipping_item = None
    if page == "configuration" and values.get("shipping_item_id"):
        wanted = values["shipping_item_id"]
        shipping_item = next((i for i in services.search_catalog(ctx(), account, wanted) if i.erp_id == wanted), None)
    options = {f.name: _options(f, choices) for f in fields}
    return render_template("settings/form.html", page=page, title=TITLES[page], fields=fields, values=values,
                           error=error, options=options, choices_error=choices_error, channels=channels, scope=scope,
                           shipping_item=shipping_item, settings_version=version, field_errors=field_errors,
                           other_problems=other_problems), status


def problem_text(problem: SettingProblem) -> str:
    return _(problem.message, **problem.params)


def _field_page(name: str) -> str | None:
    return next((page for page, fields in forms.PAGES.items() if any(f.name == name for f in fields)), None)


def _field_label(name: str) -> str:
    field = next((f for fields in forms.PAGES.values() for f in fields if f.name == name), None)
    return _(field.label) if field is not None else ""


def _place_problems(problems: list[SettingProblem], page: str, fields) -> tuple[dict[str, list[str]], list[dict]]:
    """Problems of this page's fields go next to them; the others (a field of the other page, or the
    whole form) are listed on top with a link to where they are fixed."""
    here = {f.name for f in fields}
    at_field: dict[str, list[str]] = {}
    elsewhere = []
    for problem in problems:
        if problem.field in here:
            at_field.setdefault(problem.field, []).append(problem_text(problem))
            continue
        where = _field_page(problem.field)
        elsewhere.append({"label": _field_label(problem.field), "text": problem_text(problem),
                          "page": TITLES[where] if where else None,
                          "url": url_for(f"settings.{where}") + f"#f-{problem.field}" if where else None})
    return at_field, elsewhere


def _flash_change(change: services.SettingsChange) -> None:
    """What the save did besides saving: the problems it still has, and the held orders it moved."""
    for problem in change.warnings:
        label = _field_label(problem.field)
        flash((f"{label}: " if label else "") + problem_text(problem), "warning")
    if change.moved:
        shown = ", ".join(f"#{m.external_id} ({_(STATE_LABELS.get(OrderState(m.state), m.state))})"
                          for m in change.moved[:30])
        more = len(change.moved) - 30
        text = _("La configuración liberó una orden retenida; se procesó ahora: %(orders)s", orders=shown) \
            if len(change.moved) == 1 else _("La configuración liberó %(count)s órdenes retenidas; se procesaron "
                                             "ahora: %(orders)s", count=len(change.moved), orders=shown)
        flash(text + (_(" y %(count)s más.", count=more) if more > 0 else ""), "info")


def _origin_channel_choices(channels) -> list[dict]:
    """"Canales de origen": each connected marketplace, and each connection when one has several."""
    kinds = [k for k in CHANNELS if any(c.kind == k for c in channels)]
    options = []
    for kind in kinds:
        mine = [c for c in channels if c.kind == kind]
        if len(mine) == 1:
            options.append({"id": kind, "name": channel_class(kind).display_name})
            continue
        options.append({"id": kind, "name": _("%(channel)s (todas las cuentas)", channel=channel_class(kind).display_name)})
        options += [{"id": str(c.id), "name": c.name} for c in mine]
    return options


def _options(field: forms.SettingField, choices: dict[str, list[dict]]) -> list[tuple[str, str]]:
    """(value, label) pairs of a select, radio or checkbox group, translated: an ERP list's fixed labels
    (its payment methods) are in the catalog; the seller's own names (warehouses…) show as they are."""
    if isinstance(field.choices, str):
        # The ERP's own names (warehouses...) as they are; a fiscal profile's labels are ours, translated.
        label = _ if field.choices.startswith("fiscal:") else str
        return [(str(c["id"]), label(str(c["name"]))) for c in choices.get(field.choices, [])]
    return [(value, _(label)) for value, label in field.choices]
