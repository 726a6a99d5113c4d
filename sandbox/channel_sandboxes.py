"""Each marketplace sandbox seen the same way, so the demo, the end-to-end tests and the benchmarks connect
a store and point its webhooks at the connector taking the channel kind as a parameter and naming no
channel: its address, the demo seller's credentials, and how to subscribe the connector's webhook URL.

Adding a marketplace sandbox adds one entry to :data:`CHANNEL_SANDBOXES` (the ERPs' counterpart is
:mod:`sandbox.erp_sandboxes`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sandbox.countries import sandbox_country

if TYPE_CHECKING:
    from sandbox.server import Sandbox


@dataclass(frozen=True)
class ChannelSandbox:
    """One marketplace sandbox of a running :class:`~sandbox.server.Sandbox`."""

    kind: str
    url: str  # the address the connection is made at (``base_url``)
    credentials: dict[str, str]  # the demo seller's, as the connect form takes them
    _subscribe: Callable[[str, str | None], None]

    def subscribe(self, url: str, secret: str | None = None) -> None:
        """Deliver the store's order webhooks to ``url``. ``secret`` is the one the connector chose (what
        the seller pastes in the marketplace); a marketplace that signs with its own ignores it."""
        self._subscribe(url, secret)


def _mercadolibre(box: Sandbox) -> ChannelSandbox:
    from sandbox.server import ML_CLIENT_ID, ML_CLIENT_SECRET, ML_REFRESH_TOKEN

    credentials = {"client_id": ML_CLIENT_ID, "client_secret": ML_CLIENT_SECRET, "refresh_token": ML_REFRESH_TOKEN,
                   "site_id": sandbox_country(box.country).site_id}
    return ChannelSandbox("mercadolibre", box.ml_url, credentials,
                          lambda url, _secret: box.ml_notifier.subscribe(url))  # unsigned notifications


def _shopify(box: Sandbox) -> ChannelSandbox:
    from sandbox.server import SHOPIFY_ACCESS_TOKEN, SHOPIFY_SHOP, SHOPIFY_WEBHOOK_SECRET

    credentials = {"shop": SHOPIFY_SHOP, "access_token": SHOPIFY_ACCESS_TOKEN, "webhook_secret": SHOPIFY_WEBHOOK_SECRET}
    # Shopify signs with the app's own secret, whatever the connector would choose.
    return ChannelSandbox("shopify", box.shopify_url, credentials,
                          lambda url, _secret: box.shopify_state.subscribe(url, SHOPIFY_WEBHOOK_SECRET))


def _woocommerce(box: Sandbox) -> ChannelSandbox:
    from sandbox.server import WOO_CONSUMER_KEY, WOO_CONSUMER_SECRET

    credentials = {"store_url": box.woo_url, "consumer_key": WOO_CONSUMER_KEY, "consumer_secret": WOO_CONSUMER_SECRET}
    return ChannelSandbox("woocommerce", box.woo_url, credentials,
                          lambda url, secret: box.woo_state.subscribe(url, secret or ""))


CHANNEL_SANDBOXES: dict[str, Callable[[Sandbox], ChannelSandbox]] = {
    "mercadolibre": _mercadolibre, "shopify": _shopify, "woocommerce": _woocommerce}


def channel_sandbox(box: Sandbox, kind: str) -> ChannelSandbox:
    """The sandbox of channel ``kind`` in ``box``; a clear error when there is none."""
    try:
        return CHANNEL_SANDBOXES[kind](box)
    except KeyError:
        raise KeyError(f"no sandbox for channel {kind!r}; known: {', '.join(sorted(CHANNEL_SANDBOXES))}") from None
