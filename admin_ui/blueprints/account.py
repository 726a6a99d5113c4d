"""The signed-in seller's own account: changing their password (their other sessions end)."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from admin_ui import security
from admin_ui.blueprints import ctx, signed_in_blueprint
from admin_ui.i18n import gettext as _
from connector.errors import ConfigurationError
from connector.users import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    WrongCurrentPassword,
    change_password,
    check_password_rules,
)

bp = signed_in_blueprint("account", __name__, url_prefix="/account")


@bp.route("/password", methods=["GET", "POST"])
def password():
    error, status = None, 200
    if request.method == "POST":
        current = request.form.get("current_password") or ""
        new = request.form.get("new_password") or ""
        if new != (request.form.get("new_password_again") or ""):
            error, status = _("Las contraseñas nuevas no coinciden."), 400
        else:
            try:
                check_password_rules(new)  # before anything costly; a bad new password is no guess
                with security.password_check(g.user.email):
                    change_password(ctx(), g.user.id, current, new, now=security.now(),
                                    keep_session=security.session_token())
            except ConfigurationError as exc:
                if isinstance(exc, WrongCurrentPassword):
                    error = _("La contraseña actual no es correcta.")
                else:
                    error = _("La contraseña nueva debe tener al menos %(min)s caracteres (como mucho %(max)s) y "
                              "no solo espacios.", min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH)
                status = 400
            except security.AttemptsSpent:
                error, status = _("Demasiados intentos fallidos. Espera unos minutos e inténtalo de nuevo."), 429
            except security.PasswordChecksBusy:
                error, status = _("Hay muchos inicios de sesión en este momento. Inténtalo de nuevo en unos "
                                  "segundos."), 503
            else:
                flash(_("Cambiaste tu contraseña. Se cerraron tus sesiones en otros dispositivos."), "success")
                return redirect(url_for("home.index"))
    return render_template("account/password.html", error=error, min_length=MIN_PASSWORD_LENGTH), status
