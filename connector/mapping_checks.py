"""What to say before a SKU mapping is saved from the command line (``connector map``).

A mapping to a product with variants (the parent, not one variant) makes every order of that SKU
fail to invoice: refused, with the variants to choose from. A SKU no order of the connection ever
carried is probably a typo: warned. Replacing an existing mapping changes how future orders are
invoiced: warned, with the product it had.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from connector.context import AppContext
from connector.errors import ConfigurationError
from connector.models import CatalogItem, Order, OrderLine, SkuMapping, SkuMismatch
from connector.services import find_account, find_channel_connection, get_erp_connection
from mapping.codes import normalise_code


@dataclass
class MappingCheck:
    """The warnings a mapping deserves (it may still be saved)."""

    warnings: list[str] = field(default_factory=list)


def check_mapping(ctx: AppContext, account_ref, sku: str, erp_item_id: str, *, channel_ref=None) -> MappingCheck:
    """Refuse a variant parent (:class:`ConfigurationError`); return the warnings otherwise."""
    key = sku if sku.startswith("ID:") else normalise_code(sku)
    check = MappingCheck()
    with ctx.db.session() as session:
        account = find_account(session, account_ref)
        erp = get_erp_connection(session, account)
        channel = find_channel_connection(session, account, channel_ref)
        item = session.scalar(select(CatalogItem).where(CatalogItem.erp_connection_id == erp.id,
                                                        CatalogItem.erp_id == str(erp_item_id)))
        if item is not None and item.kind == "variantParent":
            variants = session.execute(select(CatalogItem.erp_id, CatalogItem.name).where(
                CatalogItem.erp_connection_id == erp.id, CatalogItem.parent_id == item.erp_id)).all()
            shown = "; ".join(f"{i} ({n})" for i, n in variants[:10])
            raise ConfigurationError(
                f"«{item.name}» ({item.erp_id}) es un producto con variantes: una orden no puede facturarse con "
                "él. Asigna la variante que corresponde al SKU" + (f": {shown}." if shown else " (búscala con "
                                                                                      "`catalog search`)."))
        seen = session.scalar(select(OrderLine.id).join(Order, Order.id == OrderLine.order_id).where(
            Order.channel_connection_id == channel.id, OrderLine.sku_key == key).limit(1)) is not None
        seen = seen or session.scalar(select(SkuMismatch.id).where(
            SkuMismatch.channel_connection_id == channel.id, SkuMismatch.sku_key == key)) is not None
        if not seen:
            check.warnings.append(f"ninguna orden de {channel.name} tiene el SKU «{sku}»; revisa que esté bien "
                                  "escrito (la asignación se guarda igual, para órdenes futuras).")
        existing = session.scalar(select(SkuMapping).where(SkuMapping.channel_connection_id == channel.id,
                                                           SkuMapping.sku_key == key))
        if existing is not None and existing.erp_item_id != str(erp_item_id):
            check.warnings.append(f"el SKU «{sku}» estaba asignado a «{existing.erp_item_name or existing.erp_item_id}»"
                                  f" ({existing.erp_item_id}); se reemplaza.")
    return check
