"""Resolve an order line to an ERP item: manual mapping first, then barcode or reference, variants
resolved by their option values. Every miss comes back with a reason a seller understands."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from connector.canonical import OrderLine
from connector.models import CatalogCode, CatalogItem, SkuMapping, SkuMismatch, utcnow
from connector.reasons import reason
from connector.rules import MatchBy
from mapping.catalog import get_cached_item
from mapping.codes import normalise_code, normalise_label

MATCH_LABELS = {MatchBy.BARCODE: reason("código de barras"), MatchBy.REFERENCE: reason("código de referencia")}


@dataclass(frozen=True)
class LineMatch:
    erp_item_id: str
    erp_item_name: str
    source: str  # manual | barcode | reference | variant
    tax_ids: tuple[str, ...] = ()
    tax_rate: Decimal = Decimal("0")


@dataclass(frozen=True)
class LineMiss:
    reason: str


def sku_key(line: OrderLine) -> str:
    """The key a manual mapping and a mismatch are stored under: the SKU, or the listing id without one."""
    if line.sku and normalise_code(line.sku):
        return normalise_code(line.sku)
    return f"ID:{line.line_id}" + (f"/{line.variation_id}" if line.variation_id else "")


def resolve_line_sku(session: Session, *, erp_connection_id: int, channel_connection_id: int, line: OrderLine,
                     match_by: MatchBy) -> LineMatch | LineMiss:
    """Find the ERP item for ``line``. Manual mappings win over codes."""
    key = sku_key(line)
    manual = session.scalar(_MANUAL, {"channel": channel_connection_id, "key": key})
    if manual is not None:
        item = get_cached_item(session, erp_connection_id, manual.erp_item_id)
        if item is not None and item.kind == "variantParent":
            return _resolve_variant(session, erp_connection_id, item, line, "manual")
        name = item.name if item is not None else (manual.erp_item_name or manual.erp_item_id)
        return LineMatch(manual.erp_item_id, name, "manual", *(_tax(item)))

    label = MATCH_LABELS[match_by]
    if not line.sku or not normalise_code(line.sku):
        return LineMiss(reason("La línea «%(title)s» no tiene SKU en el canal: asígnale un producto del ERP.",
                               title=line.title))
    candidates = _by_code(session, erp_connection_id, match_by.value, normalise_code(line.sku))
    if not candidates:
        return LineMiss(reason("El SKU «%(sku)s» («%(title)s») no coincide con ningún producto del ERP por "
                               "%(how)s.", sku=line.sku, title=line.title, how=label))
    usable = [c for c in candidates if c.active]
    if not usable:
        return LineMiss(reason("El SKU «%(sku)s» corresponde a «%(item)s», que está inactivo en el ERP.",
                               sku=line.sku, item=candidates[0].name))
    if len(usable) > 1:
        names = ", ".join(f"«{c.name}»" for c in usable[:3])
        return LineMiss(reason("El SKU «%(sku)s» coincide con varios productos del ERP (%(names)s); asígnale "
                               "uno a mano.", sku=line.sku, names=names))
    item = usable[0]
    if item.kind == "variantParent":
        return _resolve_variant(session, erp_connection_id, item, line, "variant")
    return LineMatch(item.erp_id, item.name, match_by.value, *(_tax(item)))


def _resolve_variant(session: Session, erp_connection_id: int, parent: CatalogItem, line: OrderLine,
                     source: str) -> LineMatch | LineMiss:
    wanted = {normalise_label(k): normalise_label(v) for k, v in line.variation_attributes.items()}
    variants = list(session.scalars(select(CatalogItem).where(
        CatalogItem.erp_connection_id == erp_connection_id, CatalogItem.parent_id == parent.erp_id,
        CatalogItem.active.is_(True))))
    matching = [v for v in variants if _options_match(v.variant_options, wanted)]
    if len(matching) == 1:
        return LineMatch(matching[0].erp_id, matching[0].name, source, *(_tax(matching[0])))
    shown = ", ".join(f"{k}: {v}" for k, v in line.variation_attributes.items()) or "sin atributos"
    if not matching:
        return LineMiss(reason("«%(item)s» tiene variantes y ninguna coincide con la de la venta (%(shown)s); "
                               "usa el código de barras de la variante como SKU o asígnala a mano.",
                               item=parent.name, shown=shown))
    return LineMiss(reason("«%(item)s»: varias variantes coinciden con %(shown)s; asígnale una a mano.",
                           item=parent.name, shown=shown))


def _options_match(options: dict, wanted: dict[str, str]) -> bool:
    if not wanted:
        return False
    have = {normalise_label(k): normalise_label(v) for k, v in (options or {}).items()}
    return all(have.get(name) == value for name, value in wanted.items()) and len(have) == len(wanted)


# Every order line runs these: built once with bound parameters (building a statement costs SQLAlchemy
# more CPU than running a simple one).
_ERP, _CODE = bindparam("erp"), bindparam("code")
_MANUAL = select(SkuMapping).where(SkuMapping.channel_connection_id == bindparam("channel"),
                                   SkuMapping.sku_key == bindparam("key"))
_BY_CODE = select(CatalogItem).where(CatalogItem.erp_connection_id == _ERP, CatalogItem.erp_id.in_(
    select(CatalogCode.erp_item_id).where(CatalogCode.erp_connection_id == _ERP,
                                          CatalogCode.code_type == bindparam("code_type"), CatalogCode.code == _CODE)))


def _by_code(session: Session, erp_connection_id: int, code_type: str, code: str) -> list[CatalogItem]:
    return list(session.scalars(_BY_CODE, {"erp": erp_connection_id, "code_type": code_type, "code": code}))


def _tax(item: CatalogItem | None) -> tuple[tuple[str, ...], Decimal]:
    if item is None:
        return (), Decimal("0")
    return tuple(str(t) for t in item.tax_ids or ()), Decimal(item.tax_rate or 0)


def record_mismatch(session: Session, channel_connection_id: int, line: OrderLine) -> None:
    """Remember an unmatched SKU (once per connection) so a person can review and map it."""
    key = sku_key(line)
    mismatch = session.scalar(select(SkuMismatch).where(
        SkuMismatch.channel_connection_id == channel_connection_id, SkuMismatch.sku_key == key))
    now = utcnow()
    if mismatch is None:
        session.add(SkuMismatch(channel_connection_id=channel_connection_id, sku_key=key, sku=line.sku,
                                title=line.title[:500], first_seen_at=now, last_seen_at=now))
    else:
        mismatch.last_seen_at = now
        mismatch.resolved_at = None
