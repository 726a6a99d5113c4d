"""The ERP adapters this installation knows. Adding an ERP adds one line here."""

from __future__ import annotations

from importlib import import_module

ERPS: dict[str, str] = {
    "alegra": "erp.alegra.adapter:AlegraAdapter",
}


def erp_class(name: str):
    """The adapter class registered under ``name`` (imported on first use)."""
    try:
        target = ERPS[name]
    except KeyError:
        raise KeyError(f"unknown ERP {name!r}; known: {', '.join(sorted(ERPS))}") from None
    module, _, attr = target.partition(":")
    return getattr(import_module(module), attr)
