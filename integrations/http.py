"""The one HTTP requestor every external API client builds on, plus the pagination strategies.

Each API client (``erp/alegra``, ``channels/mercadolibre``, ...) creates a :class:`Requestor` with
its base URL, its authenticator, its error table (status -> error class) and, optionally, a rate
limit policy. Everything about timeouts, retries with jitter and turning responses into typed
errors lives here once.

Retry rules (why they differ by method):

* Reads (``idempotent=True``) are retried on any :class:`TransientError`, waiting ``retry_after``
  when the API gave one.
* Writes are retried only when the request provably never reached the server (connection refused,
  DNS, pool timeout). Anything after the bytes left — read timeout, reset, 5xx, an empty 2xx —
  becomes :class:`AmbiguousOutcome` and is *not* retried here: the caller must look for the record
  before sending again, because Alegra has no idempotency key.

Waits are bounded and visible:

* a ``Retry-After`` is waited in place only up to ``max_retry_after`` seconds
  (``CONNECTOR_MAX_RETRY_AFTER``); a longer one is raised at once as :class:`RateLimited` with its
  ``retry_after``, so the caller parks the work in the database (``next_attempt_at``) and the worker
  moves on instead of sleeping past the queue's visibility timeout;
* one logical call, all its retries and waits included, never runs past ``deadline`` seconds
  (``CONNECTOR_HTTP_DEADLINE``): each attempt gets at most what is left of it as its timeout, and a
  wait that would cross it is not taken (the last error is raised);
* every retry is logged (method, host, path, status, wait): never a query string, never a header.
"""

from __future__ import annotations

import functools
import logging
import random
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlparse

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt

from connector.metrics import count_http_call  # the one core hook: every call is counted for /metrics
from connector.reasons import reason  # stored reasons keep their message id (translated when shown)
from integrations.errors import (
    AmbiguousOutcome,
    ConfigurationError,
    ConnectorError,
    FeatureNotAvailable,
    InvalidCredentials,
    NotFound,
    PermanentRejection,
    RateLimitDeferred,
    RateLimited,
    TransientError,
)

log = logging.getLogger("connector.http")  # the name operators filter on, kept from before the move

# Status -> error class. APIs override entries (Alegra's 402 is "plan lacks the feature").
DEFAULT_STATUS_ERRORS: dict[int, type[ConnectorError]] = {
    400: PermanentRejection,
    401: InvalidCredentials,
    402: FeatureNotAvailable,
    403: InvalidCredentials,
    404: NotFound,
    409: PermanentRejection,
    422: PermanentRejection,
    429: RateLimited,
}

# Connection errors that prove the request never reached the server: safe to retry even for writes.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class RateLimitPolicy(Protocol):
    """Decides how long to wait before a request and learns from each response's headers.

    A policy may also set ``waits_for_window = True``: it learns the window from a 429 and makes the
    next ``acquire`` wait for it, so the requestor does not sleep on the 429 itself.
    """

    def acquire(self) -> None: ...

    def observe(self, response: httpx.Response) -> None: ...


class NoRateLimit:
    def acquire(self) -> None:
        return None

    def observe(self, response: httpx.Response) -> None:
        return None


ErrorMessageExtractor = Callable[[httpx.Response], str]


def default_error_message(response: httpx.Response) -> str:
    """Best effort human message from a JSON error body (``message``/``error``), else the reason."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        for key in ("message", "error_description", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return value["message"]
    return response.reason_phrase or f"HTTP {response.status_code}"


@functools.cache
def shared_tls_context() -> ssl.SSLContext:
    """The one TLS context (httpx's default: certifi's CA bundle, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``)
    every HTTP client of the process verifies servers with. Loading the CA bundle costs ~40 ms of CPU,
    and a client is made for every adapter — one per webhook delivery — so it is loaded once."""
    return httpx.create_ssl_context()


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class WaitLimits:
    """How long one call may wait (see the module docstring): the process settings
    ``CONNECTOR_MAX_RETRY_AFTER``, ``CONNECTOR_HTTP_DEADLINE`` and ``CONNECTOR_HTTP_BACKOFF_SCALE``,
    handed to every client. ``backoff_scale`` multiplies each API's own backoff between retries (its
    base and cap stay the API's); a ``Retry-After`` the API asked for is never scaled."""

    max_retry_after: float = 30.0
    deadline: float | None = 120.0
    backoff_scale: float = 1.0

    def as_kwargs(self) -> dict[str, float | None]:
        return {"max_retry_after": self.max_retry_after, "deadline": self.deadline,
                "backoff_scale": self.backoff_scale}


