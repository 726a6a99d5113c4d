"""Settings checked against everything they imply, every problem at once, in the seller's words.

A save of the invoicing settings (panel "Configuración" / "Facturación automática", CLI ``rules set``)
is judged as a whole before anything is stored:

* each value on its own (a number, a yes/no, one of a list): pydantic's verdict, turned into words
  (:func:`problems_from_validation`) — its own messages and our field names never reach a seller;
* what the values imply together (:func:`implied_problems`): "Expedir" without an e-mail for buyers
  who give none, shipping invoiced without the product that invoices it, a placeholder the
  observations cannot fill, a payment without the account it goes to, a product missing from the
  ERP catalog, an origin channel that is not connected.

A problem names the field it belongs to (the panel shows it next to that field) and carries its
Spanish text as a message id with parameters, so each reader's language can be applied when shown.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from connector.errors import ConfigurationError
from connector.reasons import N_

PLACEHOLDERS = ("channel", "order_id", "pack_id")


@dataclass(frozen=True)
class SettingProblem:
    """One thing wrong with the settings: where (``field``, a setting name or "" for the whole form)
    and what, as a Spanish message id (``message``) with its ``params``."""

    field: str
    message: str
    params: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def text(self) -> str:
        return self.message % self.params if self.params else self.message

    @property
    def key(self) -> tuple[str, str]:
        return self.field, self.text


class SettingsProblems(ConfigurationError):
    """The settings were not saved: every problem found, each at its field."""

    def __init__(self, problems: list[SettingProblem], labels: dict[str, str]):
        self.problems = problems
        lines = [f"{labels.get(p.field, '')}: {p.text}" if p.field else p.text for p in problems]
        super().__init__("La configuración no se guardó: " + " · ".join(lines))
        self.lines = lines


# -- one value at a time: pydantic's verdict in words -------------------------------------------

def _expected(ctx: dict[str, Any]) -> str:
    """pydantic's ``expected`` ("'open' or 'draft'") as a plain list: open, draft."""
    raw = str(ctx.get("expected", ""))
    return raw.replace("'", "").replace(" or ", ", ")


# pydantic's error type → our words. *Unconfirmed* complete list of pydantic v2 types: anything not
# listed gets the generic sentence, never pydantic's own message.
_WORDS_FOR_TYPE: dict[str, Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]] = {
    "bool_parsing": lambda c: (N_("debe ser sí o no (true o false)."), {}),
    "bool_type": lambda c: (N_("debe ser sí o no (true o false)."), {}),
    "int_parsing": lambda c: (N_("debe ser un número entero."), {}),
    "int_type": lambda c: (N_("debe ser un número entero."), {}),
    "int_from_float": lambda c: (N_("debe ser un número entero, sin decimales."), {}),
    "greater_than_equal": lambda c: (N_("debe ser %(limit)s o más."), {"limit": c.get("ge")}),
    "greater_than": lambda c: (N_("debe ser mayor que %(limit)s."), {"limit": c.get("gt")}),
    "less_than_equal": lambda c: (N_("debe ser %(limit)s o menos."), {"limit": c.get("le")}),
    "less_than": lambda c: (N_("debe ser menor que %(limit)s."), {"limit": c.get("lt")}),
    "string_too_long": lambda c: (N_("admite hasta %(limit)s caracteres."), {"limit": c.get("max_length")}),
    "literal_error": lambda c: (N_("debe ser uno de estos valores: %(values)s."), {"values": _expected(c)}),
    "enum": lambda c: (N_("debe ser uno de estos valores: %(values)s."), {"values": _expected(c)}),
    "list_type": lambda c: (N_("debe ser una lista separada por comas."), {}),
    "string_type": lambda c: (N_("debe ser un texto."), {}),
    "extra_forbidden": lambda c: (N_("no es un ajuste que exista."), {}),
    "missing": lambda c: (N_("falta este valor."), {}),
}


def problems_from_validation(exc: ValidationError) -> list[SettingProblem]:
    """Every error pydantic found, each at its field and in words. Our own validators raise
    ``ValueError`` with a Spanish sentence: that sentence is kept (without pydantic's prefix)."""
    problems = []
    for error in exc.errors():
        loc = error.get("loc") or ()
        where = str(loc[0]) if loc else ""
        kind = error.get("type", "")
        if kind == "value_error":
            original = (error.get("ctx") or {}).get("error")
            text = str(original) if original is not None else N_("el valor no es válido.")
            problems.append(SettingProblem(where, text))
            continue
        words = _WORDS_FOR_TYPE.get(kind)
        message, params = words(error.get("ctx") or {}) if words else ("el valor no es válido.", {})
        problems.append(SettingProblem(where, message, params))
    return problems


