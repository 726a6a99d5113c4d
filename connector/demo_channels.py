"""Sandbox stores for the end-to-end tests and the benchmarks: connected to the loopback sandbox with
their sandbox credentials, validated over HTTP like the real thing.

:func:`subscribe_sandbox_webhooks` then points every sandbox store at the connector's webhook
endpoint (the URL and secret a seller would register), so changes in the sandbox reach the
connector as signed webhooks. What each store needs comes from :mod:`sandbox.channel_sandboxes`:
nothing here names a channel.
"""

from __future__ import annotations

from collections.abc import Iterable

from connector import services
from connector.context import AppContext
from connector.models import ChannelConnection
from connector.webhooks import webhook_registration


def connect_sandbox_channels(ctx: AppContext, account_id: int, sandbox,
                             kinds: Iterable[str]) -> list[ChannelConnection]:
    """Connect the sandbox's store of each channel kind in ``kinds`` to ``account_id``."""
    connections = []
    for kind in kinds:
        store = sandbox.channel(kind)
        connections.append(services.connect_channel(ctx, account_id, kind, store.credentials, base_url=store.url))
    return connections


def subscribe_sandbox_webhooks(ctx: AppContext, sandbox, connections: list[ChannelConnection],
                               public_base_url: str) -> dict[str, str]:
    """Register the connector's webhook URL (and secret) in each sandbox store; returns kind -> URL."""
    urls = {}
    for connection in connections:
        registration = webhook_registration(ctx, connection.id, public_base_url)
        sandbox.channel(connection.kind).subscribe(registration.url, registration.secret)
        urls[connection.kind] = registration.url
    return urls
