"""What an ERP declares besides its adapter: the fiscal profile of each country it serves, and the
checker the contract suite runs over every declaration (see :mod:`erp.base` for the whole contract).

Split from :mod:`erp.base` (which re-exports every name) to keep each module small.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from integrations.declarations import Option


@dataclass(frozen=True)
class FinalConsumer:
    """Who an invoice names when the buyer gave no document and the seller set no default one: the
    country's "consumidor final" / "público en general" (its document type and number)."""

    identification_type: str
    identification_number: str
    name: str = "Consumidor final"
    kind_of_person: str | None = None


@dataclass(frozen=True)
class ContactField:
    """A fiscal field of a contact that only some countries have (Mexico's uso CFDI, Panama's taxpayer
    type): its name (a key of ``ContactDraft.fiscal_fields``), label, choices and default."""

    name: str
    label: str
    options: tuple[Option, ...] = ()
    default: str | None = None
    help: str = ""


@dataclass(frozen=True)
class FiscalProfile:
    """The fiscal facts of one country as one ERP speaks them: every code list the seller picks from,
    the defaults the core starts from, the final consumer, the contact's required address fields
    (``ContactDraft`` attribute names), the time zone documents are dated in, and how a marketplace's
    document type (``CC``, ``RFC``, ``DNI``... as ``Identification.type`` carries it) becomes one of
    the ERP's identification types. ``document_kinds`` maps an identification type to the kind of
    sales document it gets where the kind depends on the buyer (Peru: RUC → factura, else boleta).
    ``unconfirmed`` says, in a sentence, which parts are not confirmed against the ERP's docs."""

    country: str  # ISO 3166-1 alpha-2
    country_name: str  # as the ERP writes it on a contact's address
    time_zone: str  # IANA name
    currency: str  # ISO 4217
    tax_authority: str  # how sellers call it, with its article ("La DIAN")
    identification_types: tuple[Option, ...]
    person_kinds: tuple[Option, ...]
    regimes: tuple[Option, ...]
    payment_forms: tuple[Option, ...]
    payment_methods: tuple[Option, ...]
    credit_note_types: tuple[Option, ...]
    final_consumer: FinalConsumer
    defaults: Mapping[str, str] = field(default_factory=dict)  # setting name -> code
    required_address_fields: tuple[str, ...] = ()
    contact_fields: tuple[ContactField, ...] = ()
    document_types: Mapping[str, str] = field(default_factory=dict)  # marketplace type -> identification type
    legal_identification_types: tuple[str, ...] = ()  # identification types of companies (legal entities)
    document_kinds: Mapping[str, str] = field(default_factory=dict)
    default_document_kind: str | None = None
    unconfirmed: str = ""

    def options(self, list_name: str) -> tuple[Option, ...]:
        """A code list by its setting's name (``identification_type``, ``kind_of_person``, ``regime``,
        ``payment_form``, ``payment_method``, ``credit_note_type``)."""
        return _PROFILE_LISTS[list_name](self)

    def default(self, setting: str) -> str | None:
        return self.defaults.get(setting)

    def identification_type_for(self, document_type: str | None) -> str | None:
        """The ERP's identification type for a marketplace's document type, or None when unknown
        (the caller falls back to the seller's configured type)."""
        if not document_type:
            return None
        key = document_type.strip().upper()
        if key in {option.code.upper() for option in self.identification_types}:
            return next(o.code for o in self.identification_types if o.code.upper() == key)
        return self.document_types.get(key)

    def document_kind_for(self, identification_type: str | None) -> str | None:
        return self.document_kinds.get((identification_type or "").upper(), self.default_document_kind)


_PROFILE_LISTS = {
    "identification_type": lambda p: p.identification_types,
    "kind_of_person": lambda p: p.person_kinds,
    "regime": lambda p: p.regimes,
    "payment_form": lambda p: p.payment_forms,
    "payment_method": lambda p: p.payment_methods,
    "credit_note_type": lambda p: p.credit_note_types,
}


def profile_for_credentials(erp_cls: Any, credentials: Mapping[str, Any] | None) -> FiscalProfile:
    """The fiscal profile of a connection of ``erp_cls`` with these credentials (its country credential,
    else the ERP's default country)."""
    country = None
    if erp_cls.country_credential and credentials:
        country = credentials.get(erp_cls.country_credential) or None
    return erp_cls.fiscal_profile(country)


def declaration_problems(erp_cls: Any) -> list[str]:
    """What is missing or inconsistent in an ERP's declaration (empty when complete); the contract
    suite asserts it is empty for every registered ERP."""
    problems: list[str] = []
    for attr in ("name", "display_name", "setup_help", "credential_fields", "supported_settings"):
        if not getattr(erp_cls, attr, None):
            problems.append(f"{attr} is empty")
    names = [f.name for f in getattr(erp_cls, "credential_fields", ())]
    if len(names) != len(set(names)):
        problems.append("credential field names repeat")
    country_field = getattr(erp_cls, "country_credential", None)
    countries: tuple[str | None, ...] = (None,)
    if country_field is not None:
        field_ = next((f for f in erp_cls.credential_fields if f.name == country_field), None)
        if field_ is None or not field_.choices:
            problems.append("country_credential names no credential field with choices")
        else:
            countries = field_.choice_codes()
    for country in countries:
        profile = erp_cls.fiscal_profile(country)
        where = f"profile {country or 'default'}"
        if country and profile.country != country:
            problems.append(f"{where}: country is {profile.country}")
        for list_name in _PROFILE_LISTS:
            if not profile.options(list_name):
                problems.append(f"{where}: {list_name} list is empty")
        for setting, code in profile.defaults.items():
            if setting in _PROFILE_LISTS and code not in {o.code for o in profile.options(setting)}:
                problems.append(f"{where}: default {setting}={code} is not in its list")
        codes = {o.code for o in profile.identification_types}
        if profile.final_consumer.identification_type not in codes:
            problems.append(f"{where}: final consumer's document type is not an identification type")
        for source, target in profile.document_types.items():
            if target not in codes:
                problems.append(f"{where}: document type {source} maps to unknown {target}")
        for attr in profile.required_address_fields:
            if attr not in _contact_fields():
                problems.append(f"{where}: required address field {attr} is not a contact field")
        try:
            ZoneInfo(profile.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"{where}: unknown time zone {profile.time_zone}")
    return problems


def _contact_fields() -> set[str]:
    from erp.base import ContactDraft  # erp.base imports this module

    return set(ContactDraft.__dataclass_fields__)
