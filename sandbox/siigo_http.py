"""Siigo's error envelope, JSON bodies and pages of 25, shared by the Siigo sandbox's modules."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from flask import request

CENT = Decimal("0.01")
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100  # *unconfirmed* in Siigo's docs (clients use 100); the sandbox refuses more


class SiigoError(Exception):
    """An answer in Siigo's envelope: ``{"Status", "Errors": [{"Code", "Message", "Params", "Detail"}]}``."""

    def __init__(self, status: int, code: str, message: str, params: list[str] | None = None, *,
                 retry_after: int | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.params = status, code, message, params or []
        self.retry_after = retry_after  # seconds, sent as Retry-After (see sandbox.siigo on 429s)

    def body(self) -> dict[str, Any]:
        return {"Status": self.status, "Errors": [{
            "Code": self.code, "Message": self.message, "Params": self.params,
            "Detail": "Check the API documentation: https://siigoapi.docs.apiary.io/"}]}


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise SiigoError(415 if not request.is_json else 400, "invalid_type", "The body must be a JSON object")
    return body


def paged(records: list[dict[str, Any]], resource: str) -> dict[str, Any]:
    """One page of ``records`` as Siigo answers lists (``page``/``page_size``, 25 by default)."""
    try:
        page = int(request.args.get("page", 1))
        size = int(request.args.get("page_size", DEFAULT_PAGE_SIZE))
    except ValueError:
        raise SiigoError(400, "invalid_type", "page and page_size must be numbers", ["page"]) from None
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise SiigoError(400, "invalid_range", f"page_size must be between 1 and {MAX_PAGE_SIZE}", ["page_size"])
    start = (page - 1) * size
    base = f"{request.host_url.rstrip('/')}/v1/{resource}"
    links = {"self": {"href": f"{base}?page={page}&page_size={size}"}}
    if page > 1:
        links["previous"] = {"href": f"{base}?page={page - 1}&page_size={size}"}
    if start + size < len(records):
        links["next"] = {"href": f"{base}?page={page + 1}&page_size={size}"}
    return {"pagination": {"page": page, "page_size": size, "total_results": len(records)},
            "results": records[start:start + size], "_links": links}


def number(value: Any, what: str, *, places: int) -> Decimal:
    """A JSON number with at most ``places`` decimals (Siigo: quantities 2, prices 6, values 2)."""
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise SiigoError(400, "invalid_type", f"The field {what} must be a number", [what]) from None
    if not out.is_finite() or out.as_tuple().exponent < -places:  # type: ignore[operator]
        raise SiigoError(400, "invalid_amount", f"The field {what} takes at most {places} decimals", [what])
    return out


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def money(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)
