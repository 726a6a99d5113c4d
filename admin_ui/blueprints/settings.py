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
    fields = forms.PAGES[page]
    channels = services.list_channel_connections(ctx(), account)
    scope = _scope(channels)
    # The version is read before the values: a save landing in between makes this form stale (refused
    # later), never a form showing old values under the new version.
    version = services.settings_version(ctx(), account, scope)
    current = forms.form_values(fields, services.show_settings(ctx(), account, scope).model_dump(mode="json"))
    values, error, status = current, None, 200
    if request.method == "POST":
        values = forms.submitted_values(fields, request.form)
        # The version the form was read at: refused if anyone saved since (no silent lost update).
        version = request.form.get("settings_version", "")
        changes = forms.assignments(fields, values, current if scope is not None else None)
        try:
            if changes:
                services.update_settings(ctx(), account, changes, channel_ref=scope, expected_version=version)
        except services.StaleSettings:
            # The submitted values stay on the page, with the old version: saving again needs a reload.
            error, status = _("Alguien cambió esta configuración mientras la editabas; recarga la página."), 409
        except ConnectorError as exc:
            error, status = exc.user_message, 400
        else:
            flash(_("Cambios guardados.") if changes else _("No había cambios que guardar."), "success")
            target = "settings.auto_invoicing" if page == "configuration" and "next" in request.form \
                else f"settings.{page}"
            return redirect(url_for(target, scope=scope or None))
    choices, choices_error = {}, None
    try:
        choices = services.erp_choices(ctx(), account)
    except ConnectorError as exc:
        choices_error = exc.user_message
    choices["channels"] = _origin_channel_choices(channels)
    shipping_item = None
    if page == "configuration" and values.get("shipping_item_id"):
        wanted = values["shipping_item_id"]
        shipping_item = next((i for i in services.search_catalog(ctx(), account, wanted) if i.erp_id == wanted), None)
    options = {f.name: _options(f, choices) for f in fields}
    return render_template("settings/form.html", page=page, title=TITLES[page], fields=fields, values=values,
                           error=error, options=options, choices_error=choices_error, channels=channels, scope=scope,
                           shipping_item=shipping_item, settings_version=version), status


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
        return [(str(c["id"]), _(str(c["name"]))) for c in choices.get(field.choices, [])]
    return [(value, _(label)) for value, label in field.choices]
