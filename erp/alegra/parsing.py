"""Defensive parsing of Alegra's JSON into the ERP-neutral dataclasses.

Alegra sends ids and amounts sometimes as numbers, sometimes as strings; ``numberTemplate`` as an
object or as a one-element array; ``identification`` as a string or an object. Every reader here
accepts all of them. Invoices (number, e-invoice status, payments) are read in :mod:`erp.alegra.invoice_parsing`.

Item shapes we accept (the sandbox serves the first of each; see ``sandbox/alegra.py``)::

    # a variant is its own item and points to its parent
    {"id": 14, "type": "variant", "name": "Camiseta / Blanco / S", "reference": "CAM-PIM-BLANCO-S",
     "idItemParent": 13,                                     # also: itemParent {id} | itemParent | idParent
     "variantAttributes": [{"name": "Color", "value": "Blanco"}, ...],   # also: [{"name", "options": [{"value"}]}]
     "customFields": [{"id": 1, "name": "Código de barras", "value": "7700000020011"}], ...}
    # the parent lists its variants
    {"id": 13, "type": "variantParent", "itemVariants": [{"id": 14, "name": ..., "variantAttributes": [...]}]}
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.errors import InvalidPayload
from erp.base import CatalogItem, Choice, ERPOptions, ItemStock

_PARENT_KEYS = ("idItemParent", "itemParent", "idParent", "parent")


# -- scalars -----------------------------------------------------------------------------------


def as_id(value: Any) -> str | None:
    """An Alegra id as text: ``12``, ``"12"``, ``12.0`` and ``{"id": 12}`` all give ``"12"``."""
    if isinstance(value, dict):
        value = value.get("id")
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def as_decimal(value: Any, default: Decimal | None = None) -> Decimal | None:
    """An amount sent as number or string (``"19.00"``, ``19``, ``19.0``); ``default`` when unreadable."""
    if value is None or isinstance(value, bool):
        return default
    if isinstance(value, float):
        value = repr(value)  # shortest round-trip text, no binary noise
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        return default
    return number if number.is_finite() else default


def as_text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def normalize_label(text: str) -> str:
    """Case- and accent-insensitive form of a label ("Código de Barras" -> "codigo de barras")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


def as_list(value: Any) -> list[Any]:
    """A list from a list, a single object, or nothing."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def records_of(body: Any) -> tuple[list[dict[str, Any]], int | None]:
    """Records and total of a list answer: a plain array, or ``{"metadata": {"total"}, "data"}``."""
    if isinstance(body, list):
        return [r for r in body if isinstance(r, dict)], None
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        total = as_decimal(metadata.get("total"))
        return [r for r in body["data"] if isinstance(r, dict)], int(total) if total is not None else None
    raise InvalidPayload("Alegra devolvió una lista con un formato inesperado.", detail=repr(body)[:300])


# -- items -------------------------------------------------------------------------------------


def parse_item(raw: dict[str, Any], options: ERPOptions, *, parent: CatalogItem | None = None) -> CatalogItem:
    """An Alegra item (any type) as a :class:`CatalogItem`.

    ``parent`` is given for variants embedded in a parent's ``itemVariants``: missing taxes and prices
    are inherited from it.
    """
    erp_id = as_id(raw.get("id"))
    if erp_id is None:
        raise InvalidPayload("Alegra devolvió un ítem sin id.", detail=repr(raw)[:300])
    kind = as_text(raw.get("type")) or ("variant" if parent else "product")
    taxes = [t for t in as_list(raw.get("tax")) if isinstance(t, dict)]
    tax_ids = tuple(i for i in (as_id(t.get("id")) for t in taxes) if i)
    tax_rate = sum((as_decimal(t.get("percentage"), Decimal("0")) for t in taxes), Decimal("0"))
    prices = parse_prices(raw.get("price"))
    parent_id = parse_parent_id(raw) or (parent.erp_id if parent else None)
    if parent is not None:
        tax_ids, tax_rate = (tax_ids, tax_rate) if taxes else (parent.tax_ids, parent.tax_rate)
        prices = prices or dict(parent.prices)
    reference = parse_reference(raw.get("reference"))
    return CatalogItem(
        erp_id=erp_id,
        name=as_text(raw.get("name")) or "",
        kind=kind,
        reference=reference,
        barcodes=parse_barcodes(raw, reference, options),
        parent_id=parent_id,
        variant_options=parse_variant_options(raw.get("variantAttributes")) if kind == "variant" else {},
        tax_ids=tax_ids,
        tax_rate=tax_rate,
        active=(as_text(raw.get("status")) or "active").lower() != "inactive",
        prices=prices,
    )


def parse_reference(value: Any) -> str | None:
    """``reference`` is a string; some accounts send ``{"reference": "...", "type": ...}``."""
    if isinstance(value, dict):
        value = value.get("reference", value.get("value"))
    return as_text(value)


def parse_prices(value: Any) -> dict[str, Decimal]:
    """``[{idPriceList, price}]`` -> {price list id: price}. A bare number is kept under ``"main"``."""
    if value is None or isinstance(value, (str, int, float)):
        amount = as_decimal(value)
        return {"main": amount} if amount is not None else {}
    prices: dict[str, Decimal] = {}
    for entry in as_list(value):
        if not isinstance(entry, dict):
            continue
        list_id = as_id(entry.get("idPriceList")) or "main"
        amount = as_decimal(entry.get("price"))
        if amount is not None:
            prices[list_id] = amount
    return prices


def parse_parent_id(raw: dict[str, Any]) -> str | None:
    for key in _PARENT_KEYS:
        parent = as_id(raw.get(key))
        if parent:
            return parent
    return None


def parse_variant_options(value: Any) -> dict[str, str]:
    """A variant's attribute values, from ``[{"name", "value"}]``, ``[{"name", "options": [{"value"}]}]``
    or ``{"Color": "Rojo"}``."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items() if as_text(v)}
    found: dict[str, str] = {}
    for attribute in as_list(value):
        if not isinstance(attribute, dict):
            continue
        name = as_text(attribute.get("name"))
        option = attribute.get("value", attribute.get("option"))
        if option is None:
            options = as_list(attribute.get("options"))
            option = options[0] if len(options) == 1 else None
        if isinstance(option, dict):
            option = option.get("value")
        option = as_text(option)
        if name and option:
            found[name] = option
    return found


