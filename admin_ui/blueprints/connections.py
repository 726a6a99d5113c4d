"""Connect the ERP and the sales channels. Credentials are checked against the API before being
saved (by the services); saved secrets are never shown again, only their masked hint."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from admin_ui import security
from admin_ui.blueprints import ctx, signed_in_blueprint
from admin_ui.forms import declared_choices, declared_defaults
from admin_ui.i18n import gettext as _
from admin_ui.i18n import ngettext
from channels.registry import CHANNELS, channel_class
from connector import mirror, oauth, services
from connector.errors import ConnectorError
from erp.registry import ERPS, erp_class

bp = signed_in_blueprint("connections", __name__, url_prefix="/connections")


def _erp_kind(kind: str):
    if kind not in ERPS:
        abort(404)
    return erp_class(kind)


def _channel_kind(kind: str):
    if kind not in CHANNELS:
        abort(404)
    return channel_class(kind)


def _default_base_url(kind: str) -> str:
    return (current_app.config.get("API_BASE_URLS") or {}).get(kind, "") if ctx().settings.allows_custom_api_urls \
        else ""


def _sandbox_hint(kind: str, connected: bool) -> dict:
    """The sandbox's demo credentials, in sandbox/dev mode, until this kind of connection exists."""
    if connected or not ctx().settings.allows_custom_api_urls:
        return {}
    return (current_app.config.get("SANDBOX_CREDENTIALS") or {}).get(kind, {})


def _public_values(fields, form) -> dict[str, str]:
    """What was typed, minus secrets: a failed attempt keeps everything but never echoes a secret."""
    secret = {f.name for f in fields if f.secret}
    return {k: v.strip() for k, v in form.items() if k not in secret and k != "csrf_token"}


# What each change the ERP notifies is, for the seller (translated in the template).
CHANGE_LABELS = mirror.CHANGE_LABELS


def _mirror_status(account) -> dict | None:
    try:
        return services.erp_mirror_status(ctx(), account)
    except ConnectorError:  # the page still shows the connection; the mirror's state is extra
        return None


@bp.post("/erp/webhooks")
def erp_webhooks():
    """Subscribe the ERP's notifications again (``on``) or take them off (``off``)."""
    account = security.account_id()
    erp = services.find_erp_connection(ctx(), account)
    if erp is None:
        abort(404)
    try:
        if request.form.get("action") == "off":
            services.stop_erp_mirror(ctx(), account)
            flash(_("Se retiraron las notificaciones del ERP; el catálogo se vuelve a leer por edad."), "ok")
        else:
            services.start_erp_mirror(ctx(), erp.id)
            flash(_("Se pidieron las notificaciones del ERP."), "ok")
    except ConnectorError as exc:
        flash(exc.user_message, "error")
    return redirect(url_for("connections.index"))


@bp.get("")
def index():
    account = security.account_id()
    channels = services.list_channel_connections(ctx(), account)
    erp = services.find_erp_connection(ctx(), account)
    return render_template(
        "connections/index.html", erp=erp, channels=channels, mirror=_mirror_status(account) if erp else None,
        change_labels=CHANGE_LABELS,
        erp_kinds={k: erp_class(k) for k in ERPS}, channel_kinds={k: channel_class(k) for k in CHANNELS},
        display_names={k: channel_class(k).display_name for k in CHANNELS})


@bp.route("/erp/<kind>", methods=["GET", "POST"])
def erp_form(kind: str):
    cls = _erp_kind(kind)
    account = security.account_id()
    current = services.find_erp_connection(ctx(), account)
    values = {"name": current.name if current else "", "base_url": (current.api_base_url if current else None)
              or _default_base_url(kind), **declared_defaults(cls.credential_fields)}
    if current is not None and current.kind == kind and cls.country_credential and current.country:
        values[cls.country_credential] = current.country
    error, status = None, 200
    if request.method == "POST":
        values = _public_values(cls.credential_fields, request.form)
        credentials = {f.name: request.form.get(f.name, "") for f in cls.credential_fields}
        try:
            connection = services.connect_erp(ctx(), account, kind, credentials, name=values.get("name") or None,
                                              base_url=values.get("base_url") or None)
        except ConnectorError as exc:
            error, status = exc.user_message, 400
        else:
            flash(_("%(erp)s conectado: %(name)s. Ahora revisa la configuración.", erp=cls.display_name,
                    name=connection.remote_name or connection.name), "success")
            if getattr(connection, "warning", None):
                flash(connection.warning, "warning")
            return redirect(url_for("settings.configuration"))
    return render_template("connections/erp_form.html", kind=kind, cls=cls, current=current, values=values,
                           error=error, choices=declared_choices(cls.credential_fields),
                           sandbox_hint=_sandbox_hint(kind, current is not None)), status


