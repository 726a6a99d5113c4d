"""The fiscal profile of a seller's ERP connection, as the core reads it.

Every country fact the core needs (code lists and their defaults, the final consumer, the address
fields a contact needs, the time zone documents are dated in) comes from the ERP's declaration
(``fiscal_profile`` in :mod:`erp.base`) for the connection's country: the core holds no such literal.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from erp.base import FiscalProfile, profile_for_credentials
from erp.registry import erp_class


def fiscal_profile_of(connection: Any) -> FiscalProfile:
    """The profile of an ``ERPConnection`` (its ``kind`` and ``country``; no country: the ERP's default)."""
    return erp_class(connection.kind).fiscal_profile(getattr(connection, "country", None) or None)


def country_of_credentials(kind: str, credentials: dict[str, Any]) -> str:
    """The ISO country a connection of ``kind`` with these credentials invoices in (stored on the row)."""
    return profile_for_credentials(erp_class(kind), credentials).country


def local_zone(profile: FiscalProfile) -> tzinfo:
    return ZoneInfo(profile.time_zone)


def local_day(at: datetime, profile: FiscalProfile) -> date:
    """The day a document made at ``at`` is dated where the seller invoices."""
    return at.astimezone(local_zone(profile)).date()


def setting_or_default(profile: FiscalProfile, setting: str, value: str | None) -> str | None:
    """A fiscal setting the seller chose, else the country's default for it."""
    return value if value not in (None, "") else profile.default(setting)
