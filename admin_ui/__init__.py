"""The admin web application (Flask app factory). The seller-facing pages arrive with the admin UI
issue; today it serves the health check that deployments (docker-compose, load balancers) probe."""

from __future__ import annotations

from flask import Flask, jsonify
from sqlalchemy import text

from connector.context import AppContext


def create_app(ctx: AppContext | None = None) -> Flask:
    app = Flask(__name__)
    app.extensions["connector"] = ctx or AppContext.from_settings()

    @app.get("/healthz")
    def healthz():
        context: AppContext = app.extensions["connector"]
        try:
            with context.db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - report, never crash the probe
            return jsonify({"status": "error", "database": type(exc).__name__}), 503
        return jsonify({"status": "ok", "database": "ok", "mode": context.settings.mode})

    return app
