"""The services' shared context: settings, database, credential vault and adapter factories.

Tests build one with their own database URL and, when they mock HTTP, their own transports.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from channels.base import ChannelAdapter, ChannelOptions
from channels.registry import channel_class
from connector.crypto import CredentialVault
from connector.db import Database, get_database
from connector.errors import ConfigurationError
from connector.http import WaitLimits
from connector.log_masking import install_log_masking
from connector.models import ChannelConnection, ERPConnection
from connector.ratelimit import LocalBackend, RateLimitBackend, RedisBackend, SharedRateLimit
from connector.settings import Settings, get_settings
from erp.base import ERPAdapter, ERPOptions
from erp.registry import erp_class

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    settings: Settings
    db: Database
    vault: CredentialVault
    channel_transport: httpx.BaseTransport | None = None
    erp_transport: httpx.BaseTransport | None = None
    _erp_adapters: dict[int, tuple[str, ERPAdapter]] = field(default_factory=dict)
    _rate_backend: RateLimitBackend | None = None
    # Adapters and the rate-limit backend are created lazily; threads sharing this context (the web
    # app, the webhook pool, benchmark workers) must not create two of either.
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> AppContext:
        install_log_masking()  # every process that can touch a secret builds a context first
        settings = settings or get_settings()
        return cls(settings=settings, db=get_database(settings), vault=CredentialVault.from_settings(settings),
                   **kwargs)

    # -- adapters -------------------------------------------------------------------------------

    def checked_base_url(self, base_url: str | None) -> str | None:
        """A custom API address is honoured only in sandbox/dev mode (it would leak credentials)."""
        if base_url and not self.settings.allows_custom_api_urls:
            raise ConfigurationError(
                "Una dirección de API personalizada solo se permite en modo sandbox o dev (CONNECTOR_MODE).")
        return base_url or None

    @property
    def wait_limits(self) -> WaitLimits:
        """The Retry-After cap, per-call deadline and backoff scale every API client gets (settings)."""
        return WaitLimits(max_retry_after=self.settings.max_retry_after_seconds,
                          deadline=self.settings.http_deadline_seconds, backoff_scale=self.settings.http_backoff_scale)

    def new_erp_adapter(self, kind: str, credentials: dict[str, Any], base_url: str | None) -> ERPAdapter:
        cls = erp_class(kind)
        options = ERPOptions(base_url=self.checked_base_url(base_url), timeout=self.settings.http_timeout_seconds,
                             wait_limits=self.wait_limits)
        kwargs: dict[str, Any] = {"rate_limit": self.erp_rate_limit(cls, credentials)}
        if self.erp_transport is not None:
            kwargs["transport"] = self.erp_transport
        return cls(credentials, options, **kwargs)

    def erp_rate_limit(self, cls, credentials: dict[str, Any]) -> SharedRateLimit:
        """The ERP user's rate limit, shared by every worker (Redis) or every thread (embedded).

        Celery workers never sleep long on one seller's window (``rate_limit_max_sleep_seconds``):
        the order waits in the database instead and the worker serves other sellers meanwhile.
        """
        with self._lock:
            if self._rate_backend is None:
                self._rate_backend = (RedisBackend.from_url(self.settings.redis_url) if self.settings.uses_celery
                                      else LocalBackend())
        user = hashlib.sha256(cls.rate_limit_user(credentials).encode()).hexdigest()[:20]
        per_minute = self.settings.erp_rate_limit_per_minute or cls.rate_limit_per_minute
        max_wait = self.settings.rate_limit_max_sleep_seconds if self.settings.uses_celery else None
        return SharedRateLimit(self._rate_backend, f"{cls.name}:{user}", per_minute, cls.read_window,
                               max_wait=max_wait)

    def erp_adapter(self, connection: ERPConnection) -> ERPAdapter:
        """One adapter per ERP connection per process: its rate-limit state and HTTP pool are shared."""
        with self._lock:
            cached = self._erp_adapters.get(connection.id)
            if cached and cached[0] == connection.credentials_encrypted:
                return cached[1]
            if cached:
                cached[1].close()
            adapter = self.new_erp_adapter(connection.kind, self.vault.decrypt(connection.credentials_encrypted),
                                           connection.api_base_url)
            self._erp_adapters[connection.id] = (connection.credentials_encrypted, adapter)
            return adapter

    def new_channel_adapter(self, kind: str, credentials: dict[str, Any], base_url: str | None,
                            on_credentials_changed=None) -> ChannelAdapter:
        options = ChannelOptions(base_url=self.checked_base_url(base_url), timeout=self.settings.http_timeout_seconds,
                                 allow_private_network=self.settings.allows_custom_api_urls,
                                 wait_limits=self.wait_limits)
        kwargs = {"transport": self.channel_transport} if self.channel_transport is not None else {}
        return channel_class(kind)(credentials, options, on_credentials_changed=on_credentials_changed, **kwargs)

    def channel_adapter(self, connection: ChannelConnection) -> ChannelAdapter:
        """An adapter whose rotated credentials are saved (encrypted) the moment the channel rotates them."""
        connection_id = connection.id

        def persist(new_credentials: dict[str, Any]) -> None:
            with self.db.transaction() as session:
                row = session.get(ChannelConnection, connection_id)
                if row is not None:
                    row.credentials_encrypted = self.vault.encrypt(new_credentials)
            log.info("channel connection %s: rotated credentials saved", connection_id)

        return self.new_channel_adapter(connection.kind, self.vault.decrypt(connection.credentials_encrypted),
                                        connection.api_base_url, persist)

    def close(self) -> None:
        with self._lock:
            for _, adapter in self._erp_adapters.values():
                adapter.close()
            self._erp_adapters.clear()
