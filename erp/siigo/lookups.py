"""What a Siigo invoice needs that the core does not choose (the seller, the document type, the payment
form, the tax rates), read once per adapter, and the plumbing of Siigo's lists (plain arrays for
catalogs, pages of 25 for the rest). A mixin of :class:`erp.siigo.adapter.SiigoAdapter`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from connector.errors import ConfigurationError
from connector.http import iter_page_number_pages
from erp.base import Choice, InvoiceDraft
from erp.siigo import parsing
from erp.siigo.client import PAGE_SIZE, SiigoRequestor


class SiigoLookups:
    """Needs ``requestor``, ``username``, ``list_number_templates`` and a ``_cache`` under ``_cache_lock``."""

    requestor: SiigoRequestor
    username: str
    _cache: dict[str, Any]
    _cache_lock: threading.Lock

    # -- what an invoice needs that the core does not choose ---------------------------------

    def _seller(self) -> Choice:
        """The invoice's ``seller``: the API user itself when listed, else the first active user."""
        def pick() -> Choice:
            users = [u for u in parsing.page_of(self.requestor.get("/v1/users").json())[0] if u.get("active") is not False]
            if not users:
                raise ConfigurationError("Siigo no tiene usuarios activos para usar como vendedor de las facturas.")
            own = next((u for u in users if str(u.get("username") or "").lower() == self.username.lower()), users[0])
            name = " ".join(filter(None, (parsing.text(own.get("first_name")), parsing.text(own.get("last_name")))))
            return Choice(id=str(own["id"]), name=name or str(own.get("username") or own["id"]))
        return self._cached("seller", pick)

    def _document_type(self, wanted: str | None) -> Choice:
        types = self.list_number_templates()
        found = next((t for t in types if t.id == str(wanted)), None) if wanted else (types[0] if types else None)
        if found is None:
            raise ConfigurationError("Elige un tipo de factura de venta de Siigo (numeración) que exista y esté activo.")
        return found

    def _payment_form(self, draft: InvoiceDraft) -> Choice:
        """The payment form of a new invoice. With a recorded payment, its form (paid at creation);
        with the seller's form chosen by id, that one; otherwise a form with a due date (due on
        ``draft.due_date``), so the invoice stays owed until its payment is recorded — Siigo counts an
        immediate form (cash, bank) as money received, which nobody has recorded yet."""
        forms = self._payment_types()
        for wanted in (draft.payment.account_id if draft.payment else None, draft.payment_method):
            found = next((f for f in forms if f.id == str(wanted)), None)
            if found is not None:
                return found
        found = next((f for f in forms if f.extra.get("due_date")), None)
        if found is None:
            raise ConfigurationError("Siigo no tiene una forma de pago a crédito (con vencimiento) activa para "
                                     "facturas de venta: créala en Siigo Nube o registra el pago con la factura.")
        return found

    def _has_due_date(self, form_id: Any) -> bool:
        return any(f.id == str(form_id) and f.extra.get("due_date") for f in self._payment_types())

    def _payment_types(self) -> list[Choice]:
        return list(self._cached("fvpay", lambda: self._choices("/v1/payment-types", document_type="FV",
                                                                 extra_keys=("type", "due_date"))))

    def _taxes(self) -> dict[str, tuple[str, Decimal, str]]:
        def read() -> dict[str, tuple[str, Decimal, str]]:
            raws = parsing.page_of(self.requestor.get("/v1/taxes").json())[0]
            return {str(t["id"]): (parsing.text(t.get("name")) or str(t["id"]),
                                   parsing.decimal(t.get("percentage"), Decimal(0)),
                                   (parsing.text(t.get("type")) or "IVA").replace(" ", "").lower())
                    for t in raws if t.get("id") is not None and t.get("active") is not False}
        return self._cached("taxes", read)

    def _tax_rates(self) -> dict[str, Decimal]:
        return {tax_id: rate for tax_id, (_, rate, _kind) in self._taxes().items()}

    def _first_choice(self, key: str, path: str, what: str, **params: Any) -> Choice:
        choices = self._cached(key, lambda: self._choices(path, **params))
        if not choices:
            raise ConfigurationError(f"Siigo no tiene {what} activos: créalos en Siigo Nube.")
        return choices[0]

    # -- plumbing ----------------------------------------------------------------------------

    def _cached(self, key: str, read: Callable[[], Any]) -> Any:
        with self._cache_lock:
            if key in self._cache:
                return self._cache[key]
        value = read()
        with self._cache_lock:
            return self._cache.setdefault(key, value)

    def _choices(self, path: str, *, extra_keys: tuple[str, ...] = (), **params: Any) -> list[Choice]:
        raws = parsing.page_of(self.requestor.get(path, params=params or None).json())[0]
        return [c for c in (parsing.parse_choice(r, extra_keys=extra_keys) for r in raws) if c is not None]

    def _page(self, path: str, **filters: Any) -> list[dict[str, Any]]:
        return parsing.page_of(self.requestor.get(path, params={**filters, "page": 1,
                                                                "page_size": PAGE_SIZE}).json())[0]

    def _iter_pages(self, path: str, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every record of a paged list (``page``/``page_size``, pages of 25)."""
        def fetch(page: int) -> tuple[list[dict[str, Any]], int | None]:
            records, total = parsing.page_of(self.requestor.get(
                path, params={**filters, "page": page, "page_size": PAGE_SIZE}).json())
            pages = None if total is None else max(1, -(-total // PAGE_SIZE))
            return records, pages
        return iter_page_number_pages(fetch)