def parse_barcodes(raw: dict[str, Any], reference: str | None, options: ERPOptions) -> tuple[str, ...]:
    """Barcodes per ``options.barcode_source`` (where Alegra keeps them is unconfirmed, see API_NOTES).

    A top-level ``barcode`` field is always accepted if present.
    """
    found: list[str] = []
    top_level = as_text(raw.get("barcode"))
    if top_level:
        found.append(top_level)
    if options.barcode_source in ("custom_field", "both"):
        wanted = {normalize_label(n) for n in options.barcode_field_names}
        for custom in as_list(raw.get("customFields")):
            if not isinstance(custom, dict):
                continue
            labels = (as_text(custom.get("name")), as_text(custom.get("key")))
            value = as_text(custom.get("value"))
            if value and any(label and normalize_label(label) in wanted for label in labels):
                found.append(value)
    if options.barcode_source in ("reference", "both") and reference:
        found.append(reference)
    return tuple(dict.fromkeys(found))  # dedupe, keep order


def embedded_variants(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``itemVariants`` a variant parent lists (may be summaries)."""
    return [v for v in as_list(raw.get("itemVariants")) if isinstance(v, dict) and as_id(v.get("id"))]


# -- settings lists ----------------------------------------------------------------------------


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "si", "sí")
    return bool(value)


def parse_choice(raw: dict[str, Any], extra_keys: tuple[str, ...], **computed: Any) -> Choice | None:
    """A dropdown value; ``extra`` keeps ``extra_keys`` as sent plus the ``computed`` values."""
    choice_id = as_id(raw.get("id"))
    if choice_id is None:
        return None
    extra = {key: raw[key] for key in extra_keys if key in raw}
    return Choice(id=choice_id, name=as_text(raw.get("name")) or choice_id, extra={**extra, **computed})


def parse_tax_choice(raw: dict[str, Any]) -> Choice | None:
    return parse_choice(raw, ("type", "description", "status"),
                        percentage=as_decimal(raw.get("percentage"), Decimal("0")))


def parse_number_template_choice(raw: dict[str, Any]) -> Choice | None:
    return parse_choice(raw, ("prefix", "documentType", "status", "nextInvoiceNumber"),
                        isElectronic=_flag(raw.get("isElectronic")), isDefault=_flag(raw.get("isDefault")))


def parse_warehouse_choice(raw: dict[str, Any]) -> Choice | None:
    return parse_choice(raw, ("observations", "address", "status"), isDefault=_flag(raw.get("isDefault")))


def parse_price_list_choice(raw: dict[str, Any]) -> Choice | None:
    return parse_choice(raw, ("type", "percentage", "status"),
                        isDefault=_flag(raw.get("main", raw.get("isDefault"))))


def parse_bank_account_choice(raw: dict[str, Any]) -> Choice | None:
    return parse_choice(raw, ("type", "status", "description"))


# -- contacts -------------------------------------------------------------------------------------


def contact_identification(raw: dict[str, Any]) -> str | None:
    """The identification number of a contact: ``identificationObject.number`` or ``identification``
    (a string, or an object ``{type, number}``)."""
    for key in ("identificationObject", "identification"):
        value = raw.get(key)
        if isinstance(value, dict):
            value = value.get("number")
        number = as_text(value)
        if number:
            return number
    return None


# -- stock -------------------------------------------------------------------------------------


def parse_item_stock(raw: dict[str, Any], warehouse_id: str | None) -> ItemStock:
    """An item's available quantity in ``warehouse_id`` (``inventory.warehouses[].availableQuantity``;
    all warehouses: ``inventory.availableQuantity``) and its prices. An item without ``inventory``
    (services, variant parents) keeps no stock: ``quantity`` None. An inventoried item the warehouse
    does not list has none there (0). Quantities are read defensively (numbers or strings)."""
    erp_id = as_id(raw.get("id"))
    if erp_id is None:
        raise InvalidPayload("Alegra devolvió un ítem sin id.", detail=repr(raw)[:300])
    inventory = raw.get("inventory")
    quantity: Decimal | None = None
    if isinstance(inventory, dict) and as_text(raw.get("type")) not in ("service", "variantParent", "kit"):
        if warehouse_id is None:
            quantity = as_decimal(inventory.get("availableQuantity"), Decimal("0"))
        else:
            rows = [w for w in as_list(inventory.get("warehouses")) if isinstance(w, dict)]
            row = next((w for w in rows if as_id(w.get("id")) == str(warehouse_id)), None)
            quantity = as_decimal(row.get("availableQuantity"), Decimal("0")) if row else Decimal("0")
    return ItemStock(erp_id=erp_id, quantity=quantity, prices=parse_prices(raw.get("price")),
                     name=as_text(raw.get("name")) or "")
