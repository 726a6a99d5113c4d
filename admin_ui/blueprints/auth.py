"""Sign in, sign out, language."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for

from admin_ui import security
from admin_ui.i18n import LANGUAGES
from admin_ui.i18n import gettext as _
from connector.errors import ConfigurationError
from connector.users import AuthenticationFailed, authenticate, normalise_email, set_user_locale

bp = Blueprint("auth", __name__)
bp.before_request(security.check_csrf)


@bp.route("/login", methods=["GET", "POST"])
def login():
    default_next = url_for("home.index")
    next_url = security.safe_next(request.values.get("next"), default_next)
    if g.get("user") is not None and request.method == "GET":
        return redirect(next_url)
    email, error, status = "", None, 200
    if request.method == "POST":
        email = (request.form.get("email") or "").strip()
        throttle: security.LoginThrottle = current_app.extensions["login_throttle"]
        keys = (f"email:{normalise_email(email)}", f"ip:{request.remote_addr}")
        if not email or not request.form.get("password"):
            error, status = _("Escribe tu correo y tu contraseña."), 400
        elif throttle.blocked(*keys):
            error, status = _("Demasiados intentos fallidos. Espera unos minutos e inténtalo de nuevo."), 429
        else:
            try:
                user = authenticate(security.connector(), email, request.form.get("password", ""))
            except AuthenticationFailed:
                throttle.failed(*keys)
                error, status = _("Correo o contraseña incorrectos."), 401
            else:
                throttle.succeeded(*keys)
                security.sign_in(user)
                return redirect(next_url)
    security.csrf_token()
    return render_template("auth/login.html", email=email, error=error, next_url=next_url), status


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
        if g.get("user") is not None:
            try:
                set_user_locale(security.connector(), g.user.id, locale)
            except ConfigurationError:
                pass
            g.user.locale = locale
    return redirect(security.safe_next(request.form.get("next"), url_for("home.index")))
