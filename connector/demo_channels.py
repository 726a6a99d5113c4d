"""Shopify and WooCommerce for the demo (and the end-to-end tests): connected to the loopback sandbox
with their sandbox credentials, validated over HTTP like the real thing.

:func:`subscribe_sandbox_webhooks` then points every sandbox store at the connector's webhook
endpoint (the URL and secret a seller would register), so changes in the sandbox reach the
connector as signed webhooks.
"""

from __future__ import annotations

from connector import services
from connector.context import AppContext
from connector.models import ChannelConnection
from connector.webhooks import webhook_registration
from sandbox import server as sandbox_server


def connect_extra_channels(ctx: AppContext, account_id: int, sandbox) -> list[ChannelConnection]:
    """Connect the sandbox's Shopify store and WooCommerce store to ``account_id``."""
    shopify = services.connect_channel(ctx, account_id, "shopify", {
        "shop": sandbox_server.SHOPIFY_SHOP, "access_token": sandbox_server.SHOPIFY_ACCESS_TOKEN,
        "webhook_secret": sandbox_server.SHOPIFY_WEBHOOK_SECRET}, base_url=sandbox.shopify_url)
    woocommerce = services.connect_channel(ctx, account_id, "woocommerce", {
        "store_url": sandbox.woo_url, "consumer_key": sandbox_server.WOO_CONSUMER_KEY,
        "consumer_secret": sandbox_server.WOO_CONSUMER_SECRET}, base_url=sandbox.woo_url)
    return [shopify, woocommerce]


def subscribe_sandbox_webhooks(ctx: AppContext, sandbox, connections: list[ChannelConnection],
                               public_base_url: str) -> dict[str, str]:
    """Register the connector's webhook URL (and secret) in each sandbox store; returns kind -> URL."""
    urls = {}
    for connection in connections:
        registration = webhook_registration(ctx, connection.id, public_base_url)
        if connection.kind == "shopify":
            sandbox.shopify_state.subscribe(registration.url, sandbox_server.SHOPIFY_WEBHOOK_SECRET)
        elif connection.kind == "woocommerce":
            sandbox.woo_state.subscribe(registration.url, registration.secret or "")
        elif connection.kind == "mercadolibre":
            sandbox.ml_notifier.subscribe(registration.url)
        else:
            continue
        urls[connection.kind] = registration.url
    return urls
