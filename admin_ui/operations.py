"""What operators and their tools call, outside the seller's panel: ``/healthz`` and ``/metrics``.

* ``/healthz`` — 200 ``{"status": "ok", "database": "ok", "redis": "ok"}`` when the database (and
  Redis, when ``REDIS_URL`` is set) answer; 503 with the failing part named otherwise. No secrets,
  no tenant data: a load balancer may call it from anywhere.
* ``/metrics`` — Prometheus's text format (``connector/metrics.py``). Counts only, but still not for
  the public: with ``CONNECTOR_METRICS_TOKEN`` it needs ``Authorization: Bearer <token>``; without
  one, only a loopback client (as ProxyFix sees it: behind a trusted proxy, the real client) gets it.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from flask import Flask, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from connector.context import AppContext
from connector.metrics import metrics_registry

log = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 3


def register_operations(app: Flask) -> None:
    # Built now, not at the first scrape: it also points this process's HTTP call counts at Redis
    # (when configured) before the first call is made.
    app.extensions["metrics_registry"] = metrics_registry(app.extensions["connector"])
    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/metrics", "metrics", metrics)


def _context() -> AppContext:
    return current_app.extensions["connector"]


def _check_database(context: AppContext) -> str:
    try:
        with context.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - report, never crash the probe
        log.warning("healthz: database unavailable: %s", type(exc).__name__)
        return "error"
    return "ok"


def _check_redis(url: str) -> str:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=CHECK_TIMEOUT_SECONDS,
                                  socket_connect_timeout=CHECK_TIMEOUT_SECONDS)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001
        log.warning("healthz: Redis unavailable: %s", type(exc).__name__)
        return "error"
    finally:
        client.close()
    return "ok"


def healthz():
    context = _context()
    checks = {"database": _check_database(context)}
    if context.settings.redis_url:
        checks["redis"] = _check_redis(context.settings.redis_url)
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "error", **checks, "mode": context.settings.mode}
    return jsonify(body), 200 if healthy else 503


def _is_loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def _metrics_allowed(token: str) -> bool:
    if not token:
        return _is_loopback(request.remote_addr)
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode())


def metrics():
    context = _context()
    secret = context.settings.metrics_token
    token = secret.get_secret_value().strip() if secret is not None else ""
    if not _metrics_allowed(token):
        if token:
            return Response("unauthorized\n", 401, {"WWW-Authenticate": 'Bearer realm="metrics"'},
                            mimetype="text/plain")
        return Response("forbidden: /metrics answers loopback clients only (or set CONNECTOR_METRICS_TOKEN)\n",
                        403, mimetype="text/plain")
    return Response(generate_latest(current_app.extensions["metrics_registry"]), 200,
                    {"Content-Type": CONTENT_TYPE_LATEST})
