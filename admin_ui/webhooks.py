"""Marketplace webhooks: ``POST /webhooks/<channel_kind>/<connection_id>``.

The view only reads the **raw** body (signatures are computed on the exact bytes) and calls
:func:`connector.webhooks.receive_webhook`, which verifies, records and queues without talking to
the marketplace, so the answer is immediate: 200 for an accepted, duplicate or ignored delivery,
401 for a missing or wrong signature (nothing stored), 404 for an unknown connection, 400 for an
unreadable body, 413 for an oversized one. No business logic lives here.

**No CSRF and no session here, on purpose.** These requests come from the marketplaces' servers,
not from a browser: there is no session cookie to protect and no form token they could send. Each
delivery authenticates itself instead (HMAC of the body, or Mercado Libre's per-connection URL
secret). The blueprint therefore carries none of the admin blueprints' ``before_request`` checks;
if the app ever adds app-wide CSRF (e.g. Flask-WTF's ``CSRFProtect``), :func:`register_webhooks`
exempts this blueprint from it.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, current_app, jsonify, request

from connector.context import AppContext
from connector.mirror_events import receive_mirror_event
from connector.webhooks import receive_webhook

log = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 2 * 1024 * 1024  # Shopify orders with many lines stay well below this

webhooks_bp = Blueprint("webhooks", __name__)


@webhooks_bp.post("/webhooks/<channel_kind>/<int:connection_id>")
def receive(channel_kind: str, connection_id: int):
    if request.content_length is not None and request.content_length > MAX_WEBHOOK_BYTES:
        return jsonify({"status": "too_large"}), 413
    raw_body = request.get_data(cache=False, as_text=False, parse_form_data=False)
    if len(raw_body) > MAX_WEBHOOK_BYTES:
        return jsonify({"status": "too_large"}), 413
    ctx: AppContext = current_app.extensions["connector"]
    result = receive_webhook(ctx, channel_kind, connection_id, request.headers, raw_body,
                             query=request.args.to_dict())
    if result.outcome == "rejected":
        log.info("webhook %s/%s rejected", channel_kind, connection_id)
    return jsonify({"status": result.outcome, "message": result.message}), result.http_status


@webhooks_bp.post("/webhooks/erp/<int:connection_id>/<secret>")
def receive_erp(connection_id: int, secret: str):
    """The ERP's change notices (catalog, contacts, invoices) for the local mirror. Unsigned by the ERP:
    the secret in the path authenticates them (:func:`connector.mirror_events.receive_mirror_event`);
    a wrong secret and an unknown connection both answer 404, with nothing else said."""
    if request.content_length is not None and request.content_length > MAX_WEBHOOK_BYTES:
        return jsonify({"status": "too_large"}), 413
    raw_body = request.get_data(cache=False, as_text=False, parse_form_data=False)
    if len(raw_body) > MAX_WEBHOOK_BYTES:
        return jsonify({"status": "too_large"}), 413
    ctx: AppContext = current_app.extensions["connector"]
    receipt = receive_mirror_event(ctx, connection_id, secret, raw_body)
    if receipt.outcome == "not_found":
        log.info("ERP webhook for connection %s refused", connection_id)
    return jsonify({"status": receipt.outcome}), receipt.http_status


def register_webhooks(app: Flask, ctx: AppContext | None = None) -> Flask:
    """Serve the webhook endpoint on ``app`` (with ``ctx`` as its context when the app has none yet)
    and exempt it from app-wide CSRF protection, if any is installed."""
    if ctx is not None:
        app.extensions.setdefault("connector", ctx)
    if "connector" not in app.extensions:
        app.extensions["connector"] = AppContext.from_settings()
    if webhooks_bp.name not in app.blueprints:
        app.register_blueprint(webhooks_bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None and callable(getattr(csrf, "exempt", None)):
        csrf.exempt(webhooks_bp)
    return app
