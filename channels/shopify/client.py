"""How we talk to Shopify's Admin REST API: one :class:`~connector.http.Requestor` with the access token.

What is Shopify's own:

* The API lives at ``https://{shop}.myshopify.com/admin/api/{version}``; the shop must be a
  ``*.myshopify.com`` name (anything else would send the token to an arbitrary host). In sandbox/dev
  mode ``ChannelOptions.base_url`` replaces ``https://{shop}``.
* Every request carries ``X-Shopify-Access-Token``.
* Rate limit: a **leaky bucket** of 40 requests draining 2 per second per app and store (standard
  plans). Each answer says how full it is (``X-Shopify-Shop-Api-Call-Limit: 32/40``);
  :class:`LeakyBucket` waits *before* a request that would overflow it, and a 429 still answered
  is retried after its ``Retry-After`` seconds by the requestor.
* Errors come as ``{"errors": "text"}`` or ``{"errors": {"field": ["text", ...]}}``.

The access token never goes into messages, details or logs.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from connector.errors import ConfigurationError, ConnectorError, InvalidCredentials
from connector.http import DEFAULT_STATUS_ERRORS, Requestor, WaitLimits

SERVICE_NAME = "Shopify"
DEFAULT_API_VERSION = "2024-10"
REQUIRED_CREDENTIALS = ("shop", "access_token")

BUCKET_CAPACITY = 40
LEAK_PER_SECOND = 2.0
BUCKET_MARGIN = 2  # requests left free for other clients of the same app and store

MAX_ATTEMPTS = 5
BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0

SHOPIFY_STATUS_ERRORS: dict[int, type[ConnectorError]] = {
    **DEFAULT_STATUS_ERRORS,
    402: ConfigurationError,  # the shop is frozen (unpaid Shopify plan)
    403: InvalidCredentials,  # the token lacks the read_orders scope
    423: ConfigurationError,  # the shop is locked
}

_SHOP_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,59}")
_API_VERSION = re.compile(r"\d{4}-\d{2}|unstable")
_CALL_LIMIT = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def normalise_shop(value: Any) -> str:
    """``mi-tienda``, ``mi-tienda.myshopify.com`` or ``https://mi-tienda.myshopify.com/admin`` ->
    ``mi-tienda.myshopify.com``; :class:`ConfigurationError` for anything else."""
    text = str(value or "").strip().lower()
    text = re.sub(r"^https?://", "", text).split("/", 1)[0]
    name = text.removesuffix(".myshopify.com")
    if not _SHOP_NAME.fullmatch(name):
        raise ConfigurationError(
            "La tienda de Shopify debe ser su dirección myshopify.com, por ejemplo «mi-tienda.myshopify.com».",
            detail="shop is not a myshopify.com name")
    return f"{name}.myshopify.com"


def check_credentials(credentials: Mapping[str, Any]) -> dict[str, Any]:
    """A cleaned copy of ``credentials``; :class:`ConfigurationError` if one is missing or malformed."""
    missing = [key for key in REQUIRED_CREDENTIALS if not str(credentials.get(key) or "").strip()]
    if missing:
        raise ConfigurationError("Faltan datos para conectar Shopify: " + ", ".join(missing) + ".",
                                 detail=f"missing credential keys: {missing}")
    cleaned = dict(credentials)
    cleaned["shop"] = normalise_shop(credentials["shop"])
    cleaned["access_token"] = str(credentials["access_token"]).strip()
    version = str(credentials.get("api_version") or DEFAULT_API_VERSION).strip()
    if not _API_VERSION.fullmatch(version):
        raise ConfigurationError("La versión de la API de Shopify debe tener la forma AAAA-MM (por ejemplo 2024-10).")
    cleaned["api_version"] = version
    return cleaned


def shopify_error_message(response: httpx.Response) -> str:
    """The text of ``{"errors": ...}`` (a string, a list or a dict of lists), else the reason phrase."""
    try:
        body = response.json()
    except ValueError:
        body = None
    errors = body.get("errors", body.get("error")) if isinstance(body, dict) else None
    if isinstance(errors, str) and errors:
        return errors
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors)[:300]
    if isinstance(errors, dict) and errors:
        parts = [f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in errors.items()]
        return "; ".join(parts)[:300]
    return response.reason_phrase or f"HTTP {response.status_code}"


class LeakyBucket:
    """Shopify's leaky bucket seen from the client: waits before a request that would overflow it.

    ``observe`` reads ``X-Shopify-Shop-Api-Call-Limit`` (the bucket's level after that request);
    ``acquire`` estimates the level now (it drains ``leak_per_second``) and sleeps until one more
    request fits below ``capacity - margin``. A 429 fills the estimate. ``sleep`` and ``clock`` are
    injectable so tests control time. Thread-safe.
    """

    def __init__(self, *, capacity: int = BUCKET_CAPACITY, leak_per_second: float = LEAK_PER_SECOND,
                 margin: int = BUCKET_MARGIN, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.capacity, self.leak_per_second, self.margin = capacity, leak_per_second, margin
        self._sleep, self._clock = sleep, clock
        self._level = 0.0
        self._at = clock()
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds slept so far (tests and benchmarks read it)

    def _level_now(self, now: float) -> float:
        return max(0.0, self._level - (now - self._at) * self.leak_per_second)

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            level = self._level_now(now)
            limit = max(1, self.capacity - self.margin)
            wait = (level + 1 - limit) / self.leak_per_second if level + 1 > limit else 0.0
            if wait > 0:
                self._sleep(wait)
                self.waited += wait
                now = self._clock()
                level = self._level_now(now)
            # Count this request now: concurrent callers see it before its answer arrives.
            self._level, self._at = level + 1, now

    def observe(self, response: httpx.Response) -> None:
        match = _CALL_LIMIT.fullmatch(response.headers.get("X-Shopify-Shop-Api-Call-Limit", ""))
        with self._lock:
            if match:
                used, capacity = int(match.group(1)), int(match.group(2))
                if capacity > 0:
                    self.capacity = capacity
                self._level, self._at = float(used), self._clock()
            elif response.status_code == 429:
                self._level, self._at = float(self.capacity), self._clock()


class ShopifyClient:
    """The API requestor (token header, leaky bucket, retries, error table). ``calls`` counts requests."""

    def __init__(self, credentials: Mapping[str, Any], *, base_url: str | None = None, timeout: float = 20.0,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, wait_limits: WaitLimits | None = None):
        self.credentials = check_credentials(credentials)
        self.shop = self.credentials["shop"]
        root = (base_url or f"https://{self.shop}").rstrip("/")
        self.bucket = LeakyBucket(sleep=sleep, clock=clock)
        self.api = Requestor(
            service=SERVICE_NAME, base_url=f"{root}/admin/api/{self.credentials['api_version']}",
            timeout=timeout, transport=transport, sleep=sleep, max_attempts=MAX_ATTEMPTS,
            backoff_base=BACKOFF_BASE, backoff_cap=BACKOFF_CAP, status_errors=dict(SHOPIFY_STATUS_ERRORS),
            error_message=shopify_error_message, rate_limit=self.bucket,
            headers={"X-Shopify-Access-Token": self.credentials["access_token"]},
            **(wait_limits or WaitLimits()).as_kwargs(),
        )

    @property
    def calls(self) -> int:
        return self.api.calls

    def close(self) -> None:
        self.api.close()