def validation_in_words(exc: ValidationError, labels: dict[str, str]) -> str:
    """One line for places that show a single text (a stored order's reason, the CLI's ``error:``)."""
    return " · ".join(f"«{labels.get(p.field, p.field)}» {p.text}" if p.field else p.text
                      for p in problems_from_validation(exc))


# -- what the values imply together ------------------------------------------------------------

def placeholder_problems(template: str) -> list[SettingProblem]:
    """Placeholders of the observations text that cannot be filled, and braces left open."""
    try:
        names = [name for _text, name, _spec, _conv in string.Formatter().parse(template) if name is not None]
    except ValueError:
        return [SettingProblem("observations", "tiene una llave «{» o «}» sin pareja; para escribir una llave "
                                               "literal usa dos ({{ o }}).")]
    unknown = [n for n in dict.fromkeys(names) if n not in PLACEHOLDERS]
    if not unknown:
        return []
    return [SettingProblem("observations", "usa %(unknown)s, que no existe. Puedes usar {channel}, {order_id} y "
                                           "{pack_id}.", {"unknown": ", ".join("{" + n + "}" for n in unknown)})]


@dataclass(frozen=True)
class CheckContext:
    """What the implied checks read outside the settings: the ERP catalog cache and the account's
    connected channels (kinds and connection ids)."""

    item_exists: Callable[[str], bool]
    channel_refs: frozenset[str]


def implied_problems(values: Any, context: CheckContext) -> list[SettingProblem]:
    """What the settings imply together (``values``: an :class:`~connector.rules.InvoicingSettings`)."""
    problems: list[SettingProblem] = []
    if values.stamp and not values.default_email:
        problems.append(SettingProblem(
            "default_email", "«Expedir / Emitir factura» está activado y la factura electrónica necesita el "
                             "e-mail del comprador, que muchos canales no dan: escribe un e-mail por defecto o "
                             "desactiva «Expedir»."))
    if values.invoice_shipping and not values.shipping_item_id:
        problems.append(SettingProblem(
            "shipping_item_id", "«Facturar el costo de envío» está activado y no hay un producto que facture el "
                                "envío: elige uno (por ejemplo «Envío») o desactiva esa opción."))
    elif values.shipping_item_id and not context.item_exists(values.shipping_item_id):
        problems.append(SettingProblem(
            "shipping_item_id", "el producto %(item)s no está en el catálogo del ERP; elige otro o actualiza el "
                                "catálogo.", {"item": values.shipping_item_id}))
    problems += placeholder_problems(values.observations)
    if values.record_payment and not values.payment_account_id:
        problems.append(SettingProblem(
            "payment_account_id", "«Registrar el pago» está activado: elige la cuenta bancaria o caja donde entra "
                                  "el dinero, o desactiva esa opción."))
    unknown = [c for c in values.origin_channels if c.lower() not in context.channel_refs]
    if unknown:
        problems.append(SettingProblem(
            "origin_channels", N_("%(channels)s no es un canal conectado a esta cuenta."), {"channels": ", ".join(unknown)}))
    return problems


def choice_problem(setting: str, value: str, what: str, choices: Iterable[Any]) -> SettingProblem | None:
    """``value`` must be one of the ERP's ``choices`` (a warehouse, a price list, a numbering…)."""
    choices = list(choices)
    if str(value) in {str(c.id) for c in choices}:
        return None
    valid = ", ".join(f"{c.id} ({c.name})" for c in choices) or "ninguna"
    return SettingProblem(setting, N_("%(what)s %(value)s no existe en el ERP. Opciones: %(valid)s."),
                          {"what": what, "value": value, "valid": valid})


def blocking(new: list[SettingProblem], old: list[SettingProblem], *, enabling: bool) -> bool:
    """Whether a save is refused. A problem the change brings is refused; one the settings already had
    is shown but does not stop an unrelated save (else a new account, whose defaults invoice shipping
    without a shipping product, could save nothing before finding that field) — unless the change
    turns automatic invoicing on, when every problem would fail orders in bulk."""
    if not new:
        return False
    before = {p.key for p in old}
    return enabling or any(p.key not in before for p in new)
