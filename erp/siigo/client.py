"""How we talk to Siigo over HTTP: a 24-hour token from ``POST /auth``, the ``Partner-Id`` header, its
error envelope and its rate limit (facts and sources: ``erp/siigo/API_FACTS.md``).

Everything goes through one :class:`SiigoRequestor` (a :class:`connector.http.Requestor`), so timeouts,
retries and the status -> error table stay in ``connector/http.py``. What is Siigo's own:

* :class:`SiigoTokenAuth` gets the token with ``username`` + ``access_key``, keeps it until shortly before
  its 24 hours end, and on a ``401`` fetches a new one and repeats the request once (a 401 means the
  request was refused, so repeating even a write is safe).
* Error bodies are ``{"Status", "Errors": [{"Code", "Message", "Params", "Detail"}]}``; the seller reads
  Siigo's own messages (:func:`siigo_error_message`). Some codes say "our service is down, try again"
  whatever the status (:data:`TRANSIENT_CODES`); a ``408`` is Siigo giving up mid-request — like a 5xx it
  may have happened, so on a write it is ambiguous.
* The limit is 100 requests a minute per company (10 for the test company); no rate-limit header is
  documented, so :func:`read_window` only reports a 429 (and a ``Retry-After`` if one ever comes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator

import httpx

from connector.errors import (
    AmbiguousOutcome,
    ConnectorError,
    InvalidCredentials,
    InvalidPayload,
    RateLimited,
    TransientError,
)
from connector.http import DEFAULT_STATUS_ERRORS, RateLimitPolicy, Requestor, WaitLimits, parse_retry_after
from connector.ratelimit import WindowReading
from erp.alegra.client import mask_secrets

DEFAULT_BASE_URL = "https://api.siigo.com"
SERVICE_NAME = "Siigo"
PAGE_SIZE = 25  # Siigo's documented page (a larger page_size is used by clients but not documented)
RATE_LIMIT_PER_MINUTE = 100  # per Siigo Nube company (the test company: 10)
# How we name ourselves in the Partner-Id header Siigo requires on every call: 3-100 alphanumerics.
PARTNER_ID = "MarketplaceConnector"
TOKEN_LIFETIME = 24 * 3600.0
TOKEN_RENEW_MARGIN = 300.0  # renew five minutes early: a call must not carry a token that dies in flight

# Codes Siigo documents as "a service of ours is unavailable, try again in a few minutes".
TRANSIENT_CODES = frozenset({"documents_service", "payment_types_service", "general_service",
                             "service_unavailable", "request_timeout", "entry_service"})

SIIGO_STATUS_ERRORS = {**DEFAULT_STATUS_ERRORS, 429: RateLimited}


def siigo_errors(response: httpx.Response) -> list[dict]:
    """The ``Errors`` entries of a Siigo error body ([] when it has none)."""
    try:
        body = response.json()
    except ValueError:
        return []
    if not isinstance(body, dict):
        return []
    errors = body.get("Errors") or body.get("errors") or []
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def siigo_error_message(response: httpx.Response) -> str:
    """Siigo's own messages (``Errors[].Message``), else any ``message``, else the HTTP reason."""
    messages = [str(e.get("Message") or e.get("message") or "").strip() for e in siigo_errors(response)]
    messages = [m for m in messages if m]
    if messages:
        return "; ".join(messages)[:500]
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:300] if text and not text.startswith("<") else (response.reason_phrase or
                                                                    f"HTTP {response.status_code}")
    if isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"].strip():
        return body["message"].strip()[:300]
    return response.reason_phrase or f"HTTP {response.status_code}"


def siigo_error_codes(response: httpx.Response) -> set[str]:
    return {str(e.get("Code") or e.get("code") or "").strip().lower() for e in siigo_errors(response)} - {""}


def read_window(response: httpx.Response) -> WindowReading | None:
    """What a Siigo answer says of the company's window: only a 429 says anything (no headers are
    documented); the shared limiter then treats the window as spent for ``Retry-After`` or a minute."""
    if response.status_code != 429:
        return None
    return WindowReading(reset_seconds=parse_retry_after(response.headers.get("Retry-After")), spent=True)


