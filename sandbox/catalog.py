"""The sandbox's seeded world: a realistic Colombian catalog and a stream of marketplace sales.

Both the ERP sandbox (items, taxes, warehouses) and every channel sandbox (orders) are built from
this one module, so a sale's SKU really is (or, on purpose, is not) an item's barcode or reference.

Orders are described neutrally (:class:`SaleSpec`); each channel sandbox renders them in its own
wire format.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from itertools import accumulate

from sandbox.backlog import gc_paused
from sandbox.countries import COLOMBIA, SandboxCountry, sandbox_country

BOGOTA = timezone(timedelta(hours=-5))

TAXES = [
    {"id": 1, "name": "IVA", "percentage": "19.00", "description": "IVA general", "type": "IVA", "status": "active"},
    {"id": 2, "name": "IVA", "percentage": "5.00", "description": "IVA reducido", "type": "IVA", "status": "active"},
    {"id": 3, "name": "Exento", "percentage": "0.00", "description": "Exento de IVA", "type": "IVA", "status": "active"},
]
TAX_RATES = {t["id"]: Decimal(t["percentage"]) for t in TAXES}

WAREHOUSES = [
    {"id": 1, "name": "Bodega principal", "observations": "Medellín", "isDefault": True, "status": "active"},
    {"id": 2, "name": "Bodega Bogotá", "observations": "Zona Franca", "isDefault": False, "status": "active"},
]

PRICE_LISTS = [
    {"id": 1, "name": "General", "type": "amount", "status": "active", "main": True},
    {"id": 2, "name": "Mayorista", "type": "percentage", "percentage": "-10", "status": "active", "main": False},
]

NUMBER_TEMPLATES = [
    {"id": 1, "name": "Factura electrónica de venta", "prefix": "FEV", "nextInvoiceNumber": 1001,
     "documentType": "invoice", "isElectronic": True, "isDefault": True, "status": "active"},
    {"id": 2, "name": "Factura de venta POS", "prefix": "POS", "nextInvoiceNumber": 1,
     "documentType": "invoice", "isElectronic": False, "isDefault": False, "status": "active"},
]

# Colombia's "consumidor final" identification, used when a buyer has no document.
FINAL_CONSUMER_ID = "222222222222"


@dataclass(frozen=True)
class Product:
    """A sellable thing. ``variants`` maps option values to (barcode) for variant parents."""

    key: str
    name: str
    reference: str
    price: Decimal  # before tax, price list "General"
    tax_id: int
    barcode: str | None = None
    kind: str = "product"
    attributes: tuple[str, ...] = ()
    variants: tuple[tuple[tuple[str, ...], str], ...] = ()  # ((option values...), barcode)
    rate: Decimal | None = None  # the tax rate, when not Colombia's TAX_RATES[tax_id] (sandbox.countries)

    def price_with_tax(self) -> Decimal:
        rate = TAX_RATES[self.tax_id] if self.rate is None else self.rate
        gross = self.price * (1 + rate / 100)
        return gross.quantize(Decimal("1"), rounding=ROUND_HALF_UP)


def _ean(n: int) -> str:
    """A valid EAN-13 in Colombia's GS1 prefix (770)."""
    body = f"770{n:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


