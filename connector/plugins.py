"""Adapters are registered as "module:attribute" strings and imported on first use, so installing
the connector never imports a marketplace or ERP nobody uses."""

from __future__ import annotations

from importlib import import_module


def load_registered(registry: dict[str, str], name: str, what: str):
    """The class registered under ``name``; a clear KeyError when there is none."""
    try:
        target = registry[name]
    except KeyError:
        raise KeyError(f"unknown {what} {name!r}; known: {', '.join(sorted(registry))}") from None
    module, _, attr = target.partition(":")
    return getattr(import_module(module), attr)


def package_of(target: str) -> str:
    """The package a registered "module:attribute" lives in (``erp.<name>`` for
    ``erp.<name>.adapter:<Name>Adapter``): the adapter's folder, which also holds its optional parts
    (a channel's ``authorization`` module, the adapter's ``translations``)."""
    return target.partition(":")[0].rpartition(".")[0]
