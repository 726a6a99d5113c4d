"""Creating the missing product in the ERP from an order line whose SKU the catalog lacks.

:func:`propose_item` prefills what the seller confirms: the line's title as the name, its SKU as the
code the seller's matching mode looks for (barcode or reference), its price (as the buyer paid it,
taxes included when the channel's prices are) and the tax most of the seller's catalog uses.
:func:`create_item_for_line` then creates the product **exactly once** through
:func:`connector.remote_writes.perform` — a ``create_item`` write row is the claim (one per ERP
connection, SKU and generation, a unique index guards it), the attempt is recorded before the call,
and an ambiguous answer is settled by looking the code up in the ERP (``find_item_by_code``), which is
also read before the first send (a product made by hand meanwhile is used, not duplicated). The new
item goes into the catalog cache, the SKU is mapped to it, and every order the SKU held is invoiced.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connector.context import AppContext
from connector.errors import ConfigurationError, ConnectorError
from connector.models import CatalogItem as CachedItem
from connector.models import Order, RemoteWrite, utcnow
from connector.remote_writes import NOT_DONE, OPEN_STATES, Remote, WriteAction, perform
from connector.rules import effective_settings
from connector.services import NotFoundLocally, find_account, get_erp_connection, is_row_id, map_sku
from erp.base import CatalogItem, Choice, ItemDraft
from mapping.catalog import _codes, _row
from mapping.codes import normalise_code

KIND = "create_item"
PRICE_PLACES = Decimal("0.000001")
MAX_PRICE = Decimal("1000000000000")


@dataclass(frozen=True)
class ItemProposal:
    order_id: int
    sku_key: str
    name: str
    code: str
    code_is_barcode: bool  # the seller matches by barcode (else by reference)
    price: Decimal  # as the buyer paid per unit (taxes included when ``price_includes_tax``)
    price_includes_tax: bool
    tax_id: str  # "" for no tax
    taxes: tuple[Choice, ...]


@dataclass(frozen=True)
class CreatedItem:
    item: CatalogItem
    found_existing: bool  # the ERP already had a product with this code (made by hand, or a lost answer)
    invoiced: dict[int, str]  # order id -> state, for every order the SKU held


def _line(session, account_ref, order_id: int, sku_key: str):
    account = find_account(session, account_ref)
    order = session.get(Order, order_id) if is_row_id(order_id) else None
    if order is None or order.account_id != account.id:
        raise NotFoundLocally(f"No existe la orden {order_id} en esta cuenta.")
    wanted = {sku_key, normalise_code(sku_key)}  # the key as stored, or the SKU as a person types it
    line = next((ln for ln in order.lines if ln.sku_key in wanted and ln.erp_item_id is None), None)
    if line is None:
        raise ConfigurationError(f"La orden {order.external_id} no tiene una línea sin producto con el SKU «{sku_key}».")
    return account, order, line


def propose_item(ctx: AppContext, account_ref, order_id: int, sku_key: str) -> ItemProposal:
    """What the confirmation form shows, prefilled from the marketplace line."""
    with ctx.db.session() as session:
        account, order, line = _line(session, account_ref, order_id, sku_key)
        sku_key = line.sku_key
        erp = get_erp_connection(session, account)
        settings = effective_settings(erp.settings, order.channel_connection.settings_overrides)
        usual = Counter(tuple(ids) for (ids,) in session.execute(
            select(CachedItem.tax_ids).where(CachedItem.erp_connection_id == erp.id).limit(2000)) if ids)
        canonical = order.canonical or {}
        proposal = dict(order_id=order.id, sku_key=sku_key, name=(line.title or line.sku or sku_key)[:150],
                        code=line.sku or sku_key, code_is_barcode=settings.match_by.value == "barcode",
                        price=Decimal(line.unit_price), price_includes_tax=bool(canonical.get("prices_include_tax", True)),
                        tax_id=str(usual.most_common(1)[0][0][0]) if usual else "")
        adapter = ctx.erp_adapter(erp)
        session.rollback()
    taxes = tuple(adapter.list_taxes())
    if proposal["tax_id"] not in {t.id for t in taxes}:
        proposal["tax_id"] = ""
    return ItemProposal(**proposal, taxes=taxes)


def parse_price(raw: str) -> Decimal:
    text = (raw or "").strip().replace(" ", "")
    if "," in text and "." not in text:
        text = text.replace(",", ".")  # "12500,50"
    try:
        price = Decimal(text)
    except InvalidOperation:
        raise ConfigurationError(f"El precio «{raw[:40]}» no es un número.") from None
    if not price.is_finite() or price <= 0 or price >= MAX_PRICE:
        raise ConfigurationError("El precio debe ser mayor que cero.")
    return price


def create_item_for_line(ctx: AppContext, account_ref, order_id: int, sku_key: str, *, name: str, code: str,
                         price: str, tax_id: str, actor: str = "cli") -> CreatedItem:
    """Create the product once, cache it, map the SKU to it and invoice every order the SKU held."""
    name, code = " ".join((name or "").split()), (code or "").strip()
    if not name:
        raise ConfigurationError("Escribe el nombre del producto.")
    if not code or len(code) > 100:
        raise ConfigurationError("Escribe el código del producto (hasta 100 caracteres).")
    if len(name) > 150:
        raise ConfigurationError("El nombre del producto puede tener hasta 150 caracteres.")
    paid_price = parse_price(price)
    with ctx.db.session() as session:
        account, order, line = _line(session, account_ref, order_id, sku_key)
        sku_key = line.sku_key
        erp = get_erp_connection(session, account)
        settings = effective_settings(erp.settings, order.channel_connection.settings_overrides)
        includes_tax = bool((order.canonical or {}).get("prices_include_tax", True))
        erp_id, channel_id, account_id = erp.id, order.channel_connection_id, account.id
        adapter = ctx.erp_adapter(erp)
        session.rollback()
    tax = None
    if tax_id:
        tax = next((t for t in adapter.list_taxes() if t.id == tax_id), None)
        if tax is None:
            raise ConfigurationError("Ese impuesto no existe en el ERP; elige otro.")
    rate = Decimal(str(tax.extra.get("percentage") or 0)) if tax else Decimal(0)
    net = paid_price / (1 + rate / 100) if includes_tax else paid_price
    draft = ItemDraft(name=name, code=code, price=net.quantize(PRICE_PLACES, ROUND_HALF_UP),
                      tax_ids=(tax_id,) if tax_id else (), price_list_id=settings.price_list_id)
    write_id = _claim_write(ctx, erp_id, order_id, sku_key, draft)
    with ctx.db.session() as session:
        kept = session.get(RemoteWrite, write_id).result.get("draft") or {}
    # A write already under way keeps the code it was sent with: that is what settles a lost answer.
    kept_draft = ItemDraft(name=kept.get("name", draft.name), code=kept.get("code", draft.code),
                           price=Decimal(kept.get("price", draft.price)), tax_ids=tuple(kept.get("tax_ids", draft.tax_ids)),
                           price_list_id=kept.get("price_list_id", draft.price_list_id))

    def found() -> Remote:
        item = adapter.find_item_by_code(kept_draft.code)
        return Remote(True, _kept(item)) if item is not None else NOT_DONE

    state = perform(ctx, write_id, WriteAction(send=lambda: _kept(adapter.create_item(kept_draft)), read=found,
                                               read_first=True))
    with ctx.db.session() as session:
        write = session.get(RemoteWrite, write_id)
        result, detail = dict(write.result or {}), write.detail
        session.rollback()
    if state == "busy":
        raise ConfigurationError("Ese producto ya se está creando o se reintentará en un momento; vuelve a cargar "
                                 "la orden en unos segundos.")
    if state == "ambiguous":
        raise ConnectorError(f"{detail} Al intentarlo de nuevo se busca primero el producto en el ERP, para no "
                             "crearlo dos veces.")
    if state != "done":
        raise ConnectorError(detail or "El ERP no creó el producto; se puede intentar de nuevo.")
    item = CatalogItem(erp_id=result["erp_id"], name=result.get("name", ""), reference=result.get("reference"),
                       barcodes=tuple(result.get("barcodes", ())), tax_ids=tuple(result.get("tax_ids", ())),
                       tax_rate=Decimal(result.get("tax_rate", "0")), kind=result.get("kind", "product"))
    _add_to_cache(ctx, erp_id, item)
    _, orders = map_sku(ctx, account_id, sku_key, item.erp_id, channel_ref=channel_id, actor=actor)
    return CreatedItem(item, bool(result.get("found_by_reading")), {oid: o.state for oid, o in orders.items()})


def _kept(item: CatalogItem) -> dict:
    return {"erp_id": item.erp_id, "name": item.name, "reference": item.reference, "barcodes": list(item.barcodes),
            "tax_ids": list(item.tax_ids), "tax_rate": str(item.tax_rate), "kind": item.kind}


def _claim_write(ctx: AppContext, erp_id: int, order_id: int, sku_key: str, draft: ItemDraft) -> int:
    """The write row for this ERP connection and SKU: the open or done one, else a new generation
    (after a refusal the seller may correct the form and try again)."""
    subject = f"erp:{erp_id}:sku:{sku_key}"[:160]
    for _ in range(3):
        with ctx.db.session() as session:
            writes = list(session.scalars(select(RemoteWrite).where(
                RemoteWrite.invoice_id.is_(None), RemoteWrite.kind == KIND, RemoteWrite.subject == subject)
                .order_by(RemoteWrite.generation)))
            latest = writes[-1] if writes else None
            if latest is not None and (latest.state in OPEN_STATES or latest.state == "done"):
                return latest.id
            write = RemoteWrite(invoice_id=None, order_id=order_id, kind=KIND, subject=subject, via="erp",
                                generation=(latest.generation + 1) if latest else 1, marker=draft.code[:120],
                                result={"draft": {"name": draft.name, "code": draft.code, "price": str(draft.price),
                                                  "tax_ids": list(draft.tax_ids),
                                                  "price_list_id": draft.price_list_id}})
            session.add(write)
            try:
                session.commit()
            except IntegrityError:  # another click made it first: take that one
                session.rollback()
                continue
            return write.id
    raise ConfigurationError("Ese producto ya se está creando; espera un momento y vuelve a cargar la orden.")


def _add_to_cache(ctx: AppContext, erp_id: int, item: CatalogItem) -> None:
    """The new item in the catalog cache now (a whole catalog read would cost many ERP requests)."""
    with ctx.db.transaction() as session:
        exists = session.scalar(select(CachedItem.id).where(CachedItem.erp_connection_id == erp_id,
                                                            CachedItem.erp_id == item.erp_id))
        if exists is None:
            session.add(_row(erp_id, item, utcnow()))
            session.add_all(_codes(erp_id, [item]))