PRODUCTS: tuple[Product, ...] = (
    Product("cafe-500", "Café de origen Huila 500 g", "CAF-HUI-500", Decimal("28000"), 2, _ean(1001)),
    Product("cafe-250", "Café de origen Nariño 250 g", "CAF-NAR-250", Decimal("16500"), 2, _ean(1002)),
    Product("panela", "Panela orgánica pulverizada 1 kg", "PAN-ORG-1K", Decimal("9800"), 3, _ean(1003)),
    Product("aguacate-aceite", "Aceite de aguacate 250 ml", "ACE-AGU-250", Decimal("31900"), 1, _ean(1004)),
    Product("mochila", "Mochila wayuu tejida a mano", "MOC-WAY-01", Decimal("185000"), 1, _ean(1005)),
    Product("sombrero", "Sombrero vueltiao 21 vueltas", "SOM-VUE-21", Decimal("142000"), 1, _ean(1006)),
    Product("hamaca", "Hamaca San Jacinto doble", "HAM-SJA-DB", Decimal("239000"), 1, _ean(1007)),
    Product("audifonos", "Audífonos inalámbricos BT 5.3", "AUD-BT-53", Decimal("89900"), 1, _ean(1008)),
    Product("cargador", "Cargador rápido USB-C 30 W", "CAR-USBC-30", Decimal("45900"), 1, _ean(1009)),
    Product("termo", "Termo acero inoxidable 750 ml", "TER-ACE-750", Decimal("54900"), 1, _ean(1010)),
    Product("libro", "Libro: Cien años de soledad (tapa dura)", "LIB-CAS-TD", Decimal("79000"), 3, _ean(1011)),
    # In the ERP, but the marketplace listing carries a SKU nobody entered in the ERP: the demo maps it.
    Product("vela", "Vela aromática de soya 200 g", "VEL-SOY-200", Decimal("29412"), 1, _ean(1012)),
    Product(
        "camiseta", "Camiseta algodón pima", "CAM-PIM", Decimal("49900"), 1, None, "variantParent",
        ("Color", "Talla"),
        (
            (("Blanco", "S"), _ean(2001)), (("Blanco", "M"), _ean(2002)), (("Blanco", "L"), _ean(2003)),
            (("Negro", "S"), _ean(2004)), (("Negro", "M"), _ean(2005)), (("Negro", "L"), _ean(2006)),
        ),
    ),
    Product(
        "tenis", "Tenis urbanos lona", "TEN-URB", Decimal("129900"), 1, None, "variantParent",
        ("Talla",),
        ((("38",), _ean(2101)), (("39",), _ean(2102)), (("40",), _ean(2103)), (("41",), _ean(2104))),
    ),
)

# The item that carries the shipping cost on an invoice (a service, taxed like most shipping).
SHIPPING_PRODUCT = Product("envio", "Envío", "ENVIO", Decimal("0"), 1, None, "service")


def products_for(country: SandboxCountry) -> tuple[Product, ...]:
    """The catalog as sold in ``country``: Colombia's as is; elsewhere re-priced under its taxes."""
    if country.code == COLOMBIA.code:
        return PRODUCTS
    return tuple(_localized(p, country) for p in PRODUCTS)


def shipping_product_for(country: SandboxCountry) -> Product:
    return SHIPPING_PRODUCT if country.code == COLOMBIA.code else _localized(SHIPPING_PRODUCT, country)


def _localized(product: Product, country: SandboxCountry) -> Product:
    return replace(product, price=country.local_price(product.price) if product.price else product.price,
                   tax_id=country.tax_of[product.tax_id], rate=country.tax_rate(product.tax_id))


@dataclass(frozen=True)
class SaleLine:
    sku: str | None
    title: str
    quantity: int
    unit_price: Decimal  # tax included, what the buyer paid per unit
    variation: dict[str, str] = field(default_factory=dict)
    sku_in_custom_field: bool = False  # Mercado Libre: seller_custom_field instead of seller_sku


@dataclass(frozen=True)
class SaleBuyer:
    nickname: str
    first_name: str | None
    last_name: str | None
    id_type: str | None  # CC | NIT | CE | None (no billing info)
    id_number: str | None
    email: str | None = None
    phone: str | None = None
    city: str = "Bogotá D.C."
    department: str = "Bogotá"
    street: str = "Calle 100 # 19-61"


@dataclass(frozen=True)
class RefundSpec:
    """Money a marketplace gives back ``after_minutes`` after the sale (channel-neutral): ``lines``
    are ``(line index, units)`` of the sale's lines, ``shipping`` gives its shipping back, ``full``
    gives back everything not given back yet (lines and shipping aside)."""

    after_minutes: int
    lines: tuple[tuple[int, int], ...] = ()
    shipping: bool = False
    full: bool = False
    reason: str = ""