@bp.post("/erp/refresh-catalog")
def refresh_catalog():
    try:
        count = services.refresh_erp_catalog(ctx(), security.account_id())
    except ConnectorError as exc:
        flash(exc.user_message, "error")
    else:
        flash(ngettext("Catálogo actualizado: %(num)s producto.", "Catálogo actualizado: %(num)s productos.", count), "success")
    return redirect(url_for("connections.index"))


def _render_channel(kind: str, cls, *, values=None, oauth_values=None, error=None, oauth_error=None, status=200):
    module = oauth.authorization_module(kind)
    choices = {**declared_choices(cls.credential_fields), **(getattr(module, "FIELD_CHOICES", {}) if module else {})}
    default_url = _default_base_url(kind)
    connections = [c for c in services.list_channel_connections(ctx(), security.account_id()) if c.kind == kind]
    return render_template(
        "connections/channel_form.html", kind=kind, cls=cls, oauth_fields=module.AUTHORIZATION_FIELDS if module else (),
        values=values or {"base_url": default_url}, oauth_values=oauth_values or {"base_url": default_url},
        error=error, oauth_error=oauth_error, choices=choices, sandbox_hint=_sandbox_hint(kind, bool(connections)),
        connections=connections,
        redirect_uri=url_for("connections.oauth_callback", kind=kind, _external=True)), status


@bp.get("/channels/<kind>")
def channel_form(kind: str):
    return _render_channel(kind, _channel_kind(kind))


@bp.post("/channels/<kind>")
def channel_credentials(kind: str):
    """The credentials form (for channels without OAuth, or a token obtained elsewhere)."""
    cls = _channel_kind(kind)
    values = _public_values(cls.credential_fields, request.form)
    credentials = {f.name: request.form.get(f.name, "") for f in cls.credential_fields}
    try:
        connection = services.connect_channel(ctx(), security.account_id(), kind, credentials,
                                              name=values.get("name") or None, base_url=values.get("base_url") or None)
    except ConnectorError as exc:
        return _render_channel(kind, cls, values=values, error=exc.user_message, status=400)
    flash(_("%(channel)s conectado: %(name)s.", channel=cls.display_name, name=connection.remote_name or connection.name),
          "success")
    return redirect(url_for("connections.index"))


@bp.post("/channels/<kind>/authorize")
def authorize(kind: str):
    cls = _channel_kind(kind)
    fields = oauth.authorization_fields(kind)
    if not fields:
        abort(404)
    values = _public_values(fields, request.form)
    form = {f.name: request.form.get(f.name, "") for f in fields}
    try:
        url = oauth.begin_authorization(ctx(), security.account_id(), kind, form,
                                        redirect_uri=url_for("connections.oauth_callback", kind=kind, _external=True),
                                        name=values.get("name") or None, base_url=values.get("base_url") or None)
    except ConnectorError as exc:
        return _render_channel(kind, cls, oauth_values=values, oauth_error=exc.user_message, status=400)
    return redirect(url, code=303)


@bp.get("/channels/<kind>/callback")
def oauth_callback(kind: str):
    cls = _channel_kind(kind)
    try:
        connection = oauth.complete_authorization(ctx(), security.account_id(), kind, request.args.get("state"),
                                                  code=request.args.get("code"), error=request.args.get("error"))
    except ConnectorError as exc:
        return _render_channel(kind, cls, oauth_error=exc.user_message, status=400)
    flash(_("%(channel)s conectado: %(name)s. Ya puedes sincronizar tus órdenes.", channel=cls.display_name,
            name=connection.remote_name or connection.name), "success")
    return redirect(url_for("connections.index"))
