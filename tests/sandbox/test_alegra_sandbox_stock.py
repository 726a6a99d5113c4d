"""Stock in the Alegra sandbox, read through the real AlegraAdapter: per item per warehouse, lowered by
an invoice when it leaves draft (its warehouse, else the default one), raised by a credit note that
returns goods, untouched by drafts and amount-only notes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from connector.errors import NotFound
from erp.base import CreditNoteDraft, InvoiceLineDraft
from sandbox.alegra_inventory import set_stock, stock_of
from tests.sandbox.test_alegra_sandbox import sale_draft

CAFE_ID, MOCHILA_ID = "1", "5"


def test_item_stock_per_warehouse_and_prices(served):
    adapter = served.adapter()
    set_stock(served.state, 1, 2, 7)
    main = {s.erp_id: s for s in adapter.iter_item_stock("1")}
    bogota = adapter.get_item_stock(CAFE_ID, "2")
    everywhere = adapter.get_item_stock(CAFE_ID, None)
    assert main[CAFE_ID].quantity == Decimal("40") and bogota.quantity == Decimal("7")
    assert everywhere.quantity == Decimal("47")
    assert main[CAFE_ID].prices == {"1": Decimal("28000"), "2": Decimal("25200")}
    parent = next(s for s in main.values() if s.name == "Camiseta algodón pima")
    shipping = next(s for s in main.values() if s.name == "Envío")
    assert parent.quantity is None and shipping.quantity is None  # they keep no stock
    assert adapter.get_item_stock(MOCHILA_ID, "2").quantity == 0  # that warehouse never held it
    with pytest.raises(NotFound):
        adapter.get_item_stock("9999", "1")


def test_open_invoice_lowers_its_warehouse_and_a_draft_does_not(served):
    adapter = served.adapter()
    contact = adapter.find_contact("222222222222")
    adapter.create_invoice(sale_draft(contact, "draft-1", status="draft", stamp=False))
    assert stock_of(served.state, 1, 1) == 40
    adapter.create_invoice(sale_draft(contact, "open-1", warehouse_id="2"))
    assert stock_of(served.state, 1, 2) == -2 and stock_of(served.state, 1, 1) == 40
    adapter.create_invoice(sale_draft(contact, "open-2"))  # no warehouse: the default one gives the units
    assert adapter.get_item_stock(CAFE_ID, "1").quantity == 38
    assert adapter.get_item_stock(MOCHILA_ID, "1").quantity == 39


def test_credit_note_returning_goods_raises_stock_and_a_reduction_does_not(served):
    adapter = served.adapter()
    contact = adapter.find_contact("222222222222")
    invoice = adapter.create_invoice(sale_draft(contact, "sale-1", stamp=False, number_template_id="2"))
    assert stock_of(served.state, 1, 1) == 38
    line = InvoiceLineDraft(CAFE_ID, Decimal("1"), Decimal("28000"), "Café", tax_ids=("2",))
    note = dict(contact_id=contact, invoice_erp_id=invoice.erp_id, issue_date=date(2026, 11, 3), lines=(line,))
    adapter.create_credit_note(CreditNoteDraft(marker="n1", amount=Decimal("29400"),
                                               note_type="PARTIALL_DEVOLUTION", **note))
    assert stock_of(served.state, 1, 1) == 39
    adapter.create_credit_note(CreditNoteDraft(marker="n2", amount=Decimal("100"),
                                               note_type="REDUCTION_DISCOUNT_PARTIAL_TOTAL", **note))
    assert stock_of(served.state, 1, 1) == 39
