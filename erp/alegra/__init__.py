"""Alegra (ERP): ``client`` (requestor, errors, rate limit), ``parsing``, ``payloads`` and ``adapter``."""

from erp.alegra.adapter import AlegraAdapter

__all__ = ["AlegraAdapter"]
