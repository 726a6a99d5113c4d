"""What a chaos run must end with for the writes that belong to no order: the stock published on the
stores and the ERP's webhook subscriptions — judged from the sandboxes' own records.

* **Stock**: every listing of a product the ERP keeps stock of shows the ERP's stock (the run sets no
  buffer), on every store; no write the stores accepted changed nothing (a value written again, the
  mark of a write repeated after a lost answer or a crash); nothing is left pending or open.
* **Subscriptions**: the ERP lists exactly one subscription per event the mirror follows, to the
  connection's URL, and the connector knows each by that id; none is left open.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select

from connector import mirror
from connector.context import AppContext
from connector.models import (
    ChannelConnection,
    ERPConnection,
    ERPWebhookSubscription,
    RemoteWrite,
    StockPendingItem,
)
from connector.remote_writes import FINAL_STATES, OPEN_STATES
from erp.registry import erp_class
from sandbox.catalog import PRODUCTS
from sandbox.demo_world import STOCK_READERS

STORES = {"mercadolibre": "ml_state", "shopify": "shopify_state", "woocommerce": "woo_state"}
# The products whose ERP item keeps stock (a product with variants keeps none: the connector says so).
STOCKED = tuple(p for p in PRODUCTS if p.kind == "product")


@dataclass
class WritesVerdict:
    """Counts of the stock and subscription checks (merged into the run's report)."""

    stock_listings_checked: int = 0
    stock_writes: int = 0  # writes the stores accepted
    stock_writes_repeated: int = 0  # accepted writes that changed nothing (must be 0)
    stock_settled_by_reading: int = 0  # lost answers settled by reading the listing
    subscriptions_live: int = 0  # in the ERPs at the end (one per event and seller)
    problems: list[str] = field(default_factory=list)


def store_of(box, kind: str):
    return getattr(box, STORES[kind]).stock_listings


def erp_quantity(seller, product) -> int:
    """What every listing of ``product`` must show: the ERP's stock, never below 0."""
    return max(0, math.floor(STOCK_READERS[seller.erp](seller.box, product)))


def stock_differences(seller) -> list[str]:
    """Listings that do not show the ERP's stock, as sentences."""
    out = []
    for product in STOCKED:
        want = erp_quantity(seller, product)
        for kind in STORES:
            shown = store_of(seller.box, kind).quantity_of_sku(product.barcode)
            if shown != want:
                out.append(f"{kind} shows {shown} of {product.key}, the ERP has {want}")
    return out


def erp_subscriptions(seller) -> list[dict]:
    """The subscriptions the seller's ERP sandbox lists (Alegra names the event, Siigo the topic)."""
    listed = seller.box.erp(seller.erp).state.webhooks.listed()
    return [{"id": str(s["id"]), "event": s.get("event") or s.get("topic"), "url": s.get("url")} for s in listed]


def followed_events(ctx: AppContext, seller) -> set[str]:
    return set(getattr(erp_class(seller.erp), "mirror_events", {}).values())


def subscription_differences(ctx: AppContext, seller) -> list[str]:
    """Why the seller's subscriptions are not one live per followed event, known by its id here."""
    with ctx.db.session() as session:
        erp_id = session.scalar(select(ERPConnection.id).where(ERPConnection.account_id == seller.account_id))
        rows = list(session.scalars(select(ERPWebhookSubscription).where(
            ERPWebhookSubscription.erp_connection_id == erp_id)))
    url = mirror.callback_url(ctx, erp_id, mirror.ensure_secret(ctx, erp_id))
    listed = erp_subscriptions(seller)
    per_event = Counter(s["event"] for s in listed)
    out = [f"{n} subscriptions to {event} in the ERP" for event, n in per_event.items() if n != 1]
    out += [f"no subscription to {event} in the ERP" for event in followed_events(ctx, seller) - set(per_event)]
    out += [f"subscription {s['id']} to {s['event']} calls {s['url']}" for s in listed if s["url"] != url]
    by_id = {s["id"]: s for s in listed}
    for row in rows:
        if row.purpose != "subscribe" or row.state != "done":
            out.append(f"{row.event}: {row.purpose} {row.state} here ({row.detail[:60]})")
        elif row.remote_id not in by_id or by_id[row.remote_id]["event"] != row.event:
            out.append(f"{row.event}: known here as {row.remote_id}, not listed so in the ERP")
    return out


def writes_left(ctx: AppContext, sellers) -> str:
    """What keeps the stock and the subscriptions from being settled ("" when they are): nothing pending
    or open, every listing shows the ERP's stock, every subscription is live once."""
    with ctx.db.session() as session:
        pending = session.scalar(select(func.count()).select_from(StockPendingItem))
        open_stock = session.scalar(select(func.count()).select_from(RemoteWrite).where(
            RemoteWrite.kind == "stock", RemoteWrite.state.in_(OPEN_STATES)))
        open_subscriptions = session.scalar(select(func.count()).select_from(ERPWebhookSubscription).where(
            ERPWebhookSubscription.state.not_in(FINAL_STATES)))
    if pending or open_stock or open_subscriptions:
        with ctx.db.session() as session:
            reasons = Counter(session.scalars(select(StockPendingItem.reason)))
            newest = session.scalar(select(func.max(StockPendingItem.since)))
            deferred = Counter(str((c.stock_status or {}).get("deferred", {}).get("reason", ""))[:40]
                               for c in session.scalars(select(ChannelConnection)))
        return (f"{pending} items pending {dict(reasons)} (newest mark {newest}), {open_stock} stock writes and "
                f"{open_subscriptions} subscriptions open; channels deferred {dict(deferred)}")
    for seller in sellers:
        left = stock_differences(seller) + subscription_differences(ctx, seller)
        if left:
            return f"seller {seller.account_id}: {'; '.join(left[:3])}"
    return ""


def writes_settled(ctx: AppContext, sellers) -> bool:
    return not writes_left(ctx, sellers)


def verify_writes(ctx: AppContext, sellers) -> WritesVerdict:
    verdict = WritesVerdict()
    for seller in sellers:
        who = f"seller {seller.account_id}"
        verdict.problems += [f"{who}: {d}" for d in stock_differences(seller)]
        verdict.stock_listings_checked += len(STOCKED) * len(STORES)
        for kind in STORES:
            log = list(store_of(seller.box, kind).log)
            verdict.stock_writes += len(log)
            idle = [entry for entry in log if entry[1] == entry[2]]
            verdict.stock_writes_repeated += len(idle)
            if idle:
                verdict.problems.append(f"{who}: {kind} took {len(idle)} stock writes that changed nothing "
                                        f"(repeated): {idle[:3]}")
        subscriptions = erp_subscriptions(seller)
        verdict.subscriptions_live += len(subscriptions)
        verdict.problems += [f"{who}: {d}" for d in subscription_differences(ctx, seller)]
    with ctx.db.session() as session:
        stock_writes = list(session.scalars(select(RemoteWrite).where(RemoteWrite.kind == "stock")))
        left = [w for w in stock_writes if w.state in OPEN_STATES or w.state in ("failed", "uncertain")]
        if left:
            verdict.problems.append(f"stock writes left {[(w.subject, w.state, w.detail[:60]) for w in left[:5]]}")
        verdict.stock_settled_by_reading = sum(1 for w in stock_writes if (w.result or {}).get("found_by_reading"))
        pending = session.scalar(select(func.count()).select_from(StockPendingItem))
        if pending:
            verdict.problems.append(f"{pending} items still pending publication")
    return verdict