@dataclass
class Requestor:
    """Does every call to one external API.

    ``service`` names the API in user messages ("Alegra", "Mercado Libre").
    ``sleep``, ``clock`` and ``jitter`` are injectable so tests control time.
    ``max_retry_after`` caps an in-place ``Retry-After`` wait; ``deadline`` bounds a whole call
    (retries included; ``None``: no deadline); ``backoff_scale`` multiplies the backoff. See the
    module docstring.
    """

    service: str
    base_url: str
    auth: httpx.Auth | None = None
    timeout: float = 20.0
    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_cap: float = 20.0
    status_errors: Mapping[int, type[ConnectorError]] = field(default_factory=lambda: dict(DEFAULT_STATUS_ERRORS))
    error_message: ErrorMessageExtractor = default_error_message
    rate_limit: RateLimitPolicy = field(default_factory=NoRateLimit)
    headers: Mapping[str, str] = field(default_factory=dict)
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random
    clock: Callable[[], float] = time.monotonic
    max_retry_after: float = 30.0
    deadline: float | None = 120.0
    backoff_scale: float = 1.0
    follow_redirects: bool = False
    calls: int = 0  # every HTTP request sent, retries included (benchmarks read it)

    def __post_init__(self) -> None:
        try:
            self._client = httpx.Client(
                base_url=self.base_url.rstrip("/"),
                auth=self.auth,
                timeout=self.timeout,
                headers={"Accept": "application/json", **dict(self.headers)},
                transport=self.transport,
                verify=shared_tls_context(),
                follow_redirects=self.follow_redirects,
            )
        except httpx.InvalidURL as exc:
            raise self._invalid_address(exc) from exc

    def _invalid_address(self, exc: Exception) -> ConfigurationError:
        return ConfigurationError(f"La dirección de {self.service} no es válida; revísala.",
                                  detail=f"{type(exc).__name__}: {exc}"[:300])

    def close(self) -> None:
        self._client.close()

    # -- public API -------------------------------------------------------------------------

    def get(self, path: str, *, params: Mapping[str, Any] | None = None, **kwargs) -> httpx.Response:
        return self.request("GET", path, params=params, idempotent=True, **kwargs)

    def post(self, path: str, *, json: Any = None, data: Any = None, idempotent: bool = False,
             **kwargs) -> httpx.Response:
        return self.request("POST", path, json=json, data=data, idempotent=idempotent, **kwargs)

    def request(self, method: str, path: str, *, idempotent: bool, **kwargs) -> httpx.Response:
        """Send one logical request, retrying what is safe to retry within the call's deadline.
        Returns a 2xx response.

        The retry loop is tenacity's; what is ours is the decision (which errors, how long, within the
        deadline), decided once per failed attempt in :meth:`_next_wait` and handed to tenacity's wait."""
        started = self.clock()
        attempts = count(1)
        decided: dict[str, float] = {}

        def retry_wanted(exc: BaseException) -> bool:
            wait = self._next_wait(exc, idempotent, decided["attempt"], started)
            if wait is None:
                return False
            decided["wait"] = wait
            return True

        def attempt() -> httpx.Response:
            decided["attempt"] = number = next(attempts)
            return self._send_once(method, path, idempotent, self._attempt_kwargs(kwargs, number, started))

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            retry=retry_if_exception(retry_wanted),
            wait=lambda state: decided["wait"],
            sleep=self.sleep,
            before_sleep=lambda state: self._log_retry(method, path, state.outcome.exception(),
                                                       state.attempt_number, decided["wait"]),
            reraise=True,
        )
        return retrying(attempt)

    def _attempt_kwargs(self, kwargs: dict, attempt: int, started: float) -> dict:
        """A retry never runs past the call's deadline: its timeout shrinks to what is left of it."""
        if self.deadline is None or attempt == 1 or "timeout" in kwargs:
            return kwargs
        left = self.deadline - (self.clock() - started)
        return {**kwargs, "timeout": max(left, 0.001)} if left < self.timeout else kwargs

    def _next_wait(self, exc: BaseException, idempotent: bool, attempt: int, started: float) -> float | None:
        """How long to wait before retrying after the failed ``attempt``; None: do not retry (not safe,
        a wait beyond the cap, or past the deadline — the caller then waits in the database)."""
        if not isinstance(exc, ConnectorError) or not self._should_retry(exc, idempotent):
            return None
        wait = self._retry_wait(exc, attempt)
        if wait is None or (self.deadline is not None and (self.clock() - started) + wait >= self.deadline):
            return None
        return wait

    # -- internals (small so tests can poke them) -------------------------------------------

    def _send_once(self, method: str, path: str, idempotent: bool, kwargs: dict) -> httpx.Response:
        self.rate_limit.acquire()
        self.calls += 1
        try:
            response = self._client.request(method, path, **kwargs)
        except (httpx.InvalidURL, UnicodeError) as exc:  # a malformed address (control chars, 300-char host)
            raise self._invalid_address(exc) from exc
        except _NEVER_SENT as exc:
            count_http_call(self.service, None)
            raise TransientError(
                reason("No se pudo conectar con %(service)s.", service=self.service), detail=f"{type(exc).__name__}: {exc}"
            ) from exc
        except httpx.TransportError as exc:  # read timeout, reset, protocol error: bytes may have landed
            count_http_call(self.service, None)
            cls = TransientError if idempotent else AmbiguousOutcome
            raise cls(
                reason("%(service)s no respondió a tiempo.", service=self.service), detail=f"{type(exc).__name__}: {exc}"
            ) from exc
        count_http_call(self.service, response.status_code)  # /metrics: calls by API and outcome
        self.rate_limit.observe(response)
        self._raise_for_status(response, idempotent)
        return response

    def _raise_for_status(self, response: httpx.Response, idempotent: bool) -> None:
        status = response.status_code
        if 200 <= status < 300:
            if not idempotent and status != 204 and not response.content.strip():
                raise AmbiguousOutcome(
                    reason("%(service)s respondió vacío a una escritura.", service=self.service), detail=f"HTTP {status} empty body"
                )
            return
        message = self.error_message(response)
        detail = f"HTTP {status} {response.request.method} {response.request.url.path}: {message}"
        if status >= 500:
            cls = TransientError if idempotent else AmbiguousOutcome
            raise cls(reason("%(service)s no está disponible en este momento (%(status)s).", service=self.service,
                             status=status), detail=detail,
                      status_code=status)
        error_cls = self.status_errors.get(status, PermanentRejection)
        if issubclass(error_cls, RateLimited):
            raise RateLimited(
                reason("%(service)s pidió esperar (límite de peticiones).", service=self.service),
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                detail=detail,
                status_code=status,
            )
        if issubclass(error_cls, InvalidCredentials):
            user = reason("%(service)s rechazó las credenciales: %(message)s", service=self.service, message=message)
        else:
            user = reason("%(service)s rechazó la petición: %(message)s", service=self.service, message=message)
        raise error_cls(user, detail=detail, status_code=status)

    @staticmethod
    def _should_retry(exc: BaseException, idempotent: bool) -> bool:
        if isinstance(exc, AmbiguousOutcome | RateLimitDeferred):  # reconcile first / come back later
            return False
        if isinstance(exc, TransientError):
            # A write is retried only when it never left (connection errors); RateLimited (429)
            # is an explicit "not processed", so it is safe too.
            return idempotent or isinstance(exc, RateLimited) or exc.status_code is None
        return False

    def _retry_wait(self, exc: ConnectorError, attempt: int) -> float | None:
        """Seconds to wait before retrying after ``exc`` (attempt ``attempt`` failed); ``None`` when the
        API asked for a wait longer than :attr:`max_retry_after` (not waited in place)."""
        if isinstance(exc, RateLimited) and exc.retry_after is not None and exc.retry_after > self.max_retry_after:
            return None
        if isinstance(exc, RateLimited) and getattr(self.rate_limit, "waits_for_window", False):
            return 0.0  # the policy learned the window from this 429; its acquire() waits for it
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return exc.retry_after + self.jitter() * 0.25
        exponential = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)) * self.backoff_scale
        return exponential * (0.5 + self.jitter() / 2)  # "equal jitter"

    def _log_retry(self, method: str, path: str, exc: ConnectorError, attempt: int, wait: float) -> None:
        """One line per retry. Only the host and the path: query strings and headers may carry secrets."""
        try:
            url = self._client.build_request(method, path).url
            where = f"{url.host}{url.path}"
        except Exception:  # noqa: BLE001 - logging must never fail the call
            where = self.service
        if exc.status_code is not None:
            what = f"HTTP {exc.status_code}"
        else:  # the detail starts with the transport error's class ("ConnectError: ...")
            what = (exc.detail or type(exc).__name__).split(":", 1)[0][:40]
        log.warning("%s %s %s: %s; retry %d/%d in %.1f s", self.service, method, where, what,
                    attempt + 1, self.max_attempts, wait)


