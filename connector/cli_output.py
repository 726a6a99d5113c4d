"""What the command line prints: JSON for scripts, tables for people, orders as dicts, times in the
seller's zone, and progress bars on a terminal."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tqdm import tqdm

from connector.followup_view import invoice_after_view
from connector.progress import NO_PROGRESS, Progress


def _json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _table(rows: list[list[Any]], headers: list[str]) -> None:
    if not rows:
        print("(vacío)")
        return
    cells = [[str(c) if c is not None else "" for c in row] for row in rows]
    widths = [min(60, max(len(h), *(len(r[i]) for r in cells))) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in cells:
        print("  ".join(c[:w].ljust(w) for c, w in zip(row, widths, strict=True)))


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(Decimal("0.01")))


def _quantity(value: Decimal) -> str:
    return str(value.to_integral_value()) if value == value.to_integral_value() else str(value.normalize())


def _order_dicts(ctx, orders) -> list[dict]:
    from connector.services import credit_notes_of

    notes = credit_notes_of(ctx, [o.id for o in orders])
    return [{**_order_dict(o), "credit_notes": notes.get(o.id, [])} for o in orders]


def _order_dict(order) -> dict:
    invoice = order.invoice
    return {
        "id": order.id, "channel": order.channel_connection.kind, "external_id": order.external_id,
        "created_at": order.remote_created_at or order.created_at,
        "state": order.state, "reason": order.state_reason, "status": order.status, "raw_status": order.raw_status,
        "buyer": order.buyer_name, "total_paid": _money(order.total_paid), "fulfillment": order.is_fulfillment,
        "lines": [{"sku": line.sku, "title": line.title, "quantity": _quantity(line.quantity),
                   "unit_price": _money(line.unit_price), "erp_item_id": line.erp_item_id,
                   "erp_item_name": line.erp_item_name, "match": line.match_source} for line in order.lines],
        "invoice": None if invoice is None else {"erp_id": invoice.erp_id, "number": invoice.number,
                                                 "total": _money(invoice.total), "status": invoice.status,
                                                 "recovered": invoice.recovered, **invoice_after_view(invoice)},
    }


def local_time(ctx, value: datetime | str | None) -> str:
    """A stored time in the seller's zone (CONNECTOR_TIMEZONE, as the panel shows it): 2026-11-30 14:05."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:  # stored times are UTC
        value = value.replace(tzinfo=UTC)
    return f"{value.astimezone(ctx.settings.zone):%Y-%m-%d %H:%M:%S}"


def shows_progress(args) -> bool:
    """Progress bars only for a person at a terminal: never into a pipe, a file or ``--json``."""
    return sys.stdout.isatty() and not getattr(args, "json", False)


class BarsProgress(Progress):
    """:class:`connector.progress.Progress` drawn as tqdm bars on stderr (one per step)."""

    LABELS = {"pull": "canales leídos", "process": "órdenes procesadas", "erp_invoices": "facturas del ERP leídas",
              "compare": "facturas comparadas"}

    def __init__(self) -> None:
        self._bars: dict[str, tqdm] = {}

    def start(self, step: str, total: int | None) -> None:
        if step in self._bars:
            self._bars.pop(step).close()
        self._bars[step] = tqdm(total=total, desc=self.LABELS.get(step, step), unit="", leave=True, file=sys.stderr,
                                dynamic_ncols=True)

    def advance(self, step: str, units: int = 1) -> None:
        bar = self._bars.get(step)
        if bar is not None:
            bar.update(units)

    def finish(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


def progress_for(args) -> Progress:
    return BarsProgress() if shows_progress(args) else NO_PROGRESS
