"""The admin UI's blueprints. Every one but ``auth`` is for signed-in users only (CSRF checked on
every write); views call ``connector.services`` with the signed-in user's account and nothing else."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for

from admin_ui import security
from admin_ui.i18n import gettext as _
from connector.context import AppContext
from connector.services import find_erp_connection


def signed_in_blueprint(name: str, import_name: str, url_prefix: str | None = None) -> Blueprint:
    bp = Blueprint(name, import_name, url_prefix=url_prefix)
    bp.before_request(security.require_user)
    return bp


def ctx() -> AppContext:
    return security.connector()


def redirect_without_erp():
    """A redirect to the connections page when the account has no ERP yet (else None)."""
    if find_erp_connection(ctx(), security.account_id()) is None:
        flash(_("Primero conecta tu ERP: la configuración y el catálogo vienen de ahí."), "warning")
        return redirect(url_for("connections.index"))
    return None