@dataclass(frozen=True)
class SaleSpec:
    """A channel-neutral sale; ``scenario`` says why it is in the stream; ``refunds`` (oldest first)
    are given back over time by the channel sandboxes."""

    number: int
    scenario: str  # matched | variant | mismatched | fulfillment | cancelled | shipping | no_document | pending
    status: str  # paid | cancelled | payment_required
    created_at: datetime
    lines: tuple[SaleLine, ...]
    buyer: SaleBuyer
    shipping_cost: Decimal = Decimal("0")  # paid by the buyer, tax included
    fulfillment: bool = False
    shipped: bool = False
    refunds: tuple[RefundSpec, ...] = ()

    @property
    def total(self) -> Decimal:
        return sum((line.unit_price * line.quantity for line in self.lines), Decimal("0"))


FIRST_NAMES = ["Camila", "Santiago", "Valentina", "Andrés", "María José", "Juan Pablo", "Luisa", "Sebastián",
               "Daniela", "Felipe", "Mariana", "Nicolás", "Isabella", "Julián", "Laura", "Mateo"]
LAST_NAMES = ["Restrepo", "Gómez", "Rodríguez", "Martínez", "López", "García", "Hernández", "Ospina",
              "Londoño", "Castaño", "Zapata", "Vélez", "Muñoz", "Jaramillo", "Cárdenas", "Díaz"]
CITIES = [("Medellín", "Antioquia"), ("Bogotá D.C.", "Bogotá"), ("Cali", "Valle del Cauca"),
          ("Barranquilla", "Atlántico"), ("Bucaramanga", "Santander"), ("Pereira", "Risaralda")]

SCENARIO_WEIGHTS = [
    ("matched", 40), ("variant", 18), ("shipping", 12), ("mismatched", 10), ("fulfillment", 6),
    ("cancelled", 5), ("no_document", 6), ("pending", 3),
]


# Sold under a SKU the ERP does not know (the marketplace listing was created by hand): SKU -> the
# product it really is (None: not in the ERP at all) and the listing's title.
UNMAPPED_SKUS = {"VELA-AROM-01": "vela", "VELA-AROM-02": "vela", "KIT-REGALO-X": None}
UNMAPPED_TITLES = {"VELA-AROM-01": "Vela aromática artesanal de soya", "VELA-AROM-02": "Vela aromática soya lavanda",
                   "KIT-REGALO-X": "Kit de regalo navideño"}


def _simple_products(products: tuple[Product, ...] = PRODUCTS) -> list[Product]:
    return [p for p in products if p.kind == "product" and p.key != "vela"]


def _variant_products(products: tuple[Product, ...] = PRODUCTS) -> list[Product]:
    return [p for p in products if p.kind == "variantParent"]


def _buyer(rng: random.Random, i: int, with_document: bool, country: SandboxCountry = COLOMBIA) -> SaleBuyer:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    city, department = rng.choice(country.cities)
    if not with_document:
        return SaleBuyer(f"COMPRADOR{i}", None, None, None, None, city=city, department=department)
    if rng.random() < 0.15:
        kind, draw = country.company_document
        return SaleBuyer(f"EMPRESA{i}", f"Comercializadora {last} S.A.S.", None, kind, draw(rng),
                         city=city, department=department)
    kind, draw = country.person_document
    return SaleBuyer(f"{first.split()[0].upper()}{i}", first, last, kind, draw(rng), city=city,
                     department=department)


def _simple_line(rng: random.Random, product: Product, by_custom_field: bool = False) -> SaleLine:
    return SaleLine(product.barcode, product.name, rng.choice([1, 1, 1, 2, 3]), product.price_with_tax(),
                    sku_in_custom_field=by_custom_field)


def _variant_line(rng: random.Random, product: Product) -> SaleLine:
    options, barcode = rng.choice(product.variants)
    variation = dict(zip(product.attributes, options, strict=True))
    title = f"{product.name} {' '.join(options)}"
    return SaleLine(barcode, title, rng.choice([1, 1, 2]), product.price_with_tax(), variation)


# How a refunded sale is refunded: everything, some units of one line, only the shipping, or some
# units first and the rest later (several refunds on one order).
REFUND_KINDS = [("full", 3), ("partial", 4), ("shipping", 1), ("several", 2)]
REFUND_REASONS = ["El comprador se arrepintió", "Producto defectuoso", "Talla o color equivocado", "Llegó tarde"]


