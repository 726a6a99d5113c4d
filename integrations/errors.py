"""Errors, grouped by what the caller should do about them.

::

    ConnectorError                      root; ``user_message`` is safe to show, ``detail`` is internal
    ├── ConfigurationError              a person must fix a setting; never retried
    │   ├── InvalidCredentials          the API refused the credentials (401/403, invalid_grant)
    │   └── FeatureNotAvailable         the ERP plan lacks the feature (Alegra 402)
    ├── TransientError                  retry later with backoff; nothing was decided
    │   ├── RateLimited                 429; ``retry_after`` seconds when the API says so
    │   │   └── RateLimitDeferred       our own limiter: the window is spent for longer than a
    │   │                               worker should sleep; nothing was sent, come back later
    │   ├── Contended                   another worker holds what this needs (e.g. it is creating
    │   │                               the same contact): come back in ``retry_after`` seconds
    │   └── AmbiguousOutcome            a write may or may not have happened (timeout/reset/5xx
    │                                   after sending): reconcile before any new attempt
    ├── PermanentRejection              the remote API refused this record (4xx with its message):
    │                                   goes to the error queue with the API's own words
    │   └── NotFound                    the resource does not exist (404)
    ├── InvalidPayload                  a record we cannot understand: error queue, never a crash
    └── WebhookRejected                 a webhook whose signature (or origin) could not be verified:
                                        answered 401, nothing stored, nothing queued

Messages shown to users are in Spanish first (the sellers' language) and never contain secrets.
"""

from __future__ import annotations

from connector.reasons import reason


class ConnectorError(Exception):
    """Root of every error the connector raises on purpose.

    ``user_message`` is what a seller may read; ``detail`` is for logs and never shown in the UI.
    """

    def __init__(self, user_message: str, *, detail: str | None = None, status_code: int | None = None):
        super().__init__(user_message)
        self.user_message = user_message
        self.detail = detail
        self.status_code = status_code

    def __str__(self) -> str:  # keep str() safe: only the user-facing text
        return self.user_message


class ConfigurationError(ConnectorError):
    """A setting is wrong or missing; a person must act. Never retried."""


class InvalidCredentials(ConfigurationError):
    """The external API refused the credentials."""


class FeatureNotAvailable(ConfigurationError):
    """The account's plan lacks what we need (Alegra answers 402)."""


class TransientError(ConnectorError):
    """Worth retrying later: network trouble, 5xx before anything was written, maintenance."""


class RateLimited(TransientError):
    """The API said "too many requests". ``retry_after`` is in seconds when known."""

    def __init__(self, user_message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(user_message, **kwargs)
        self.retry_after = retry_after


class RateLimitDeferred(RateLimited):
    """The ERP user's window is spent for longer than this worker should sleep (see
    :class:`connector.ratelimit.SharedRateLimit`). Nothing was sent: come back in ``retry_after``
    seconds (when a short sleep will reach the window's end). Never retried in place, never
    counted as an outage or as a failed attempt."""

    def __init__(self, retry_after: float):
        super().__init__(reason("El límite de peticiones del ERP está agotado por ahora; se continúa solo en unos "
                                "segundos."), retry_after=retry_after, detail=f"rate window spent for {retry_after:.1f} s")


class Contended(TransientError):
    """Another worker holds what this work needs right now. Not the remote side's fault (never an
    outage) and not a failed attempt: come back in ``retry_after`` seconds."""

    def __init__(self, user_message: str, *, retry_after: float, **kwargs):
        super().__init__(user_message, **kwargs)
        self.retry_after = retry_after


class AmbiguousOutcome(TransientError):
    """A write was sent and we do not know whether the remote side committed it.

    Never answered with a blind re-send: look for the record's marker first.
    """


class PermanentRejection(ConnectorError):
    """The remote API refused this specific record; retrying the same thing will fail again."""


class NotFound(PermanentRejection):
    """The requested remote resource does not exist."""


class InvalidPayload(ConnectorError):
    """A payload we cannot turn into a valid record (missing or malformed fields)."""


class WebhookRejected(ConnectorError):
    """A webhook delivery whose signature or origin could not be verified (missing, wrong, stale).

    The HTTP answer is 401 and nothing is stored or queued. ``user_message`` never echoes the
    signature, the secret or the body.
    """
