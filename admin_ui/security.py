"""Sign-in, sessions, CSRF and security headers of the admin UI.

* **Session cookie**: Flask's signed cookie, ``HttpOnly`` and ``SameSite=Lax`` always; ``Secure`` always
  in production. In sandbox/dev mode, a request over plain http to a loopback host (``make demo``, the
  browser tests) gets a cookie without ``Secure``, or the browser would drop it. The cookie carries
  only the user id, a fingerprint of the password hash (a password change signs every session out),
  the CSRF token and the language.
* **Secret key**: ``CONNECTOR_WEB_SECRET``; in sandbox/dev mode, when unset, generated once into
  ``<data_dir>/web.key`` (0600). Production refuses to start without it.
* **HSTS**: ``Strict-Transport-Security`` on every answer served over https (as the trusted proxies
  say, see ``CONNECTOR_TRUSTED_PROXIES``).
* **CSRF**: every POST of our blueprints must carry the session's token (form field ``csrf_token`` or
  header ``X-CSRF-Token``), compared in constant time; missing or wrong → 400.
* **Scoping**: every view reads the account from the signed-in user (:func:`account_id`) and passes
  it to the services, which refuse another account's rows as "not found" (→ 404).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import deque
from pathlib import Path
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

from connector.context import AppContext
from connector.errors import ConfigurationError
from connector.settings import Settings
from connector.users import get_active_user

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def load_secret_key(settings: Settings) -> str:
    """``CONNECTOR_WEB_SECRET``, or the key in ``<data_dir>/web.key`` (created once, readable by us only)."""
    if settings.web_secret is not None and settings.web_secret.get_secret_value().strip():
        return settings.web_secret.get_secret_value().strip()
    if not settings.generates_missing_keys:
        raise ConfigurationError(
            "En producción CONNECTOR_WEB_SECRET debe venir del entorno (todos los procesos web la comparten): "
            "crea una con python -c 'import secrets; print(secrets.token_hex(32))'.")
    path = Path(settings.data_dir) / "web.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it a moment ago
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
    for _ in range(50):  # the creator may still be writing
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty")


def connector() -> AppContext:
    return current_app.extensions["connector"]


def is_relaxed_transport() -> bool:
    """Sandbox/dev mode over plain http on loopback: the only case a session cookie goes without Secure."""
    if connector().settings.mode not in ("sandbox", "dev") or request.is_secure:
        return False
    return (urlsplit(f"//{request.host}").hostname or "") in LOOPBACK_HOSTS


class ConnectorSessionInterface(SecureCookieSessionInterface):
    """The signed-cookie session whose ``Secure`` flag follows :func:`is_relaxed_transport`."""

    def get_cookie_secure(self, app) -> bool:
        return not is_relaxed_transport()


# -- CSRF ------------------------------------------------------------------------------------------


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Abort with 400 when a state-changing request lacks the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    expected = session.get("csrf")
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    if not expected or not sent or not hmac.compare_digest(str(sent), str(expected)):
        abort(400, description="csrf")


# -- signing in ------------------------------------------------------------------------------------


def password_fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def sign_in(user) -> None:
    """A fresh session for ``user`` (a new CSRF token too: nothing from before sign-in is kept)."""
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    session["pwd"] = password_fingerprint(user.password_hash)
    session["locale"] = user.locale
    csrf_token()


def sign_out() -> None:
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale


def load_user() -> None:
    """Put the signed-in user (or None) and their account id on ``g``."""
    g.user = None
    uid = session.get("uid")
    if not uid:
        return
    user = get_active_user(connector(), uid)
    if user is None or session.get("pwd") != password_fingerprint(user.password_hash):
        sign_out()
        return
    g.user = user


def account_id() -> int:
    """The signed-in user's account: the only account any view may read or change."""
    user = g.get("user")
    if user is None:
        abort(401)
    return user.account_id


def actor() -> str:
    """Who did it, for the orders' trail."""
    return f"web:{g.user.email}" if g.get("user") else "web"


def require_user():
    """``before_request`` of the signed-in blueprints: CSRF on writes, then a signed-in user."""
    check_csrf()
    if g.get("user") is None:
        if request.method in SAFE_METHODS and not wants_json():
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(401)
    return None


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def safe_next(target: str | None, default: str) -> str:
    """Only a path on this site (never ``//evil`` or ``https://evil``) is followed after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else default


# -- sign-in throttle ----------------------------------------------------------------------------


class LoginThrottle:
    """At most ``limit`` failed sign-ins per e-mail and per client address in ``window`` seconds."""

    def __init__(self, limit: int = 8, window: float = 900.0):
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and now - failures[0] > self.window:
            failures.popleft()
        return failures

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        with self._lock:
            return any(len(self._recent(k, now)) >= self.limit for k in keys)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                           "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'")


# One year; subdomains are left alone (the seller's other sites may not all speak https).
HSTS = "max-age=31536000"


def add_security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    # The OAuth callback URL carries a code: never hand it to another site in a Referer.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    if request.is_secure:  # over plain http it means nothing (browsers ignore it there)
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response
