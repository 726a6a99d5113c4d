"""Sign in, sign out, language."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for

from admin_ui import security
from admin_ui.i18n import LANGUAGES
from admin_ui.i18n import gettext as _
from connector.errors import ConfigurationError
from connector.users import AuthenticationFailed, authenticate, set_user_locale

bp = Blueprint("auth", __name__)
bp.before_request(security.check_csrf)


@bp.route("/login", methods=["GET", "POST"])
def login():
    default_next = url_for("home.index")
    next_url = security.safe_next(request.values.get("next"), default_next)
    if g.get("user") is not None and request.method == "GET":
        return redirect(next_url)
    email, error, status = "", None, 200
    headers = {}
    if request.method == "POST":
        email = (request.form.get("email") or "").strip()
        if not email or not request.form.get("password"):
            error, status = _("Escribe tu correo y tu contraseña."), 400
        else:
            try:
                # The attempt is reserved (atomically, in the database) before the password is checked.
                with security.password_check(email):
                    user = authenticate(security.connector(), email, request.form.get("password", ""))
            except security.AttemptsSpent:
                error, status = _("Demasiados intentos fallidos. Espera unos minutos e inténtalo de nuevo."), 429
            except security.PasswordChecksBusy:
                error, status = _("Hay muchos inicios de sesión en este momento. Inténtalo de nuevo en unos "
                                  "segundos."), 503
                headers["Retry-After"] = "5"
            except AuthenticationFailed:
                error, status = _("Correo o contraseña incorrectos."), 401
            else:
                security.sign_in(user)
                return redirect(next_url)
    security.csrf_token()
    return render_template("auth/login.html", email=email, error=error, next_url=next_url), status, headers


@bp.post("/logout")
def logout():
    security.sign_out()
    flash(_("Cerraste sesión."), "success")
    return redirect(url_for("auth.login"))


@bp.post("/language")
def language():
    locale = request.form.get("locale", "")
    if locale in LANGUAGES:
        session["locale"] = locale
        session["locale_picked"] = True  # kept through signing in (admin_ui/security.py: sign_in)
        if g.get("user") is not None:
            try:
                set_user_locale(security.connector(), g.user.id, locale)
            except ConfigurationError:
                pass
            g.user.locale = locale
    return redirect(security.safe_next(request.form.get("next"), url_for("home.index")))