def draw_refunds(sale: SaleSpec, *, seed: int, share: float) -> tuple[RefundSpec, ...]:
    """The refunds of a paid sale, drawn from a stream of its own (``seed`` and the sale's number),
    so the sales stream and its scenarios stay the same whatever the share; ``share`` of the paid
    sales get refunds."""
    if share <= 0 or sale.status != "paid":
        return ()
    rng = random.Random(f"refunds:{seed}:{sale.number}")
    if rng.random() >= share:
        return ()
    units = sum(line.quantity for line in sale.lines)
    kinds = [(kind, weight) for kind, weight in REFUND_KINDS
             if (kind != "shipping" or sale.shipping_cost > 0) and (kind in ("full", "shipping") or units > 1)]
    names, weights = zip(*kinds, strict=True)
    kind = rng.choices(names, weights=weights)[0]
    after, reason = rng.randrange(5, 60), rng.choice(REFUND_REASONS)
    index = rng.randrange(len(sale.lines))
    some = ((index, rng.randrange(1, sale.lines[index].quantity + 1)),) if sale.lines[index].quantity > 1 or \
        len(sale.lines) > 1 else ((index, 1),)
    if kind == "full":
        return (RefundSpec(after, full=True, reason=reason),)
    if kind == "shipping":
        return (RefundSpec(after, shipping=True, reason="Envío cobrado de más"),)
    if kind == "partial" and some[0][1] < units:
        return (RefundSpec(after, lines=some, reason=reason),)
    one_unit = ((index, 1),)
    return (RefundSpec(after, lines=one_unit, reason=reason),
            RefundSpec(after + rng.randrange(5, 60), full=True, reason="Devolución del resto"))


@gc_paused()  # every sale lives as long as the sandbox: the collector could free nothing
def generate_sales(count: int, *, seed: int = 7, start: datetime | None = None,
                   refund_share: float = 0.0, country: str | None = None) -> list[SaleSpec]:
    """A deterministic stream of ``count`` sales mixing every scenario the connector must handle.

    ``refund_share`` of the paid sales are refunded later (:func:`draw_refunds`); 0 by default, and
    the sales are the same whatever it is (only their ``refunds`` differ). ``country`` (ISO, default
    Colombia) prices them in its currency under its taxes and gives its buyers its documents.
    """
    place = sandbox_country(country)
    rng = random.Random(seed)
    start = start or datetime(2026, 11, 2, 8, 0, tzinfo=BOGOTA)
    names, weights = zip(*SCENARIO_WEIGHTS, strict=True)
    cum_weights = list(accumulate(weights))  # the same draws as choices(names, weights), not summed per sale
    products = products_for(place)
    simple, variants = _simple_products(products), _variant_products(products)
    sales = []
    for i in range(count):
        scenario = rng.choices(names, cum_weights=cum_weights)[0]
        created = start + timedelta(minutes=7 * i + rng.randrange(5))
        buyer = _buyer(rng, i, with_document=scenario != "no_document", country=place)
        lines: list[SaleLine] = [_simple_line(rng, rng.choice(simple), rng.random() < 0.1)]
        status, shipping, fulfillment = "paid", Decimal("0"), False
        if scenario == "variant":
            lines = [_variant_line(rng, rng.choice(variants))]
            if rng.random() < 0.4:
                lines.append(_simple_line(rng, rng.choice(simple)))
        elif scenario == "shipping":
            shipping = place.local_price(Decimal(rng.choice([7900, 9900, 12500, 14900])))
        elif scenario == "mismatched":
            sku = rng.choice(sorted(UNMAPPED_SKUS))
            lines.append(SaleLine(sku, UNMAPPED_TITLES[sku], 1, place.local_price(Decimal("35000"))))
        elif scenario == "fulfillment":
            fulfillment = True
        elif scenario == "cancelled":
            status = "cancelled"
        elif scenario == "pending":
            status = "payment_required"
        sale = SaleSpec(
            number=i, scenario=scenario, status=status, created_at=created, lines=tuple(lines), buyer=buyer,
            shipping_cost=shipping, fulfillment=fulfillment, shipped=status == "paid" and rng.random() < 0.5,
        )
        if refund_share > 0:
            sale = replace(sale, refunds=draw_refunds(sale, seed=seed, share=refund_share))
        sales.append(sale)
    return sales
