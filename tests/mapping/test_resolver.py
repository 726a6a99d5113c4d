from decimal import Decimal

import pytest

from connector.canonical import OrderLine
from connector.models import Account, ChannelConnection, ERPConnection, SkuMapping, SkuMismatch
from connector.rules import MatchBy
from erp.base import CatalogItem
from mapping.catalog import refresh_catalog, search_cached_items
from mapping.resolver import LineMatch, LineMiss, record_mismatch, resolve_line_sku


class CatalogOf:
    """Stands in for an ERP adapter's catalog read (the adapter itself is tested in tests/erp)."""

    def __init__(self, items):
        self.items = items

    def iter_items(self):
        return iter(self.items)


CATALOG = [
    CatalogItem("1", "Café Huila 500 g", reference="CAF-HUI-500", barcodes=("7700000010016",), tax_ids=("2",),
                tax_rate=Decimal("5")),
    CatalogItem("2", "Camiseta pima", kind="variantParent", reference="CAM-PIM"),
    CatalogItem("3", "Camiseta pima / Blanco / M", kind="variant", parent_id="2", barcodes=("7700000020022",),
                variant_options={"Color": "Blanco", "Talla": "M"}, tax_ids=("1",), tax_rate=Decimal("19")),
    CatalogItem("4", "Camiseta pima / Negro / M", kind="variant", parent_id="2", barcodes=("7700000020053",),
                variant_options={"Color": "Negro", "Talla": "M"}, tax_ids=("1",), tax_rate=Decimal("19")),
    CatalogItem("5", "Termo viejo", reference="TER-OLD", barcodes=("7700000099999",), active=False),
    CatalogItem("6", "Vela soya", reference="DUP-REF"),
    CatalogItem("7", "Vela parafina", reference="DUP-REF"),
]


@pytest.fixture
def world(ctx):
    with ctx.db.transaction() as session:
        account = Account(name="t")
        session.add(account)
        session.flush()
        erp = ERPConnection(account_id=account.id, kind="alegra", name="a", credentials_encrypted="x", settings={})
        channel = ChannelConnection(account_id=account.id, kind="mercadolibre", name="ml", credentials_encrypted="x",
                                    remote_account_id="1", settings_overrides={})
        session.add_all([erp, channel])
        session.flush()
        refresh_catalog(session, erp, CatalogOf(CATALOG))
        return erp.id, channel.id


def resolve(ctx, world, match_by=MatchBy.BARCODE, **line):
    erp_id, channel_id = world
    with ctx.db.session() as session:
        return resolve_line_sku(session, erp_connection_id=erp_id, channel_connection_id=channel_id,
                                line=OrderLine(line_id="MCO1", title="t", quantity=1, unit_price=1, **line),
                                match_by=match_by)


def test_barcode_match_carries_the_item_tax(ctx, world):
    match = resolve(ctx, world, sku=" 7700000010016 ")
    assert match == LineMatch("1", "Café Huila 500 g", "barcode", ("2",), Decimal("5"))


def test_reference_match_is_case_insensitive(ctx, world):
    assert resolve(ctx, world, MatchBy.REFERENCE, sku="caf-hui-500").erp_item_id == "1"


def test_barcode_of_a_variant_is_the_variant(ctx, world):
    assert resolve(ctx, world, sku="7700000020053").erp_item_id == "4"


def test_parent_reference_resolves_the_variant_by_its_options(ctx, world):
    match = resolve(ctx, world, MatchBy.REFERENCE, sku="CAM-PIM", variation_attributes={"color": "NEGRO", "Talla": "M"})
    assert (match.erp_item_id, match.source) == ("4", "variant")


def test_parent_reference_without_matching_variant_explains(ctx, world):
    miss = resolve(ctx, world, MatchBy.REFERENCE, sku="CAM-PIM", variation_attributes={"Color": "Rojo", "Talla": "M"})
    assert isinstance(miss, LineMiss) and "variantes" in miss.reason and "Rojo" in miss.reason


@pytest.mark.parametrize(("sku", "match_by", "words"), [
    ("NO-EXISTE", MatchBy.BARCODE, "código de barras"),
    ("CAF-HUI-500", MatchBy.BARCODE, "no coincide"),  # a reference is not a barcode
    ("7700000099999", MatchBy.BARCODE, "inactivo"),
    ("DUP-REF", MatchBy.REFERENCE, "varios productos"),
    (None, MatchBy.BARCODE, "no tiene SKU"),
])
def test_misses_say_why(ctx, world, sku, match_by, words):
    miss = resolve(ctx, world, match_by, sku=sku)
    assert isinstance(miss, LineMiss) and words in miss.reason


def test_manual_mapping_wins_and_is_remembered(ctx, world):
    erp_id, channel_id = world
    with ctx.db.transaction() as session:
        session.add(SkuMapping(channel_connection_id=channel_id, sku_key="7700000010016", erp_item_id="6"))
    match = resolve(ctx, world, sku="7700000010016")
    assert (match.erp_item_id, match.source) == ("6", "manual")


def test_mismatch_recorded_once_per_sku(ctx, world):
    _, channel_id = world
    line = OrderLine(line_id="MCO9", sku="vela-1", title="Vela", quantity=1, unit_price=1)
    for _ in range(2):
        with ctx.db.transaction() as session:
            record_mismatch(session, channel_id, line)
    with ctx.db.session() as session:
        rows = session.query(SkuMismatch).all()
    assert [(r.sku_key, r.title) for r in rows] == [("VELA-1", "Vela")]


def test_catalog_search_by_name_reference_and_barcode(ctx, world):
    erp_id, _ = world
    with ctx.db.session() as session:
        assert {i.erp_id for i in search_cached_items(session, erp_id, "camiseta")} == {"3", "4"}
        assert [i.erp_id for i in search_cached_items(session, erp_id, "caf-hui")] == ["1"]
        assert [i.erp_id for i in search_cached_items(session, erp_id, "0020053")] == ["4"]
