"""What every route of the Alegra sandbox shares: its error envelope, amounts, references and lists.

Split from :mod:`sandbox.alegra` so the invoice-document routes (:mod:`sandbox.alegra_documents`) use
the same readers without importing the app module.
"""

from __future__ import annotations

import copy
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from flask import request

MAX_LIMIT = 30


class AlegraError(Exception):
    """An Alegra-style error answer: ``{"message", "code"}`` with an HTTP status."""

    def __init__(self, status: int, message: str, code: int | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code or status


def decimal_field(value: Any, what: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise AlegraError(400, f"El valor de {what} no es un número válido", 3010) from None
    if not number.is_finite():
        raise AlegraError(400, f"El valor de {what} no es un número válido", 3010)
    return number


def money(value: Decimal) -> float:
    """Alegra answers amounts as JSON numbers, rounded to 2 decimals."""
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def page_of(records: list[dict[str, Any]], *, newest_first: bool = False) -> Any:
    """One ``start``/``limit`` page ordered by ``order_field`` (id by default) in ``order_direction``
    (ASC|DESC; Alegra's documented list parameters), maybe with metadata."""
    try:
        start = int(request.args.get("start", 0))
        limit = int(request.args.get("limit", MAX_LIMIT))
    except ValueError:
        raise AlegraError(400, "Los parámetros start y limit deben ser números", 1003) from None
    if limit > MAX_LIMIT:
        raise AlegraError(400, f"El límite de elementos por consulta no puede ser mayor a {MAX_LIMIT}", 1004)
    if start < 0 or limit < 0:
        raise AlegraError(400, "Los parámetros start y limit deben ser positivos", 1003)
    direction = request.args.get("order_direction", "DESC" if newest_first else "ASC").upper()
    if direction not in ("ASC", "DESC"):
        raise AlegraError(400, "El parámetro order_direction debe ser ASC o DESC", 1005)
    # order_field names a field of the records (id by default); ties and records without it go by id.
    field = request.args.get("order_field") or "id"
    records = sorted(records, key=lambda r: (str(r.get(field) if r.get(field) is not None else ""), r["id"])
                     if field != "id" else r["id"], reverse=direction == "DESC")
    data = copy.deepcopy(records[start:start + limit])
    if request.args.get("metadata", "").lower() == "true":
        return {"metadata": {"total": len(records)}, "data": data}
    return data


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise AlegraError(400, "El cuerpo de la petición debe ser un objeto JSON", 1001)
    return body


def ref_id(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("id")
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def find_record(records: list[dict[str, Any]], ref: Any, what: str) -> dict[str, Any]:
    wanted = ref_id(ref)
    for record in records:
        if record["id"] == wanted:
            return record
    raise AlegraError(400, f"{what} no existe", 3004)


def day_field(value: Any, what: str) -> str:
    if not value:
        raise AlegraError(400, f"El campo {what} es obligatorio", 3001)
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise AlegraError(400, f"El campo {what} debe tener el formato yyyy-mm-dd", 3002) from None
