"""The admin web application: sellers sign in, connect their ERP and channels, configure invoicing,
watch their orders, fix the error queue and sync — over the same services the CLI uses.

``create_app(ctx, **config)`` builds it; ``serve_in_thread(ctx)`` serves it on loopback (the demo,
the browser tests). Config keys of our own (all optional):

* ``API_BASE_URLS`` — ``{"alegra": url, "mercadolibre": url}`` pre-filled as API address in the
  connection forms (only shown in sandbox/dev mode, where custom addresses are allowed).
* ``SANDBOX_CREDENTIALS`` — ``{kind: {field: value}}`` shown as a hint on the connection forms in
  sandbox/dev mode (the sandbox's demo credentials open nothing else).
* ``DISPLAY_TIMEZONE`` — dates are shown in this zone (default: the time zone of the country of the
  account's ERP, from its fiscal profile).
* ``PROXY_FIX`` — how many proxies' ``X-Forwarded-For/-Proto/-Host`` headers to trust (default
  ``CONNECTOR_TRUSTED_PROXIES``; behind a TLS-terminating proxy, so the client address is the
  client's, OAuth redirect addresses come out as ``https`` and HSTS is sent).
* ``CLOCK`` — what "now" is for sessions and the sign-in throttle (a callable returning an aware
  datetime; tests move it instead of sleeping).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from flask import Flask, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from admin_ui import i18n, security
from admin_ui.operations import register_operations
from connector import services
from connector.alerts import ALERT_TEXT, active_alerts
from connector.canonical import OrderStatus
from connector.context import AppContext
from connector.errors import ConnectorError, NotFound, TransientError
from connector.log_masking import install_log_masking
from connector.login_throttle import LoginThrottle
from connector.models import utcnow
from connector.reasons import N_
from connector.services import NotFoundLocally
from connector.states import ERROR_QUEUE_STATES, STATE_LABELS
from connector.sync_jobs import SyncJobs
from erp.registry import erp_class

log = logging.getLogger(__name__)

ORDER_STATUS_LABELS = {OrderStatus.PENDING.value: "Pendiente", OrderStatus.SHIPPED.value: "Enviada",
                       OrderStatus.COMPLETED.value: "Completada", OrderStatus.CANCELLED.value: "Cancelada",
                       OrderStatus.OTHER.value: "Otra"}


def create_app(ctx: AppContext | None = None, **config) -> Flask:
    install_log_masking()  # the access log prints query strings (webhook secrets, OAuth codes)
    app = Flask(__name__)
    context = ctx or AppContext.from_settings()
    app.extensions["connector"] = context
    app.extensions["sync_jobs"] = SyncJobs()
    app.extensions["login_throttle"] = LoginThrottle.from_settings(context.db, context.settings)
    app.extensions["password_check_slots"] = security.PasswordCheckSlots(
        context.settings.login_hash_concurrency, context.settings.login_hash_wait_seconds)
    app.config.update(
        SECRET_KEY=security.load_secret_key(context.settings),
        SESSION_COOKIE_NAME="connector_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # The cookie lives as long as a session may; the server-side session decides whether it still counts.
        PERMANENT_SESSION_LIFETIME=timedelta(hours=context.settings.session_max_hours),
        MAX_CONTENT_LENGTH=1024 * 1024,
        DISPLAY_TIMEZONE=context.settings.display_timezone,
        API_BASE_URLS={},
        SANDBOX_CREDENTIALS={},
        PROXY_FIX=context.settings.trusted_proxies,
        CLOCK=utcnow,
    )
    app.config.update(config)
    app.session_interface = security.ConnectorSessionInterface()
    hops = int(app.config["PROXY_FIX"] or 0)
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    _register_blueprints(app)
    _register_template_helpers(app)
    app.before_request(security.load_user)
    app.after_request(security.add_security_headers)
    _register_error_pages(app)
    register_operations(app)  # /healthz and /metrics
    return app


def _register_blueprints(app: Flask) -> None:
    from admin_ui.blueprints import (
        account,
        alerts,
        auth,
        connections,
        credit_notes,
        dashboard,
        errors,
        home,
        orders,
        settings,
        stock,
        sync,
    )
    from admin_ui.webhooks import register_webhooks

    for module in (auth, account, home, dashboard, alerts, connections, settings, orders, errors, credit_notes, sync,
                   stock):
        app.register_blueprint(module.bp)
    # Marketplace webhooks authenticate by their own signatures: no session, no CSRF token.
    register_webhooks(app)


def _register_template_helpers(app: Flask) -> None:
    i18n.init_app(app)  # Flask-Babel: _, ngettext, and the when/day/money/qty/number/said filters
    app.jinja_env.globals.update(
        csrf_token=security.csrf_token, current_locale=i18n.current_locale,
        LANGUAGES=i18n.LANGUAGES, STATE_LABELS={s.value: label for s, label in STATE_LABELS.items()},
        MATCH_SOURCE_LABELS=i18n.MATCH_SOURCE_LABELS, INVOICE_STATUS_LABELS=i18n.INVOICE_STATUS_LABELS,
        SYNC_RUN_LABELS=i18n.SYNC_RUN_LABELS, LEGAL_STATUS_LABELS=i18n.LEGAL_STATUS_LABELS,
        WRITE_STATE_LABELS=i18n.WRITE_STATE_LABELS, DELIVERY_VIA_LABELS=i18n.DELIVERY_VIA_LABELS,
    )
    app.jinja_env.filters.update(hint_pairs=_hint_pairs)

    @app.context_processor
    def _common():
        context: AppContext = app.extensions["connector"]
        common = {"mode": context.settings.mode, "sandbox_mode": context.settings.allows_custom_api_urls,
                  "ORDER_STATUS_LABELS": ORDER_STATUS_LABELS, "nav_counts": None, "account_name": "",
                  "erp_name": i18n.gettext("el ERP"), "active_alerts": [], "alert_message": _alert_message}
        user = g.get("user")
        if user is not None:
            try:
                counts = services.count_orders_by_state(context, user.account_id)
                common["nav_counts"] = {"error_queue": sum(counts.get(s.value, 0) for s in ERROR_QUEUE_STATES),
                                        "credit_notes": services.count_refunds_waiting(context, user.account_id)}
                with context.db.session() as session:
                    common["account_name"] = services.find_account(session, user.account_id).name
                erp = services.find_erp_connection(context, user.account_id)
                if erp is not None:  # pages name the connected ERP as the seller knows it
                    common["erp_name"] = erp_class(erp.kind).display_name
                common["active_alerts"] = active_alerts(context, user.account_id)
            except Exception:  # noqa: BLE001 - the error page renders with this too: it must not fail
                log.exception("admin UI: menu counts unavailable")
        return common


def _alert_message(alert) -> str:
    """An alert in the reader's language; stored parameters that no longer fit never break a page."""
    try:
        return i18n.gettext(ALERT_TEXT[alert.kind], **alert.params)
    except (KeyError, TypeError, ValueError):
        return i18n.gettext(ALERT_TEXT.get(alert.kind, N_("Alerta")))


