"""The ERP adapters this installation knows. Adding an ERP adds one line here."""

from __future__ import annotations

from connector.plugins import load_registered

ERPS: dict[str, str] = {
    "alegra": "erp.alegra.adapter:AlegraAdapter",
    "siigo": "erp.siigo.adapter:SiigoAdapter",
}


def erp_class(name: str):
    """The adapter class registered under ``name`` (imported on first use)."""
    return load_registered(ERPS, name, "ERP")
