"""The listings a sandbox marketplace publishes, seeded from :mod:`sandbox.catalog` (channel-neutral).

Every store lists every product of the catalog once: a simple product is a listing with the product's
barcode as its SKU, a product with variants is one listing with a variation per variant (the variant's
barcode as SKU). Each listing (or variation) keeps its own stock, and the marketplaces' sandboxes
(:mod:`sandbox.mercadolibre_items`, :mod:`sandbox.shopify_inventory`, :mod:`sandbox.woocommerce_products`)
serve and change them in their documented shapes. ``writes`` counts the stock writes each accepted, and
``log`` keeps each one's quantities before and after (the chaos oracle finds a write that changed nothing).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from decimal import Decimal

from sandbox.catalog import PRODUCTS

SEEDED_QUANTITY = 40  # what the ERP's main warehouse holds of each item at the start


@dataclass
class Variation:
    id: int
    sku: str
    options: dict[str, str]
    quantity: int


@dataclass
class Listing:
    id: int
    key: str
    title: str
    sku: str | None
    price: Decimal  # tax included, as the store shows it
    quantity: int  # simple listings; variation listings keep theirs in ``variations``
    status: str = "active"  # active | paused | closed
    sub_status: tuple[str, ...] = ()  # why paused: ("out_of_stock",) by the store itself, else the marketplace
    variations: list[Variation] = field(default_factory=list)


@dataclass
class ListingStore:
    """A store's listings, thread-safe (every access holds ``lock``)."""

    listings: list[Listing] = field(default_factory=list)
    writes: int = 0
    # (listing or variation id, quantities before, quantities after) of every accepted write.
    log: list[tuple[int, tuple, tuple]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @classmethod
    def seeded(cls, first_id: int, variation_first_id: int) -> ListingStore:
        store = cls()
        next_variation = variation_first_id
        for offset, product in enumerate(p for p in PRODUCTS if p.kind in ("product", "variantParent")):
            listing = Listing(id=first_id + offset, key=product.key, title=product.name,
                              sku=product.barcode if product.kind == "product" else None,
                              price=product.price_with_tax(), quantity=SEEDED_QUANTITY)
            for options, barcode in product.variants:
                listing.variations.append(Variation(next_variation, barcode,
                                                    dict(zip(product.attributes, options, strict=True)),
                                                    SEEDED_QUANTITY))
                next_variation += 1
            store.listings.append(listing)
        return store

    @staticmethod
    def quantities(holder: Listing | Variation) -> tuple:
        """What a write can change of a listing (or variation): its quantity and its variations'."""
        return (holder.quantity, tuple(v.quantity for v in getattr(holder, "variations", ())))

    def accepted(self, holder: Listing | Variation, before: tuple) -> None:
        """Count one accepted write of ``holder`` (call with the lock held), whose quantities were ``before``."""
        self.writes += 1
        self.log.append((holder.id, before, self.quantities(holder)))

    def find(self, listing_id: int) -> Listing | None:
        with self.lock:
            return next((entry for entry in self.listings if entry.id == int(listing_id)), None)

    def quantity_of_sku(self, sku: str) -> int | None:
        """The stock shown for a SKU (a simple listing or a variation): what tests and the demo read."""
        with self.lock:
            for listing in self.listings:
                if listing.sku == sku and not listing.variations:
                    return listing.quantity
                for variation in listing.variations:
                    if variation.sku == sku:
                        return variation.quantity
        return None

    def pause(self, sku: str, *, by_marketplace: bool = True) -> None:
        """Pause the listing holding ``sku`` (tests: "paused by the marketplace")."""
        with self.lock:
            for listing in self.listings:
                if listing.sku == sku or any(v.sku == sku for v in listing.variations):
                    listing.status = "paused"
                    listing.sub_status = ("moderation",) if by_marketplace else ("out_of_stock",)
