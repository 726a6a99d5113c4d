"""Reasons kept as a code and parameters, so each reader sees them in their own language.

An order's reason (``Order.state_reason``) and its trail (``ActivityEvent.message``) were stored as
finished Spanish sentences, so the English panel showed them in Spanish. A :class:`Reason` is still
that Spanish sentence (it *is* a ``str``: every caller that logs it, joins it or shows it in the CLI
keeps working), and it also carries its Spanish template (the gettext msgid) and its parameters.
:func:`connector.states.transition` stores both next to the text; the panel renders the template
through its gettext catalog at display time; the CLI and JSON keep the Spanish text.

Mark a reason where it is written::

    raise ConfigurationError(reason("No hay un producto para el SKU %(sku)s.", sku=sku))

``make translations`` (``admin_ui/i18n_extract.py``: ``pybabel extract -k reason``) finds these
templates, so the catalogs list them (the core's in the panel's, an adapter's in its package's) and a test fails on one without its English. This module
imports neither Flask nor Babel: the core stays free of the web layer.

Rows written before this existed have no template: they show their text as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

JOIN = "@join"  # the template of reasons put side by side (not a message: never translated; no NUL: PostgreSQL text)


def _plain(value: Any) -> Any:
    """A parameter as JSON keeps it: nested reasons as their code, the rest as text or numbers."""
    if isinstance(value, Reason):
        return value.as_json()
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)


class Reason(str):
    """A Spanish sentence that remembers its template (``msgid``) and its ``params``.

    ``params`` values may be reasons themselves (``"%(cause)s Se reintentará."``): they are
    translated too when shown."""

    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, params: Mapping[str, Any] | None = None, *, text: str | None = None) -> Reason:
        params = dict(params or {})
        if text is None:
            text = " ".join(params["parts"]) if msgid == JOIN else (msgid % params if params else msgid)
        self = super().__new__(cls, text)
        self.msgid = msgid
        self.params = params
        return self

    def as_json(self) -> dict[str, Any]:
        if self.msgid == JOIN:
            return {"msgid": JOIN, "params": {"parts": [_plain(p) for p in self.params["parts"]]}}
        return {"msgid": self.msgid, "params": {k: _plain(v) for k, v in self.params.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, text: str = "") -> Reason | str:
        """A stored code back as a reason; ``text`` alone when nothing (or something unreadable) was stored."""
        try:
            msgid, params = data["msgid"], dict(data.get("params") or {})
            if msgid == JOIN:
                parts = [cls.from_json(p) if isinstance(p, Mapping) else str(p) for p in params["parts"]]
                return cls(JOIN, {"parts": parts}, text=text or None)
            params = {k: cls.from_json(v) if isinstance(v, Mapping) else v for k, v in params.items()}
            return cls(msgid, params, text=text or None)
        except (TypeError, KeyError, ValueError, AttributeError):
            return text

    def text(self, gettext: Callable[[str], str]) -> str:
        """This reason in the language of ``gettext`` (a catalog's lookup of one msgid). A translation
        that does not fit its parameters shows the Spanish sentence instead of failing."""
        if self.msgid == JOIN:
            return " ".join(p.text(gettext) if isinstance(p, Reason) else str(p) for p in self.params["parts"])
        params = {k: v.text(gettext) if isinstance(v, Reason) else v for k, v in self.params.items()}
        try:
            translated = gettext(self.msgid)
            return translated % params if params else translated
        except (KeyError, ValueError, TypeError):
            return str(self)


def reason(msgid: str, **params: Any) -> Reason:
    """Mark a reason's Spanish template for extraction and fill it (``pybabel extract -k reason``)."""
    return Reason(msgid, params)


def joined(parts: Iterable[str]) -> Reason | str:
    """Several reasons side by side (each still translated on its own)."""
    parts = [p for p in parts if p]
    if len(parts) == 1:
        return parts[0]
    return Reason(JOIN, {"parts": parts})


def code_columns(reason_or_text: str | None) -> tuple[str | None, dict[str, Any] | None]:
    """What to keep in the ``*_msgid`` and ``*_params`` columns next to the text: the template and its
    parameters, or (None, None) for a plain sentence (it shows as it is)."""
    if not isinstance(reason_or_text, Reason):
        return None, None
    code = reason_or_text.as_json()
    return code["msgid"], code["params"]


def code_of(msgid: str | None, params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The stored ``*_msgid`` and ``*_params`` columns back as one code (None when the row has none)."""
    return {"msgid": msgid, "params": dict(params or {})} if msgid else None


def restored(text: str | None, msgid: str | None, params: Mapping[str, Any] | None) -> Reason | str:
    """A stored reason back as a :class:`Reason` (to be stored again elsewhere with its code), or its text."""
    code = code_of(msgid, params)
    return Reason.from_json(code, text or "") if code else (text or "")


def shown(text: str | None, code: Mapping[str, Any] | None, gettext: Callable[[str], str]) -> str:
    """A stored reason in the reader's language: through its code when it has one, else its text."""
    if not code:
        return text or ""
    value = Reason.from_json(code, text or "")
    return value.text(gettext) if isinstance(value, Reason) else value


def retrying(cause: str) -> Reason:
    """``cause`` (a reason or a plain sentence), then that the work is tried again by itself."""
    return reason("%(cause)s Se reintentará automáticamente.", cause=cause)


def N_(msgid: str) -> str:  # noqa: N802 - gettext's conventional name for "mark, translate later"
    """Mark a fixed label for extraction (``pybabel extract -k N_``); the panel translates it when shown."""
    return msgid
