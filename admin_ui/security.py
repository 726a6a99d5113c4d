"""Sign-in, sessions, CSRF and security headers of the admin UI.

* **Session cookie**: Flask's signed cookie, ``HttpOnly`` and ``SameSite=Lax`` always; ``Secure`` always
  in production. In sandbox/dev mode, a request over plain http to a loopback host (``make demo``, the
  browser tests) gets a cookie without ``Secure``, or the browser would drop it. The cookie carries
  only the token of a server-side session (:mod:`connector.user_sessions`), the CSRF token and the
  language. Every request checks that session: sign-out, a password change and an operator's reset
  end it, and it ends by itself when idle or too old — a copied cookie opens nothing after that.
* **Secret key**: ``CONNECTOR_WEB_SECRET``; in sandbox/dev mode, when unset, generated once into
  ``<data_dir>/web.key`` (0600). Production refuses to start without it.
* **HSTS**: ``Strict-Transport-Security`` on every answer served over https (as the trusted proxies
  say, see ``CONNECTOR_TRUSTED_PROXIES``).
* **CSRF**: every POST of our blueprints must carry the session's token (form field ``csrf_token`` or
  header ``X-CSRF-Token``), compared in constant time; missing or wrong → 400.
* **Password checks** (:func:`password_check`, for signing in and for the current password on the
  change page): an attempt is reserved in the database first (:mod:`connector.login_throttle`; per
  e-mail from this address, and per address), then one of the process's few hashing slots is taken
  (:class:`PasswordCheckSlots`); no attempt left → 429, no slot in time → 503.
* **Clock**: sessions and the throttle read "now" from the app's ``CLOCK`` only (:func:`now`).
* **Scoping**: every view reads the account from the signed-in user (:func:`account_id`) and passes
  it to the services, which refuse another account's rows as "not found" (→ 404).
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

from connector.context import AppContext
from connector.errors import ConfigurationError
from connector.login_throttle import LoginThrottle
from connector.settings import Settings
from connector.user_sessions import SessionPolicy, resume_session, revoke_session, start_session
from connector.users import normalise_email, set_user_locale

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


def now() -> datetime:
    """The app's clock (``CLOCK``): sessions and the sign-in throttle read time from here only."""
    return current_app.config["CLOCK"]()


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


def session_policy() -> SessionPolicy:
    return SessionPolicy.from_settings(connector().settings)


def sign_in(user) -> None:
    """A fresh session for ``user`` (a new CSRF token too: nothing from before sign-in is kept)."""
    revoke_session(connector(), session_token(), now())  # signing in again over a session ends that one
    token = start_session(connector(), user.id, now(), session_policy())
    # A language picked on the sign-in page is what this person wants to read: it becomes theirs
    # (kept on the user, so the next sign-in and their other devices read it too). Without a pick,
    # the user's saved language; a language left in the cookie by someone else is not a pick.
    picked = session.get("locale") if session.get("locale_picked") else None
    if picked and picked != user.locale:
        try:
            set_user_locale(connector(), user.id, picked)
            user.locale = picked
        except ConfigurationError:
            pass
    session.clear()
    session.permanent = True
    session["sid"] = token
    session["locale"] = user.locale
    csrf_token()


def session_token() -> str | None:
    return session.get("sid")


def forget_session() -> None:
    """Drop this browser's session data (the language stays)."""
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale


def sign_out() -> None:
    """End the session on the server too: a copy of the cookie is worth nothing afterwards."""
    revoke_session(connector(), session_token(), now())
    forget_session()


def load_user() -> None:
    """Put the signed-in user (or None) on ``g``: only while their server-side session lives."""
    g.user = None
    if not session.get("sid"):
        return
    user = resume_session(connector(), session_token(), now(), session_policy())
    if user is None:
        forget_session()
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


# -- password checks -------------------------------------------------------------------------------


class PasswordChecksBusy(Exception):
    """No free password-check slot in time: the sign-in is answered 503 (try again shortly)."""


class PasswordCheckSlots:
    """At most ``size`` password checks (argon2id: CPU and ~19 MiB each) at once in this process.

    A sign-in waits at most ``wait`` seconds for a slot, and only while fewer than ``max_waiting``
    others (default: four per slot) are already waiting; otherwise it is refused at once. A burst thus costs a bounded amount of memory, CPU
    and waiting threads instead of a queue without bound."""

    def __init__(self, size: int, wait: float, max_waiting: int | None = None):
        self._slots = threading.BoundedSemaphore(max(1, size))
        self.wait = wait
        self.max_waiting = max_waiting if max_waiting is not None else 4 * max(1, size)
        self._waiting = 0
        self._lock = threading.Lock()

    @contextmanager
    def slot(self):
        if not self._slots.acquire(blocking=False):
            with self._lock:
                if self._waiting >= self.max_waiting:
                    raise PasswordChecksBusy
                self._waiting += 1
            try:
                acquired = self._slots.acquire(timeout=self.wait)
            finally:
                with self._lock:
                    self._waiting -= 1
            if not acquired:
                raise PasswordChecksBusy
        try:
            yield
        finally:
            self._slots.release()


class AttemptsSpent(Exception):
    """This e-mail from this address (or this address) used up its password attempts: answered 429."""


@contextmanager
def password_check(email: str):
    """One throttled, bounded password check for ``email`` from this client (sign-in, password change).

    The attempt is reserved first (:class:`AttemptsSpent` when there is none left), then a hashing slot
    is taken (:class:`PasswordChecksBusy`; the attempt is given back, it was never evaluated). The body
    checks the password: leaving it normally gives the attempt back (a right password costs nothing),
    an exception leaves it counted."""
    throttle: LoginThrottle = current_app.extensions["login_throttle"]
    slots: PasswordCheckSlots = current_app.extensions["password_check_slots"]
    attempt = (normalise_email(email), request.remote_addr or "")
    if not throttle.reserve(*attempt, now()):
        raise AttemptsSpent
    try:
        with slots.slot():
            yield
    except PasswordChecksBusy:
        throttle.give_back(*attempt)
        raise
    throttle.succeeded(*attempt)


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
