"""The channel adapters this installation knows. Adding a marketplace adds one line here."""

from __future__ import annotations

from importlib import import_module

CHANNELS: dict[str, str] = {
    "mercadolibre": "channels.mercadolibre.adapter:MercadoLibreAdapter",
}


def channel_class(name: str):
    """The adapter class registered under ``name`` (imported on first use)."""
    try:
        target = CHANNELS[name]
    except KeyError:
        raise KeyError(f"unknown channel {name!r}; known: {', '.join(sorted(CHANNELS))}") from None
    module, _, attr = target.partition(":")
    return getattr(import_module(module), attr)