# -- pagination strategies ---------------------------------------------------------------------


def iter_offset_pages(fetch: Callable[[int, int], tuple[list[Any], int | None]], *, page_size: int,
                      start: int = 0) -> Iterator[Any]:
    """Offset/limit pagination (Mercado Libre ``offset``, Alegra ``start``).

    ``fetch(offset, limit)`` returns the page's records and the total when the API reports one.
    Stops on a short page or when the total is reached.
    """
    offset = start
    while True:
        records, total = fetch(offset, page_size)
        yield from records
        offset += len(records)
        if len(records) < page_size or (total is not None and offset >= total) or not records:
            return


def iter_page_number_pages(fetch: Callable[[int], tuple[list[Any], int | None]]) -> Iterator[Any]:
    """Page-number pagination (WooCommerce ``page`` + ``X-WP-TotalPages``).

    ``fetch(page)`` returns the page's records and the total number of pages when known.
    """
    page = 1
    while True:
        records, total_pages = fetch(page)
        yield from records
        if not records or (total_pages is not None and page >= total_pages):
            return
        page += 1


def next_link(response: httpx.Response) -> dict[str, str] | None:
    """Query parameters of the ``Link: <...>; rel="next"`` header (Shopify cursors), if any."""
    link = response.links.get("next")
    if not link or not link.get("url"):
        return None
    return dict(parse_qsl(urlparse(link["url"]).query))


def iter_link_header_pages(fetch: Callable[[dict[str, str] | None], httpx.Response],
                           records_of: Callable[[httpx.Response], list[Any]]) -> Iterator[Any]:
    """Link-header cursor pagination: ``fetch(None)`` for the first page, then the next link's params."""
    params: dict[str, str] | None = None
    while True:
        response = fetch(params)
        yield from records_of(response)
        params = next_link(response)
        if params is None:
            return
