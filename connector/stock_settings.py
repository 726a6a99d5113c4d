"""A channel connection's stock settings: whether the ERP's stock is published there, from which
warehouse, with what safety buffer, and (off by default) prices from which price list.

Stored in ``channel_connections.stock_settings``; read and written through :func:`stock_settings_of`
and :func:`parse_stock_assignments` (CLI ``key=value``, the panel's form goes through the same model).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connector.errors import ConfigurationError

STOCK_SETTING_LABELS = {
    "enabled": "Publicar el stock del ERP en este canal",
    "warehouse_id": "Bodega de la cual se obtienen los inventarios",
    "buffer": "Margen de seguridad (unidades que no se publican)",
    "sync_prices": "Publicar también los precios",
    "price_list_id": "Lista de precios",
    "prices_include_tax": "Precios publicados con impuestos incluidos",
}


class StockSettings(BaseModel):
    """What the seller chose for one channel connection (everything off by default)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    enabled: bool = False
    warehouse_id: str | None = None  # None: the invoicing warehouse, else every warehouse together
    buffer: int = Field(0, ge=0, le=100_000)
    sync_prices: bool = False
    price_list_id: str | None = None
    prices_include_tax: bool = True  # marketplaces show prices with tax; the ERP's lists are before tax

    @field_validator("warehouse_id", "price_list_id", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _prices_need_a_list(self) -> StockSettings:
        if self.sync_prices and not self.price_list_id:
            raise ValueError("para publicar precios elige la lista de precios del ERP")
        return self


# The validation library's words, said the seller's way.
_PROBLEMS = {"greater_than_equal": "debe ser 0 o más", "less_than_equal": "es demasiado grande",
             "int_parsing": "debe ser un número entero", "int_from_float": "debe ser un número entero",
             "bool_parsing": "debe ser sí o no (true o false)", "extra_forbidden": "no es un ajuste de stock"}


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(p) for p in error.get("loc", ()))
    label = STOCK_SETTING_LABELS.get(field, field)
    message = _PROBLEMS.get(error.get("type", "")) or str(error.get("msg") or "").removeprefix("Value error, ")
    return f"{label}: {message}" if label else message


def stock_settings_of(raw: dict[str, Any] | None) -> StockSettings:
    """The stored settings, validated (``ConfigurationError`` in the seller's words when not)."""
    try:
        return StockSettings.model_validate(raw or {})
    except ValidationError as exc:
        raise ConfigurationError(f"La configuración de stock no es válida: {_first_error(exc)}") from exc


def parse_stock_assignments(current: dict[str, Any] | None, assignments: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` strings to the stored settings; ``key=`` clears an optional value."""
    updated = dict(current or {})
    fields = StockSettings.model_fields
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        key = key.strip()
        if not sep or key not in fields:
            raise ConfigurationError(f"Ajuste de stock desconocido «{key}». Ajustes válidos: "
                                     f"{', '.join(sorted(fields))}")
        updated[key] = None if value.strip() == "" and fields[key].default is None else value.strip()
    try:
        return StockSettings.model_validate(updated).model_dump(mode="json")
    except ValidationError as exc:
        raise ConfigurationError(f"Valor no válido: {_first_error(exc)}") from exc
