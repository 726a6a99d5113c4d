"""The channel adapters this installation knows. Adding a marketplace adds one line here."""

from __future__ import annotations

from connector.plugins import load_registered

CHANNELS: dict[str, str] = {
    "mercadolibre": "channels.mercadolibre.adapter:MercadoLibreAdapter",
    "shopify": "channels.shopify.adapter:ShopifyAdapter",
    "woocommerce": "channels.woocommerce.adapter:WooCommerceAdapter",
}


def channel_class(name: str):
    """The adapter class registered under ``name`` (imported on first use)."""
    return load_registered(CHANNELS, name, "channel")
