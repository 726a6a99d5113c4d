"""An Alegra account of each country, end to end against the sandbox of that country: Mercado Libre's
site sells in its currency under its taxes (IVA 19/5 % Colombia, IVA 16 % Mexico, IGV 18 % Peru,
ITBMS 7 % Panama), its buyers' documents become the ERP's identification types, and every invoice
totals what the buyer paid (invariant 3), per country."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from connector import services
from connector.states import OrderState
from erp.registry import erp_class
from sandbox import server as sandbox_server
from sandbox.knobs import Knobs
from tests.conftest import DEMO_RULES, each_on_one_database
from tests.e2e.conftest import buyer_paid

# country -> (Mercado Libre site, currency, the identification types its buyers may get, the general rate)
COUNTRIES = {
    "CO": ("MCO", "COP", {"CC", "NIT"}, Decimal("19")),
    "MX": ("MLM", "MXN", {"RFC"}, Decimal("16")),
    "PE": ("MPE", "PEN", {"DNI", "RUC"}, Decimal("18")),
    "PA": ("MPA", "USD", {"CIP", "RUC"}, Decimal("7")),
}


@pytest.fixture
def country_sandbox(country):
    box = sandbox_server.Sandbox(order_count=30, seed=11, country=country,
                                 alegra_knobs=Knobs(rate_limit_per_minute=0)).start()
    yield box
    box.stop()


def _connect(ctx, box, country: str) -> int:
    site = COUNTRIES[country][0]
    account = services.create_account(ctx, f"Tienda {country} {uuid.uuid4().hex[:6]}")
    services.connect_erp(ctx, account.id, "alegra", {"email": sandbox_server.ALEGRA_EMAIL,
                                                     "token": sandbox_server.ALEGRA_TOKEN, "country": country},
                         base_url=box.alegra_url)
    services.connect_channel(ctx, account.id, "mercadolibre", {
        "client_id": sandbox_server.ML_CLIENT_ID, "client_secret": sandbox_server.ML_CLIENT_SECRET,
        "refresh_token": sandbox_server.ML_REFRESH_TOKEN, "site_id": site}, base_url=box.ml_url)
    shipping = next(i for i in services.search_catalog(ctx, account.id, "ENVIO") if i.reference == "ENVIO")
    services.update_settings(ctx, account.id, DEMO_RULES + [f"shipping_item_id={shipping.erp_id}"])
    return account.id


# Each country on one database in `make test` (both covered), on the other in `make test-slow`.
@pytest.mark.parametrize(("country", "database_url"), each_on_one_database(sorted(COUNTRIES)),
                         indirect=["database_url"])
def test_each_country_invoices_what_the_buyer_paid_in_its_currency_and_documents(ctx, country_sandbox, country):
    from connector.sync import sync_once

    site, currency, id_types, rate = COUNTRIES[country]
    account_id = _connect(ctx, country_sandbox, country)
    erp = services.find_erp_connection(ctx, account_id)
    assert erp.country == country  # the connection's fiscal profile is the account's country

    choices = services.erp_choices(ctx, account_id)  # what `connector choices` lists, the country's own codes
    assert id_types <= {c["id"] for c in choices["identification_types"]}
    catalog = services.search_catalog(ctx, account_id, "Termo")
    assert catalog and catalog[0].tax_rate == rate  # the country's own tax on the item

    sync_once(ctx, account_id)
    invoiced = services.list_orders(ctx, account_id, states=[OrderState.INVOICED.value], limit=1000)
    assert len(invoiced) >= 10, [o.state_reason for o in services.error_queue(ctx, account_id)]
    for order in invoiced:
        assert order.currency == currency
        assert order.invoice.total == buyer_paid("mercadolibre", order.raw), order.external_id  # invariant 3
        assert order.invoice.total == order.total_paid, order.external_id

    state = country_sandbox.alegra_state
    profile = erp_class("alegra").fiscal_profile(country)
    types_sent = {str((c.get("identificationObject") or {}).get("type")) for c in state.contacts.values()}
    consumer = profile.final_consumer
    assert types_sent - {consumer.identification_type} <= id_types | {profile.default("identification_type")}
    assert types_sent & id_types, types_sent  # marketplace documents became the ERP's types


def test_a_peruvian_buyer_with_ruc_gets_a_factura_and_one_with_dni_a_boleta(ctx):
    box = sandbox_server.Sandbox(order_count=40, seed=3, country="PE",
                                 alegra_knobs=Knobs(rate_limit_per_minute=0)).start()
    try:
        from connector.sync import sync_once

        account_id = _connect(ctx, box, "PE")
        sync_once(ctx, account_id)
        templates = {t["id"]: t["documentType"] for t in box.alegra_state.number_templates}
        contacts = box.alegra_state.contacts
        kinds = {}
        for invoice in box.alegra_state.invoices:
            client = contacts[int(invoice["client"]["id"])]
            id_type = (client.get("identificationObject") or {}).get("type")
            kinds.setdefault(id_type, set()).add(templates[int(invoice["numberTemplate"]["id"])])
        assert kinds.get("RUC") == {"invoice"}, kinds
        assert kinds.get("DNI") == {"receipt"}, kinds
    finally:
        box.stop()
