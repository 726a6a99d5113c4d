"""Moved to :mod:`integrations.errors` (shared by channels, ERPs and the core, so neither imports the
other's package for it); this module keeps the old import path working."""

from integrations.errors import (  # noqa: F401
    AmbiguousOutcome,
    ConfigurationError,
    ConnectorError,
    Contended,
    FeatureNotAvailable,
    InvalidCredentials,
    InvalidPayload,
    NotFound,
    PermanentRejection,
    RateLimitDeferred,
    RateLimited,
    TransientError,
    WebhookRejected,
)