def _hint_pairs(hint: str | None) -> list[tuple[str, str]]:
    """A stored credential hint ("email=a@b.co, token=••••2f9c") as (field, shown value) pairs."""
    pairs = []
    for part in (hint or "").split(", "):
        key, sep, value = part.partition("=")
        if sep:
            pairs.append((key.strip(), value.strip()))
    return pairs


def _register_error_pages(app: Flask) -> None:
    @app.errorhandler(NotFoundLocally)
    @app.errorhandler(NotFound)
    def _not_found(exc: ConnectorError):
        return _error_page(404, exc.user_message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if exc.code == 400 and exc.description == "csrf":
            message = i18n.gettext("La página caducó o el formulario no es válido. Vuelve a cargarla e inténtalo "
                                   "de nuevo.")
        elif exc.code == 404:
            message = i18n.gettext("No encontramos lo que buscas en tu cuenta.")
        elif exc.code == 401:
            message = i18n.gettext("Inicia sesión para continuar.")
        elif exc.code == 405:
            message = i18n.gettext("Esa acción no se puede hacer así.")
        elif (exc.code or 500) >= 500:
            log.error("admin UI error on %s %s", request.method, request.path, exc_info=getattr(exc, "original_exception", None))
            message = i18n.gettext("Algo salió mal de nuestro lado. Inténtalo de nuevo en un momento.")
        else:
            message = exc.description or exc.name
        return _error_page(exc.code or 500, message)

    @app.errorhandler(ConnectorError)
    def _connector_error(exc: ConnectorError):
        return _error_page(503 if isinstance(exc, TransientError) else 400, exc.user_message)


def _error_page(status: int, message: str):
    if security.wants_json() or request.path.startswith("/static/"):
        return jsonify({"error": message}), status
    return render_template("error.html", status=status, message=message), status


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        return None


def serve_in_thread(ctx: AppContext, host: str = "127.0.0.1", port: int = 0,
                    **config) -> tuple[str, BaseWSGIServer]:
    """Serve the admin UI from a daemon thread; returns its address and the server (``shutdown()`` it)."""
    app = create_app(ctx, **config)
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    # A short poll so shutdown() returns at once (werkzeug's default waits up to half a second).
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="admin-ui",
                              daemon=True)
    thread.start()
    shown_host = f"[{host}]" if ":" in host else host
    return f"http://{shown_host}:{server.server_port}", server
