"""Reading a marketplace's raw documents: what every channel's parser and endpoints use.

A parser reads one order with a :class:`PayloadReader`, which turns every missing or malformed
field into :class:`~connector.errors.InvalidPayload` naming the channel, the order and the field in
Spanish ("El pedido 123 de Shopify no se puede leer: falta la moneda (campo currency)."), and runs
under :func:`parse_safely`, so nothing but ``InvalidPayload`` leaves a parser. Buyers' documents
typed into store fields (Shopify, WooCommerce) are recognised by :func:`identification_from`.
Endpoints decode answers with :func:`json_document`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from pydantic import ValidationError

from connector.canonical import Address, Identification, KindOfPerson, Order, PulledOrder
from connector.errors import InvalidPayload, TransientError


class PayloadReader:
    """Reads one order's fields, raising ``InvalidPayload`` that names the channel, the order and the
    field, in Spanish. No ``KeyError``/``TypeError`` escapes a parser built on it.

    ``naive_tz`` is the zone of a date that carries no offset (the marketplace's server zone).
    """

    def __init__(self, channel_label: str, order_id: str | None, *, naive_tz: tzinfo = UTC):
        self.channel_label = channel_label
        self.order_id = order_id
        self.naive_tz = naive_tz

    def invalid(self, reason: str, field_name: str) -> InvalidPayload:
        who = (f"El pedido {self.order_id} de {self.channel_label}" if self.order_id
               else f"Un pedido de {self.channel_label}")
        return InvalidPayload(f"{who} no se puede leer: {reason} (campo {field_name}).",
                              detail=f"field {field_name}")

    def decimal(self, value: Any, field_name: str, *, label: str) -> Decimal:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise self.invalid(f"falta {label}", field_name)
        if isinstance(value, bool):
            raise self.invalid(f"{label} no es un número", field_name)
        try:
            if isinstance(value, int | Decimal):
                number = Decimal(value)
            elif isinstance(value, float):
                number = Decimal(repr(value)) if math.isfinite(value) else Decimal("NaN")
            elif isinstance(value, str):
                number = Decimal(value.strip())
            else:
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            raise self.invalid(f"{label} no es un número ({shown(value)})", field_name) from None
        if not number.is_finite():
            raise self.invalid(f"{label} no es un número ({shown(value)})", field_name)
        return number

    def amount(self, value: Any, field_name: str, *, label: str) -> Decimal:
        """A non-negative amount."""
        number = self.decimal(value, field_name, label=label)
        if number < 0:
            raise self.invalid(f"{label} es negativo ({number})", field_name)
        return number

    def optional_amount(self, value: Any, field_name: str, *, label: str) -> Decimal:
        """An amount that may be missing (0 then)."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return Decimal("0")
        return self.amount(value, field_name, label=label)

    def quantity(self, value: Any, field_name: str, *, label: str) -> Decimal:
        """A quantity greater than zero (``label``: "la cantidad del producto 2")."""
        number = self.decimal(value, field_name, label=label)
        if number <= 0:
            raise self.invalid(f"{label} debe ser mayor que cero ({number})", field_name)
        return number

    def date(self, value: Any, field_name: str, *, label: str) -> datetime:
        parsed = parse_iso_datetime(value, naive_tz=self.naive_tz)
        if parsed is None:
            raise self.invalid(f"{label} falta o no es una fecha válida ({shown(value)})", field_name)
        return parsed


def order_document(pulled: PulledOrder, channel_label: str, *, shown_id_key: str | None = None,
                   naive_tz: tzinfo = UTC) -> tuple[dict[str, Any], str, PayloadReader]:
    """The order document of ``pulled.raw["order"]``, its id and a reader naming it.

    ``shown_id_key`` is the field the seller knows the order by (Shopify's ``name`` "#1001",
    WooCommerce's ``number``), used in messages when present.
    """
    raw = pulled.raw if isinstance(pulled.raw, dict) else {}
    order = raw.get("order")
    if not isinstance(order, dict):
        raise PayloadReader(channel_label, pulled.external_id).invalid("no viene el documento del pedido", "order")
    order_id = text_of(order.get("id"))
    shown_id = text_of(order.get(shown_id_key)) if shown_id_key else None
    read = PayloadReader(channel_label, shown_id or order_id or pulled.external_id, naive_tz=naive_tz)
    if order_id is None:
        raise read.invalid("falta el identificador del pedido", "id")
    return order, order_id, read


def parse_iso_datetime(value: Any, *, naive_tz: tzinfo = UTC) -> datetime | None:
    """An ISO 8601 string as an aware datetime (naive values in ``naive_tz``); None if unusable."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=naive_tz)


def shown(value: Any) -> str:
    """A short ``repr`` for error messages."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def text_of(value: Any) -> str | None:
    """A non-empty stripped string from a str or an int id; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def dict_of(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def list_of(value: Any) -> list[Any]:
    """``value`` when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def address_or_none(address: Address) -> Address | None:
    """``address`` unless every field is empty (a buyer without an address has none)."""
    return address if any(address.model_dump().values()) else None


def parse_safely(parse: Callable[[PulledOrder], Order], pulled: PulledOrder, channel_label: str) -> Order:
    """Run a parser; anything but ``InvalidPayload`` (a validation error, a parser bug) becomes one."""
    try:
        return parse(pulled)
    except InvalidPayload:
        raise
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        raise InvalidPayload(
            f"El pedido {pulled.external_id} de {channel_label} no es válido: {first.get('msg', exc)} ({where}).",
            detail=str(exc)[:500]) from None
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:  # safety net
        raise InvalidPayload(f"El pedido {pulled.external_id} de {channel_label} tiene un formato inesperado.",
                             detail=f"{type(exc).__name__}: {exc}"[:500]) from None


def split_document(number: str, id_type: str | None) -> tuple[str, str | None]:
    """``900123456-7`` as a NIT: the number and its verification digit; other documents unchanged."""
    if id_type == "NIT" and "-" in number:
        base, _, dv = number.rpartition("-")
        return base, (dv.strip() or None)
    return number, None


# Names stores give the field where buyers type their tax id (folded: lower case, no accents).
DOCUMENT_FIELD_NAMES = frozenset({
    "cedula", "cc", "nit", "documento", "documento de identidad", "numero de documento", "identificacion",
    "numero de identificacion", "rut", "dni", "document", "tax id", "cedula o nit", "cedula/nit", "nit/cedula",
    "ruc", "rfc", "curp", "cpf", "cnpj", "id number", "billing cedula", "billing nit", "billing documento",
    "billing document", "billing dni", "billing rut", "billing identificacion", "billing id number",
})
_NIT_SHAPE = re.compile(r"[89]\d{8}-\d")
DOCUMENT_SHAPE = re.compile(r"[0-9][0-9.\s]{4,}(-[0-9kK])?")


def fold_label(text: str) -> str:
    """``"Número de Cédula:"`` -> ``"numero de cedula"`` (no accents, lower case, single spaces)."""
    without_accents = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = without_accents.lower().replace(".", " ").replace(":", " ").replace("_", " ")
    return " ".join(cleaned.split())


def document_type(source: str | None, number: str) -> str | None:
    """NIT or CC when the field's name or the number's shape says so; None leaves the seller's default."""
    words = set(re.split(r"[\s/]+", fold_label(source))) if source else set()
    if "nit" in words and not words & {"cedula", "cc"}:
        return "NIT"
    if words & {"cedula", "cc"} and "nit" not in words:
        return "CC"
    return "NIT" if _NIT_SHAPE.fullmatch(number) else None


def identification_from(value: str, source: str | None, read: PayloadReader,
                        field_name: str) -> Identification:
    """A buyer's document typed in a store field (``"1.017.234.567"``, ``"900123456-7"``)."""
    compact = value.replace(".", "").replace(" ", "")
    id_type = document_type(source, compact)
    number, dv = split_document(compact, id_type)
    if not any(ch.isalnum() for ch in number):
        raise read.invalid(f"el documento del comprador no es válido ({shown(value)})", field_name)
    return Identification(type=id_type, number=number, dv=dv)


def typed_document(found: tuple[str, str | None] | None, read: PayloadReader,
                   field_name: str) -> tuple[Identification | None, KindOfPerson | None]:
    """A document a store field holds (``(value, field name)``, see each parser's ``find_document``),
    and the kind of person its type tells: NIT a company, CC a person, anything else unknown."""
    if found is None:
        return None, None
    identification = identification_from(found[0], found[1], read, field_name)
    return identification, {"NIT": KindOfPerson.LEGAL, "CC": KindOfPerson.PERSON}.get(identification.type or "")


def json_document(response: httpx.Response, service: str, what: str, kind: type = dict) -> Any:
    """The decoded body of a 2xx answer, which must be a JSON ``kind`` (object or array).

    Anything else is a cache, proxy, maintenance or outage page answering 200: worth another try
    later, so :class:`TransientError` ("<service> respondió algo inesperado al leer <what>.").
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, kind):
        raise TransientError(f"{service} respondió algo inesperado al leer {what}.",
                             detail=f"{response.request.url.path}: not a JSON {kind.__name__}")
    return body
