"""Stock in the Alegra sandbox: each inventoried item (products and variants) keeps an available
quantity per warehouse under ``inventory.warehouses[]``, and ``inventory.availableQuantity`` is their sum.

What moves it, as Alegra does (the connector never adjusts inventory itself):

* an invoice lowers the stock of its warehouse when it leaves draft (created open, or opened when it is
  stamped); an invoice that names no warehouse takes the units from the default warehouse (assumption:
  Alegra's documented default for items with inventory);
* a credit note that returns goods (every type but the amount-only reductions) raises the stock of its
  warehouse, else of the invoice's, else of the default one.

Stock may go below zero, as in Alegra accounts that allow selling without stock; the connector publishes
``max(0, quantity - buffer)``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.alegra import AlegraState

# Credit-note types that give back money only: no units come back to the warehouse.
AMOUNT_ONLY_NOTE_TYPES = ("REDUCTION_DISCOUNT_PARTIAL_TOTAL", "PRICE_ADJUSTMENT")


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def warehouse_of(state: AlegraState, *refs: Any) -> dict[str, Any]:
    """The first warehouse named by ``refs`` ({"id"} dicts or ids), else the default warehouse."""
    for ref in refs:
        wanted = ref.get("id") if isinstance(ref, dict) else ref
        if wanted in (None, ""):
            continue
        found = next((w for w in state.warehouses if str(w["id"]) == str(wanted)), None)
        if found is not None:
            return found
    return next((w for w in state.warehouses if w.get("isDefault")), state.warehouses[0])


def move_stock(state: AlegraState, lines: list[dict[str, Any]], warehouse: dict[str, Any], sign: int) -> None:
    """Add (``sign`` 1) or take (-1) each line's quantity to its item's stock in ``warehouse``. Items
    without inventory (services, variant parents) are left alone. Caller holds the lock."""
    for line in lines:
        item = state.items.get(int(line["id"]))
        inventory = item.get("inventory") if item else None
        if not isinstance(inventory, dict):
            continue
        rows = inventory.setdefault("warehouses", [])
        row = next((r for r in rows if str(r["id"]) == str(warehouse["id"])), None)
        if row is None:
            row = {"id": warehouse["id"], "name": warehouse["name"], "availableQuantity": 0}
            rows.append(row)
        row["availableQuantity"] = _number(Decimal(str(row["availableQuantity"]))
                                           + sign * Decimal(str(line["quantity"])))
        inventory["availableQuantity"] = _number(sum((Decimal(str(r["availableQuantity"])) for r in rows),
                                                     Decimal("0")))
    state.stock_changes += 1


def set_stock(state: AlegraState, item_id: int, warehouse_id: int, quantity: int) -> None:
    """Set an item's stock in a warehouse (tests and the demo: "someone counted the shelf")."""
    with state.lock:
        item = state.items[int(item_id)]
        rows = item["inventory"]["warehouses"]
        current = next((r for r in rows if int(r["id"]) == int(warehouse_id)), None)
        delta = quantity - Decimal(str(current["availableQuantity"])) if current else Decimal(quantity)
        warehouse = warehouse_of(state, warehouse_id)
        move_stock(state, [{"id": item_id, "quantity": delta}], warehouse, 1)


def stock_of(state: AlegraState, item_id: int, warehouse_id: int | None = None) -> Decimal:
    """An item's available quantity in a warehouse (all warehouses when None)."""
    with state.lock:
        inventory = state.items[int(item_id)].get("inventory") or {}
        if warehouse_id is None:
            return Decimal(str(inventory.get("availableQuantity", 0)))
        row = next((r for r in inventory.get("warehouses", []) if int(r["id"]) == int(warehouse_id)), None)
        return Decimal(str(row["availableQuantity"])) if row else Decimal("0")
