"""How we talk to Alegra over HTTP: Basic auth, its error envelopes and its rate-limit headers.

Everything goes through one :class:`AlegraRequestor` (a :class:`connector.http.Requestor`), so
timeouts, retries and the status -> error table stay in ``connector/http.py``. What is Alegra's own:

* Error bodies come in three envelopes — ``{"message", "code"}``, ``{"error": {"message", ...}}``
  and ``{"error": "text"}`` — and the seller must read Alegra's own words (:func:`alegra_error_message`).
* 429 answers carry ``X-Rate-Limit-Reset`` (seconds left in the window), not ``Retry-After``.
* Every answer carries ``X-Rate-Limit-Limit/Remaining/Reset``: :func:`read_window` hands them to the
  shared limiter (:mod:`connector.ratelimit`), which keeps every worker inside the window.
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Callable, Iterable

import httpx

from connector.errors import ConnectorError, FeatureNotAvailable, RateLimited
from connector.http import DEFAULT_STATUS_ERRORS, RateLimitPolicy, Requestor, WaitLimits, parse_retry_after
from connector.ratelimit import WindowReading

DEFAULT_BASE_URL = "https://api.alegra.com/api/v1"
SERVICE_NAME = "Alegra"
MAX_PAGE_SIZE = 30  # Alegra answers 400 to limit > 30

# Alegra's window is a minute; a larger wait is a broken header, not a reason to stall a worker.
MAX_RESET_SECONDS = 120.0
# A reset value this large is an epoch timestamp, not "seconds left" (defensive: documented as seconds).
_EPOCH_THRESHOLD = 1_000_000_000

ALEGRA_STATUS_ERRORS = {**DEFAULT_STATUS_ERRORS, 402: FeatureNotAvailable, 429: RateLimited}


def alegra_error_message(response: httpx.Response) -> str:
    """Alegra's own text from any of its three error envelopes, else the HTTP reason."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:300] if text and not text.startswith("<") else (response.reason_phrase or
                                                                    f"HTTP {response.status_code}")
    message = _message_from(body)
    return message or response.reason_phrase or f"HTTP {response.status_code}"


def _message_from(body: object) -> str | None:
    if isinstance(body, str):
        return body.strip() or None
    if isinstance(body, list):  # some validation errors come as a list of envelopes
        parts = [m for m in (_message_from(item) for item in body) if m]
        return "; ".join(parts) or None
    if not isinstance(body, dict):
        return None
    for key in ("message", "error", "errors", "error_description"):
        if key in body:
            found = _message_from(body[key])
            if found:
                return found
    return None


def rate_limit_reset_seconds(headers: httpx.Headers, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds until the rate-limit window resets (``X-Rate-Limit-Reset``, else ``Retry-After``)."""
    reset = parse_retry_after(headers.get("X-Rate-Limit-Reset"))
    if reset is not None and reset > _EPOCH_THRESHOLD:
        reset = max(0.0, reset - now())
    if reset is None:
        reset = parse_retry_after(headers.get("Retry-After"))
    if reset is None or not math.isfinite(reset):
        return None
    return min(reset, MAX_RESET_SECONDS)


RATE_LIMIT_PER_MINUTE = 150  # per Alegra user (API_NOTES)


def read_window(response: httpx.Response) -> WindowReading | None:
    """What an Alegra answer says about the user's rate-limit window (None: no rate-limit headers).

    ``X-Rate-Limit-Reset`` is documented as the seconds left in the window; a 429 without it is
    still a spent window (the limiter then assumes a whole one).
    """
    headers = response.headers
    limit = _int_header(headers.get("X-Rate-Limit-Limit"))
    remaining = _int_header(headers.get("X-Rate-Limit-Remaining"))
    reading = WindowReading(limit=limit if limit and limit > 0 else None,
                            remaining=max(0, remaining) if remaining is not None else None,
                            reset_seconds=rate_limit_reset_seconds(headers), spent=response.status_code == 429)
    return None if reading == WindowReading() else reading


def _int_header(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except (ValueError, OverflowError):
        return None


class AlegraRequestor(Requestor):
    """The shared requestor with Alegra's two quirks on error answers.

    The seller always reads Alegra's own message (the shared table words 5xx and 429 generically), and a
    429 carries ``X-Rate-Limit-Reset`` as its ``retry_after`` (the order's retry time; the shared
    limiter's next ``acquire`` waits for the window itself). Secrets given in ``secrets`` are masked from any text.
    """

    secrets: tuple[str, ...] = ()

    def request(self, method: str, path: str, *, idempotent: bool, **kwargs) -> httpx.Response:
        try:
            return super().request(method, path, idempotent=idempotent, **kwargs)
        except ConnectorError as exc:  # every error we raise, transport ones included, leaves masked
            exc.user_message = mask_secrets(exc.user_message, self.secrets) or ""
            exc.detail = mask_secrets(exc.detail, self.secrets)
            exc.args = (exc.user_message,)
            raise

    def _raise_for_status(self, response: httpx.Response, idempotent: bool) -> None:
        try:
            super()._raise_for_status(response, idempotent)
        except ConnectorError as exc:
            message = self.error_message(response)
            if message and message not in exc.user_message:
                exc.user_message = f"{exc.user_message.rstrip('.')}: {message}"
                exc.args = (exc.user_message,)
            if isinstance(exc, RateLimited) and exc.retry_after is None:
                exc.retry_after = rate_limit_reset_seconds(response.headers)
            raise


def mask_secrets(text: str | None, secrets: Iterable[str]) -> str | None:
    """``text`` with every secret replaced by ``***`` (defensive: an API may echo request data).

    Secrets shorter than 8 characters are left alone: no real token is that short, and masking one
    would garble the message (a token "t" would eat every letter t).
    """
    if not text:
        return text
    for secret in secrets:
        if len(secret) >= 8:
            text = text.replace(secret, "***")
    return text


def build_requestor(*, email: str, token: str, base_url: str, timeout: float,
                    rate_limit: RateLimitPolicy, transport: httpx.BaseTransport | None,
                    sleep: Callable[[float], None], wait_limits: WaitLimits | None = None) -> AlegraRequestor:
    """The one requestor an :class:`~erp.alegra.adapter.AlegraAdapter` uses (Basic ``email:token``)."""
    requestor = AlegraRequestor(
        service=SERVICE_NAME,
        base_url=base_url,
        auth=httpx.BasicAuth(email, token),
        timeout=timeout,
        status_errors=dict(ALEGRA_STATUS_ERRORS),
        error_message=alegra_error_message,
        rate_limit=rate_limit,
        transport=transport,
        sleep=sleep,
        **(wait_limits or WaitLimits()).as_kwargs(),
    )
    basic = base64.b64encode(f"{email}:{token}".encode()).decode()
    requestor.secrets = (token, basic)
    return requestor
