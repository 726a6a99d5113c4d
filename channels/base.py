"""What a channel adapter declares and provides.

A channel adapter knows one marketplace and nothing about ERPs. The core talks to it only through
this interface and only receives canonical :class:`~connector.canonical.Order` objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from connector.canonical import Order, PulledOrder


@dataclass(frozen=True)
class CredentialField:
    """One field of a channel's or ERP's credential form."""

    name: str
    label: str
    secret: bool = False
    required: bool = True
    help: str = ""


@dataclass(frozen=True)
class AccountInfo:
    """What validating credentials tells us about the remote account (shown to the seller)."""

    remote_id: str
    display_name: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelOptions:
    """Process-level options handed to an adapter (never module globals).

    ``base_url`` overrides the public API address; the core only passes one in sandbox/dev mode.
    """

    base_url: str | None = None
    timeout: float = 20.0
    page_size: int | None = None


# Called by an adapter when the remote side rotated its credentials (Mercado Libre's refresh token):
# the core persists the new values, encrypted, before the adapter goes on.
CredentialsChanged = Callable[[dict[str, Any]], None]


class ChannelAdapter(Protocol):
    """One marketplace."""

    name: ClassVar[str]  # registry key, e.g. "mercadolibre"
    display_name: ClassVar[str]  # "Mercado Libre"
    credential_fields: ClassVar[tuple[CredentialField, ...]]

    def validate_credentials(self) -> AccountInfo:
        """Call the API once to prove the credentials work; raise ``InvalidCredentials`` if not."""

    def pull_orders(self, since: datetime | None) -> Iterator[PulledOrder]:
        """Yield every order created or changed since ``since`` (all pages), oldest change first."""

    def fetch_order(self, external_id: str) -> PulledOrder:
        """Fetch one order with everything ``parse_order`` needs."""

    def parse_order(self, pulled: PulledOrder) -> Order:
        """Turn raw documents into a canonical order; raise ``InvalidPayload`` with a clear reason."""

    def close(self) -> None:
        """Release HTTP connections."""


ChannelFactory = Callable[..., ChannelAdapter]
