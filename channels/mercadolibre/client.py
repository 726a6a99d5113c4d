"""How we talk to Mercado Libre over HTTP: one :class:`~connector.http.Requestor` with OAuth refresh.

What is Mercado Libre's own:

* Access tokens live 6 hours and come from ``POST /oauth/token`` with ``grant_type=refresh_token``.
  The refresh token **rotates** on every use (the old one stops working), so the new credentials are
  handed to ``on_credentials_changed`` *before* anything else happens: if the core cannot persist
  them, the error propagates instead of silently losing the seller's connection.
* A 401 in the middle of a run (token revoked or expired early) triggers exactly one refresh and
  one re-send of that request; a second 401 becomes :class:`InvalidCredentials`.
* 429 answers carry no documented headers: the requestor backs off exponentially with jitter.

Secrets (client secret, refresh and access tokens) never go into messages, details or logs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from connector.errors import (
    ConfigurationError,
    ConnectorError,
    InvalidCredentials,
    PermanentRejection,
    TransientError,
)
from connector.http import DEFAULT_STATUS_ERRORS, Requestor, WaitLimits

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.mercadolibre.com"
SERVICE_NAME = "Mercado Libre"
TOKEN_PATH = "/oauth/token"
REQUIRED_CREDENTIALS = ("client_id", "client_secret", "refresh_token")

# Refresh a little before the documented expiry so a token never dies between check and use.
EXPIRY_MARGIN = timedelta(seconds=120)

# 429s carry no Retry-After: 5 attempts with 1, 2, 4, 8 s (equal jitter) spread ~8-15 s in total.
MAX_ATTEMPTS = 5
BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0

ML_STATUS_ERRORS = dict(DEFAULT_STATUS_ERRORS)

AUTH_REFUSED_MESSAGE = "Mercado Libre rechazó la autorización; vuelve a conectar la cuenta."

CredentialsCallback = Callable[[dict[str, Any]], None]


def check_credentials(credentials: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``credentials`` with string values; :class:`ConfigurationError` if one is missing."""
    missing = [key for key in REQUIRED_CREDENTIALS if not str(credentials.get(key) or "").strip()]
    if missing:
        raise ConfigurationError(
            "Faltan datos para conectar Mercado Libre: " + ", ".join(missing) + ".",
            detail=f"missing credential keys: {missing}",
        )
    cleaned = dict(credentials)
    for key in REQUIRED_CREDENTIALS:
        cleaned[key] = str(credentials[key]).strip()
    return cleaned


