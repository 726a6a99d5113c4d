"""Siigo products beyond reading the catalog: creating one from a marketplace SKU the catalog lacks,
finding it again by its code, and its stock per warehouse with its prices for the channels.
A mixin of :class:`erp.siigo.adapter.SiigoAdapter`. Facts and sources: ``API_FACTS.md`` (Products).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connector.errors import ConfigurationError, InvalidPayload, NotFound, PermanentRejection
from erp.base import CatalogItem, ItemDraft, ItemStock
from erp.siigo import parsing
from erp.siigo.lookups import SiigoLookups

# Siigo's product code: required, unique, no spaces, at most 30 characters [APIB Crear Producto].
CODE_MAX = 30
NAME_MAX = 100
BARCODE_MAX = 50
CENT = Decimal("0.01")
_SPACE = re.compile(r"\s")


class SiigoProducts(SiigoLookups):
    """Needs what :class:`SiigoLookups` needs."""

    def find_item_by_code(self, code: str) -> CatalogItem | None:
        """``GET /v1/products?code=`` (the documented exact filter); only an equal code counts."""
        raw = self._product_by_code(code)
        return parsing.parse_product(raw) if raw is not None else None

    def create_item(self, draft: ItemDraft) -> CatalogItem:
        """``POST /v1/products`` once: ``code``, ``name``, ``account_group`` (the first active inventory
        classification: Siigo requires one and the seller files products there in Siigo Nube), ``type``
        ``Product``, the taxes, the price in the chosen list (a list is a ``position`` 1–12) and the code
        as ``additional_fields.barcode`` too (the code is what the seller's matching mode reads: a reference
        or a barcode). Stock
        control is left as Siigo's default (off): whether the seller counts this product's stock is
        decided in Siigo Nube. A code Siigo already has is refused, in words."""
        code, name = draft.code.strip(), " ".join(draft.name.split())
        if not code or _SPACE.search(code) or len(code) > CODE_MAX:
            raise PermanentRejection(f"Siigo pide un código de producto sin espacios y de hasta {CODE_MAX} "
                                     f"caracteres; «{code[:40]}» no sirve: escribe otro.", detail="bad product code")
        position = str(draft.price_list_id or "1")
        if not position.isdigit() or not 1 <= int(position) <= 12:
            raise ConfigurationError("Elige una lista de precios de Siigo (Siigo maneja de la 1 a la 12).",
                                     detail=f"price list {draft.price_list_id!r}")
        body: dict[str, Any] = {
            "code": code, "name": name[:NAME_MAX], "account_group": int(self._account_group()), "type": "Product",
            "taxes": [{"id": int(t)} for t in draft.tax_ids if str(t).isdigit()],
            # Siigo takes prices with at most 2 decimals; invoices carry each line's own price anyway.
            "prices": [{"currency_code": "COP", "price_list": [{"position": int(position), "value": float(
                draft.price.quantize(CENT, ROUND_HALF_UP))}]}],
        }
        if len(code) <= BARCODE_MAX:  # the code may be the barcode the seller's matching mode reads
            body["additional_fields"] = {"barcode": code}
        try:
            raw = self.requestor.post("/v1/products", json=body).json()
        except PermanentRejection as exc:
            if exc.status_code == 400 and self._product_by_code(code) is not None:
                raise PermanentRejection(f"Siigo ya tiene un producto con el código «{code}»: asocia el SKU a ese "
                                         "producto o usa otro código.", detail=exc.detail,
                                         status_code=exc.status_code) from exc
            raise
        if not isinstance(raw, dict):
            raise InvalidPayload("Siigo creó el producto pero no devolvió sus datos.", detail=repr(raw)[:300])
        return parsing.parse_product(raw)

    def iter_item_stock(self, warehouse_id: str | None) -> Iterator[ItemStock]:
        """``GET /v1/products`` page by page: each product's ``warehouses[].quantity`` in ``warehouse_id``
        (``available_quantity`` for all warehouses) and its ``prices``."""
        for raw in self._iter_pages("/v1/products"):
            try:
                yield parsing.parse_item_stock(raw, warehouse_id)
            except InvalidPayload:  # one odd product must not stop the comparison
                continue

    def get_item_stock(self, erp_id: str, warehouse_id: str | None) -> ItemStock:
        """One product (by its code, the ``erp_id``) read fresh: its stock and prices."""
        raw = self._product_by_code(erp_id)
        if raw is None:
            raise NotFound(f"Siigo no tiene un producto con el código «{erp_id}».", detail="GET /v1/products?code")
        return parsing.parse_item_stock(raw, warehouse_id)

    def _keeps_stock(self, code: str) -> bool:
        """Whether the product counts stock (``stock_control``), read once per adapter."""
        return bool(self._cached(f"stock_control:{code}", lambda: (self._product_by_code(code) or {}).get(
            "stock_control") is True))

    def _product_by_code(self, code: str) -> dict[str, Any] | None:
        wanted = code.strip()
        if not wanted:
            return None
        return next((r for r in self._page("/v1/products", code=wanted) if parsing.text(r.get("code")) == wanted),
                    None)

    def _account_group(self) -> str:
        """``GET /v1/account-groups`` (a plain array): the first active inventory classification."""
        return self._first_choice("account_groups", "/v1/account-groups", "grupos de inventario").id