class SiigoTokenAuth(httpx.Auth):
    """Bearer token from ``POST /auth`` (valid 24 h), renewed early and once more on a 401.

    The token request rides inside the call that needed it (httpx auth flows may send extra requests),
    so it shares that call's timeout, transport and error handling. ``clock`` lets tests age the token.
    """

    requires_response_body = True  # the token answer and the 401 are read inside the flow

    def __init__(self, *, username: str, access_key: str, auth_url: str, clock: Callable[[], float]):
        self.username = username
        self.access_key = access_key
        self.auth_url = auth_url
        self.clock = clock
        self.token: str | None = None
        self.expires_at = 0.0
        self.token_requests = 0
        self._lock = threading.Lock()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._current()
        if token is None:
            token = self._accept((yield self._token_request()))
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:  # expired early or revoked: one new token, one repeat
            response.read()
            token = self._accept((yield self._token_request()))
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def _current(self) -> str | None:
        with self._lock:
            return self.token if self.token and self.clock() < self.expires_at else None

    def _token_request(self) -> httpx.Request:
        self.token_requests += 1
        return httpx.Request("POST", self.auth_url, json={"username": self.username, "access_key": self.access_key},
                             headers={"Accept": "application/json", "Partner-Id": PARTNER_ID})

    def _accept(self, response: httpx.Response) -> str:
        """The token of a ``POST /auth`` answer, remembered; a refusal becomes the right error."""
        response.read()
        status = response.status_code
        if status in (400, 401, 403):
            raise InvalidCredentials(f"Siigo rechazó las credenciales: {siigo_error_message(response)}",
                                     detail=f"HTTP {status} POST /auth", status_code=status)
        if status == 429:
            raise RateLimited("Siigo pidió esperar (límite de peticiones).", status_code=status,
                              retry_after=parse_retry_after(response.headers.get("Retry-After")),
                              detail="HTTP 429 POST /auth")
        if not 200 <= status < 300:
            # Asking for a token changes nothing: any failure is safe to retry, even inside a write.
            raise TransientError(f"Siigo no está disponible en este momento ({status}).",
                                 detail=f"HTTP {status} POST /auth: {siigo_error_message(response)}",
                                 status_code=status)
        try:
            body = response.json()
        except ValueError:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token.strip():
            raise InvalidPayload("Siigo no devolvió el token de acceso.", detail=f"POST /auth: {str(body)[:200]}")
        lifetime = _lifetime_seconds(body.get("expires_in"))
        with self._lock:
            self.token = token.strip()
            self.expires_at = self.clock() + max(lifetime - TOKEN_RENEW_MARGIN, 60.0)
        return self.token


def _lifetime_seconds(value: object) -> float:
    """``expires_in`` as seconds, at most 24 h (documented as "milliseconds" with the value 86400:
    read as seconds, and never trusted beyond the documented 24 hours)."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return TOKEN_LIFETIME
    return min(seconds, TOKEN_LIFETIME) if seconds > 0 else TOKEN_LIFETIME


class SiigoRequestor(Requestor):
    """The shared requestor with Siigo's error envelope, its transient codes and its 408.

    Secrets in ``secrets`` (the access key, the token) are masked from every error text.
    """

    secrets: tuple[str, ...] = ()
    token_auth: SiigoTokenAuth | None = None

    def request(self, method: str, path: str, *, idempotent: bool, **kwargs) -> httpx.Response:
        try:
            return super().request(method, path, idempotent=idempotent, **kwargs)
        except ConnectorError as exc:
            masks = self.secrets + ((self.token_auth.token,) if self.token_auth and self.token_auth.token else ())
            exc.user_message = mask_secrets(exc.user_message, masks) or ""
            exc.detail = mask_secrets(exc.detail, masks)
            exc.args = (exc.user_message,)
            raise

    def _raise_for_status(self, response: httpx.Response, idempotent: bool) -> None:
        status = response.status_code
        message = self.error_message(response)
        detail = f"HTTP {status} {response.request.method} {response.request.url.path}: {message}"
        if status == 408:  # Siigo stopped waiting for itself: the document may exist
            cls = TransientError if idempotent else AmbiguousOutcome
            raise cls(f"Siigo no terminó la petición a tiempo: {message}", detail=detail, status_code=status)
        if 400 <= status < 500 and status != 429 and siigo_error_codes(response) & TRANSIENT_CODES:
            # Siigo says one of its services is down: nothing was done, try again later.
            raise TransientError(f"Siigo no está disponible en este momento: {message}", detail=detail,
                                 status_code=None if not idempotent else status)
        try:
            super()._raise_for_status(response, idempotent)
        except ConnectorError as exc:
            if message and message not in exc.user_message:
                exc.user_message = f"{exc.user_message.rstrip('.')}: {message}"
                exc.args = (exc.user_message,)
            raise


def build_requestor(*, username: str, access_key: str, base_url: str, timeout: float,
                    rate_limit: RateLimitPolicy, transport: httpx.BaseTransport | None,
                    sleep: Callable[[float], None], clock: Callable[[], float] = time.monotonic,
                    wait_limits: WaitLimits | None = None) -> SiigoRequestor:
    """The one requestor a :class:`~erp.siigo.adapter.SiigoAdapter` uses."""
    base = base_url.rstrip("/")
    auth = SiigoTokenAuth(username=username, access_key=access_key, auth_url=f"{base}/auth", clock=clock)
    requestor = SiigoRequestor(
        service=SERVICE_NAME,
        base_url=base,
        auth=auth,
        timeout=timeout,
        status_errors=dict(SIIGO_STATUS_ERRORS),
        error_message=siigo_error_message,
        rate_limit=rate_limit,
        headers={"Partner-Id": PARTNER_ID, "Content-Type": "application/json"},
        transport=transport,
        sleep=sleep,
        **(wait_limits or WaitLimits()).as_kwargs(),
    )
    requestor.secrets = (access_key,)
    requestor.token_auth = auth
    return requestor
