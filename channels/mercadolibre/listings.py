"""Mercado Libre listings and their stock (``available_quantity``).

* Listing: ``GET /users/{seller}/items/search`` (ids, offset pages of 100) then ``GET /items?ids=`` (20 at
  a time, each answer ``{code, body}``). A variation is a listing of its own: ``<item id>/<variation id>``.
  The SKU is the ``SELLER_SKU`` attribute, else ``seller_custom_field`` (the item's or the variation's).
* Writing: ``PUT /items/{id}`` with ``available_quantity`` (and ``price``); for a variation, ``variations``
  listing **every** variation of the item with its id (Mercado Libre deletes the ones left out), only the
  target's quantity changed — so the item is read right before the write.
* A listing paused for any reason but running out of stock (the marketplace's moderation, the seller) or
  closed refuses changes: :func:`refusal_of` says so in the seller's words and the core does not write.
* Not supported: accounts with stock in several warehouses (multi-origin), which Mercado Libre asks to
  update through ``/user-products/{id}/stock/type/seller_warehouse``; their items show a ``user_product_id``
  and tag we could not confirm, so such an account is not told apart yet (documented in the README).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from channels.base import Listing
from channels.payloads import json_document
from connector.errors import InvalidPayload, NotFound, PermanentRejection
from connector.http import Requestor, iter_offset_pages

SEARCH_PAGE = 100
MULTIGET_SIZE = 20


def refusal_of(item: dict[str, Any]) -> str | None:
    """Why Mercado Libre would refuse a stock change of this item now, or None."""
    status = str(item.get("status") or "")
    sub_status = [str(s) for s in item.get("sub_status") or []]
    if status == "closed":
        return "La publicación está finalizada en Mercado Libre: no admite cambios de stock."
    if status == "paused" and "out_of_stock" not in sub_status:
        return "Publicación pausada por el marketplace: Mercado Libre no admite cambios de stock hasta reactivarla."
    if status == "under_review":
        return "La publicación está en revisión de Mercado Libre: no admite cambios de stock."
    return None


def _sku(document: dict[str, Any]) -> str | None:
    for attribute in document.get("attributes") or []:
        if isinstance(attribute, dict) and attribute.get("id") == "SELLER_SKU" and attribute.get("value_name"):
            return str(attribute["value_name"]).strip() or None
    custom = document.get("seller_custom_field")
    return str(custom).strip() or None if custom else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def listings_of(item: dict[str, Any]) -> list[Listing]:
    """The listings of one item document: the item itself, or one per variation."""
    item_id = str(item.get("id") or "")
    if not item_id:
        raise InvalidPayload("Mercado Libre devolvió una publicación sin id.", detail=repr(item)[:300])
    title, refusal = str(item.get("title") or item_id), refusal_of(item)
    price = Decimal(str(item["price"])) if isinstance(item.get("price"), (int, float)) else None
    variations = [v for v in item.get("variations") or [] if isinstance(v, dict) and v.get("id") is not None]
    if not variations:
        return [Listing(listing_id=item_id, title=title, sku=_sku(item), quantity=_int(item.get("available_quantity")),
                        price=price, refusal=refusal, handle={"item_id": item_id})]
    found = []
    for variation in variations:
        options = {str(a.get("name")): str(a.get("value_name")) for a in variation.get("attribute_combinations") or []
                   if isinstance(a, dict) and a.get("name") and a.get("value_name")}
        found.append(Listing(
            listing_id=f"{item_id}/{variation['id']}", title=f"{title} ({', '.join(options.values())})" if options
            else title, sku=_sku(variation), quantity=_int(variation.get("available_quantity")),
            price=Decimal(str(variation["price"])) if isinstance(variation.get("price"), (int, float)) else price,
            variation_id=str(variation["id"]), variation_attributes=options, refusal=refusal,
            handle={"item_id": item_id, "variation_id": str(variation["id"])}))
    return found


def iter_listings(api: Requestor, seller_id: str) -> Iterator[Listing]:
    def fetch(offset: int, limit: int) -> tuple[list[str], int | None]:
        page = json_document(api.get(f"/users/{seller_id}/items/search", params={"offset": offset, "limit": limit}),
                             "Mercado Libre", "las publicaciones")
        total = (page.get("paging") or {}).get("total")
        return [str(i) for i in page.get("results") or []], total if isinstance(total, int) else None

    batch: list[str] = []
    for item_id in iter_offset_pages(fetch, page_size=SEARCH_PAGE):
        batch.append(item_id)
        if len(batch) == MULTIGET_SIZE:
            yield from _multiget(api, batch)
            batch = []
    if batch:
        yield from _multiget(api, batch)


def _multiget(api: Requestor, ids: list[str]) -> Iterator[Listing]:
    answers = json_document(api.get("/items", params={"ids": ",".join(ids)}), "Mercado Libre",
                            "las publicaciones", kind=list)
    for answer in answers:
        if isinstance(answer, dict) and answer.get("code") == 200 and isinstance(answer.get("body"), dict):
            yield from listings_of(answer["body"])


def get_item(api: Requestor, item_id: str) -> dict[str, Any]:
    if not item_id.isalnum():
        raise NotFound(f"«{item_id[:30]}» no es una publicación de Mercado Libre.", detail="bad item id")
    return json_document(api.get(f"/items/{item_id}"), "Mercado Libre", "la publicación")


def get_listing(api: Requestor, listing_id: str) -> Listing:
    item_id = listing_id.split("/", 1)[0]
    for listing in listings_of(get_item(api, item_id)):
        if listing.listing_id == listing_id:
            return listing
    raise NotFound(f"La variación {listing_id} ya no existe en Mercado Libre.", detail="variation gone")


def set_stock(api: Requestor, listing: Listing, quantity: int, price: Decimal | None) -> None:
    """``PUT /items/{id}`` once (never retried blindly: an uncertain answer is settled by reading)."""
    item_id = str(listing.handle.get("item_id") or listing.listing_id.split("/", 1)[0])
    body: dict[str, Any] = {}
    variation_id = listing.handle.get("variation_id")
    if variation_id is None:
        body["available_quantity"] = quantity
        if price is not None:
            body["price"] = float(price)
    else:  # every variation must be listed, or Mercado Libre deletes the ones left out
        item = get_item(api, item_id)
        refusal = refusal_of(item)
        if refusal:
            raise PermanentRejection(refusal, detail=f"item {item_id} status {item.get('status')}")
        variations = []
        for variation in item.get("variations") or []:
            entry: dict[str, Any] = {"id": variation["id"],
                                     "available_quantity": variation.get("available_quantity", 0)}
            if str(variation["id"]) == str(variation_id):
                entry["available_quantity"] = quantity
                if price is not None:
                    entry["price"] = float(price)
            variations.append(entry)
        if not any(str(v["id"]) == str(variation_id) for v in variations):
            raise NotFound(f"La variación {listing.listing_id} ya no existe en Mercado Libre.", detail="gone")
        body["variations"] = variations
    api.request("PUT", f"/items/{item_id}", json=body, idempotent=False)
