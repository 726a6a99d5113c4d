"""What every channel's refund reading shares (``channels/<name>/refunds.py`` build on it).

A refund is read from whatever the marketplace shows of it now; the rules every channel follows:

* **One unreadable refund never makes its order unreadable.** :func:`read_each_refund` runs each
  refund's reader apart: a refund it cannot read is skipped with a logged warning (the order, its
  invoice and its other refunds go on), and comes back on a later pull once the marketplace shows
  it whole.
* **Lines are all or nothing.** A refund's lines are kept only when every one of them names a line
  of the order (:func:`lines_if_all_known`); otherwise the refund keeps its amount and no lines,
  and the core credits that amount in proportion to the invoice, as for a refund the marketplace
  does not itemise.
* **Oldest first, one per id, the last one full when the order is void**
  (:func:`settled_refunds`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from channels.payloads import PayloadReader
from connector.canonical import Refund, RefundLine
from connector.errors import InvalidPayload

log = logging.getLogger(__name__)

# What a refund reader may raise on a malformed refund; anything else is a bug and propagates.
_UNREADABLE = (InvalidPayload, ValidationError, KeyError, TypeError, ValueError, AttributeError, ArithmeticError)


def read_each_refund(read: PayloadReader, entries: Iterable[Any],
                     read_one: Callable[[int, Any], Refund | None]) -> list[Refund]:
    """``read_one(index, entry)`` for every entry; one that cannot be read is skipped with a warning.

    ``read_one`` returns None for an entry that is no refund (yet): a pending or failed one.
    """
    refunds: list[Refund] = []
    for index, entry in enumerate(entries):
        try:
            refund = read_one(index, entry)
        except _UNREADABLE as exc:
            reason = exc.user_message if isinstance(exc, InvalidPayload) else f"{type(exc).__name__}: {exc}"
            log.warning("%s order %s: refund %d skipped, it cannot be read (%s)",
                        read.channel_label, read.order_id, index + 1, str(reason)[:300])
            continue
        if refund is not None:
            refunds.append(refund)
    return refunds


def lines_if_all_known(read: PayloadReader, refund_id: str, lines: list[RefundLine],
                       order_line_ids: set[str]) -> list[RefundLine]:
    """``lines`` when each names a line of the order, else none (see the module docstring)."""
    unknown = [line.line_id for line in lines if line.line_id not in order_line_ids]
    if unknown:
        log.warning("%s order %s: refund %s names lines the order does not have (%s); its amount is kept "
                    "without lines", read.channel_label, read.order_id, refund_id, ", ".join(unknown[:5]))
        return []
    return lines


def positive(value: Decimal) -> Decimal:
    """Marketplaces write refunded amounts as negatives (WooCommerce lines, Shopify adjustments)."""
    return -value if value < 0 else value


def settled_refunds(refunds: list[Refund], *, order_is_void: bool) -> list[Refund]:
    """Oldest first, each id once (the first seen), and, when the whole order is void (cancelled or
    refunded in full), the newest marked ``full``."""
    seen: set[str] = set()
    unique = []
    for refund in refunds:
        if refund.refund_id not in seen:
            seen.add(refund.refund_id)
            unique.append(refund)
    unique.sort(key=lambda refund: (refund.created_at, refund.refund_id))
    if order_is_void and unique and not unique[-1].full:
        unique[-1] = unique[-1].model_copy(update={"full": True})
    return unique