def parse_expiry(value: Any) -> datetime | None:
    """``access_token_expires_at`` as an aware datetime (naive values are UTC); None if unusable."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class MercadoLibreOAuth(httpx.Auth):
    """Bearer auth that refreshes the access token with the (rotating) refresh token when needed.

    ``token_requestor`` sends ``POST /oauth/token`` (it has no auth of its own). ``now`` is injectable
    so tests control expiry. Thread-safe: concurrent requests share one refresh.
    """

    def __init__(self, credentials: Mapping[str, Any], token_requestor: Requestor, *,
                 on_credentials_changed: CredentialsCallback | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self._credentials = check_credentials(credentials)
        self._token_requestor = token_requestor
        self._on_credentials_changed = on_credentials_changed
        self._now = now
        self._lock = threading.RLock()
        self.refresh_count = 0

    @property
    def credentials(self) -> dict[str, Any]:
        """The current credentials (a copy), including any rotated refresh token."""
        with self._lock:
            return dict(self._credentials)

    @property
    def user_id(self) -> str | None:
        value = self._credentials.get("user_id")
        return str(value) if value not in (None, "") else None

    # -- httpx.Auth -------------------------------------------------------------------------

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            # Revoked or expired early: one refresh, one re-send. A second 401 is the caller's error.
            log.info("Mercado Libre answered 401; refreshing the access token once")
            request.headers["Authorization"] = f"Bearer {self.refresh(stale_token=token)}"
            yield request

    # -- tokens -----------------------------------------------------------------------------

    def access_token(self) -> str:
        """A usable access token, refreshing first when there is none or it (nearly) expired."""
        with self._lock:
            token = self._credentials.get("access_token")
            expires_at = parse_expiry(self._credentials.get("access_token_expires_at"))
            if token and expires_at is not None and self._now() < expires_at - EXPIRY_MARGIN:
                return str(token)
            return self._refresh_locked()

    def refresh(self, *, stale_token: str | None = None) -> str:
        """Get a new access token. With ``stale_token``, skip it if another thread already did."""
        with self._lock:
            current = self._credentials.get("access_token")
            if stale_token is not None and current and current != stale_token:
                return str(current)
            return self._refresh_locked()

    def _refresh_locked(self) -> str:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._credentials["client_id"],
            "client_secret": self._credentials["client_secret"],
            "refresh_token": self._credentials["refresh_token"],
        }
        try:
            # Re-sent on 5xx/timeouts although the token rotates: if ML did rotate and the answer was
            # lost, the new token is lost either way (the next attempt, now or in the next sync, gets
            # invalid_grant); if it did not, retrying now saves a failed sync.
            response = self._token_requestor.post(TOKEN_PATH, data=form, idempotent=True)
        except (InvalidCredentials, PermanentRejection) as exc:  # 400 invalid_grant, 401, 403
            raise InvalidCredentials(AUTH_REFUSED_MESSAGE, detail=exc.detail,
                                     status_code=exc.status_code) from exc
        body = _token_body(response)
        issued_at = self._now()
        self._credentials.update(
            access_token=body["access_token"],
            refresh_token=body["refresh_token"],
            access_token_expires_at=(issued_at + timedelta(seconds=body["expires_in"])).isoformat(),
        )
        if body.get("user_id") not in (None, ""):
            self._credentials["user_id"] = str(body["user_id"])
        self.refresh_count += 1
        log.info("Mercado Libre access token refreshed (user %s)", self._credentials.get("user_id"))
        if self._on_credentials_changed is not None:
            self._on_credentials_changed(dict(self._credentials))
        return body["access_token"]


def _token_body(response: httpx.Response) -> dict[str, Any]:
    """The token answer, checked: ``access_token`` and ``refresh_token`` strings, ``expires_in`` seconds."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise TransientError("Mercado Libre respondió algo inesperado al renovar el acceso.",
                             detail="token response is not a JSON object")
    access, refresh = body.get("access_token"), body.get("refresh_token")
    if not isinstance(access, str) or not access or not isinstance(refresh, str) or not refresh:
        raise TransientError("Mercado Libre respondió algo inesperado al renovar el acceso.",
                             detail=f"token response keys: {sorted(body)}")
    expires_in = body.get("expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
        expires_in = 21600  # documented lifetime: 6 hours
    return {**body, "expires_in": float(expires_in)}


class MercadoLibreClient:
    """The API requestor (OAuth bearer, retries, error table), its auth and the token endpoint's requestor.

    ``calls`` counts every HTTP request sent, token refreshes and retries included.
    """

    def __init__(self, credentials: Mapping[str, Any], *, base_url: str = DEFAULT_BASE_URL,
                 timeout: float = 20.0, on_credentials_changed: CredentialsCallback | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep,
                 status_errors: Mapping[int, type[ConnectorError]] | None = None,
                 wait_limits: WaitLimits | None = None):
        common: dict[str, Any] = dict(**(wait_limits or WaitLimits()).as_kwargs(),
            service=SERVICE_NAME, base_url=base_url, timeout=timeout, transport=transport, sleep=sleep,
            max_attempts=MAX_ATTEMPTS, backoff_base=BACKOFF_BASE, backoff_cap=BACKOFF_CAP,
            status_errors=dict(status_errors or ML_STATUS_ERRORS),
        )
        self.token_api = Requestor(**common)
        self.auth = MercadoLibreOAuth(credentials, self.token_api, on_credentials_changed=on_credentials_changed)
        self.api = Requestor(auth=self.auth, **common)

    @property
    def calls(self) -> int:
        return self.api.calls + self.token_api.calls

    def close(self) -> None:
        self.api.close()
        self.token_api.close()
