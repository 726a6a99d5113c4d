"""Serving the admin UI in production: gunicorn, started from ``connector web``.

Werkzeug's development server opens a thread per connection with no cap; gunicorn runs
``CONNECTOR_WEB_WORKERS`` processes of ``CONNECTOR_WEB_THREADS`` threads each (the ``gthread``
worker: idle keep-alive connections wait in its poller, not in a thread), restarts a worker that
dies, and stops gracefully on SIGTERM.

The app is built once in the master before any worker is forked, so a bad setting (a missing secret,
an unreachable database URL) stops ``connector web`` with one line instead of a crash loop of workers;
each worker then drops the database connections it inherited and opens its own.

Sandbox/dev mode (``make demo``, the tests) keeps Werkzeug's server: one process, quick to start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger

from connector.db import forget_connections_after_fork
from connector.logs import json_formatter_if_configured
from connector.settings import Settings

log = logging.getLogger(__name__)


class ConnectorGunicornLogger(GunicornLogger):
    """Gunicorn's own log lines in the connector's format (one JSON object per line with
    ``CONNECTOR_LOG_FORMAT=json``)."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        formatter = json_formatter_if_configured()
        if formatter is not None:
            for logger in (self.error_log, self.access_log):
                for handler in logger.handlers:
                    handler.setFormatter(formatter)


class AdminUIServer(BaseApplication):
    """gunicorn serving one already-built Flask app (no import string, no config file)."""

    def __init__(self, app: Flask, options: dict):
        self.application, self.options = app, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def gunicorn_options(settings: Settings, host: str, port: int, *,
                     on_ready: Callable[[str], None] | None = None,
                     in_each_worker: Callable[[], Callable[[], None] | None] | None = None) -> dict:
    """gunicorn's settings for ``connector web``.

    ``on_ready(url)`` runs in the master once it listens (the real port when ``port`` is 0);
    ``in_each_worker()`` runs in every worker after it starts and may return a function to call when
    that worker exits (the embedded scheduler uses both).
    """
    stoppers: list[Callable[[], None]] = []

    def when_ready(server) -> None:
        if on_ready is not None:
            sock_host, sock_port = server.LISTENERS[0].sock.getsockname()[:2]
            shown = f"[{sock_host}]" if ":" in sock_host else sock_host
            on_ready(f"http://{shown}:{sock_port}")

    def post_fork(_server, _worker) -> None:
        forget_connections_after_fork()

    def post_worker_init(_worker) -> None:
        if in_each_worker is not None:
            stop = in_each_worker()
            if stop is not None:
                stoppers.append(stop)

    def worker_exit(_server, _worker) -> None:
        for stop in stoppers:
            stop()

    return {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": settings.web_workers,
        "threads": settings.web_threads,
        "worker_class": "gthread",
        "timeout": 60,
        "graceful_timeout": 20,
        "keepalive": 5,
        # A few hundred thousand requests, then a fresh process (bounded memory growth), staggered.
        "max_requests": 200_000,
        "max_requests_jitter": 20_000,
        # The client address and the scheme come from ProxyFix (CONNECTOR_TRUSTED_PROXIES) alone: one
        # place decides whose X-Forwarded-* headers to believe.
        "secure_scheme_headers": {},
        "forwarded_allow_ips": "",
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "logger_class": ConnectorGunicornLogger,
        "proc_name": "connector-web",
        "control_socket_disable": True,  # no gunicornc here; and two instances would share its path
        "when_ready": when_ready,
        "post_fork": post_fork,
        "post_worker_init": post_worker_init,
        "worker_exit": worker_exit,
    }


def serve_with_gunicorn(app: Flask, settings: Settings, host: str, port: int, **hooks) -> None:
    """Serve ``app`` until SIGTERM/SIGINT (blocks; gunicorn's master stays in this process)."""
    AdminUIServer(app, gunicorn_options(settings, host, port, **hooks)).run()
