"""Searching the orders list: accents and case aside, by invoice number, a date range that cannot be,
a page past the end."""

from connector import services
from connector.order_search import fold
from tests.admin_ui.conftest import page_text


def test_fold_drops_accents_and_case():
    assert fold("  Nariño  LÓPEZ ") == "narino lopez" and fold("Vela aromática") == "vela aromatica"
    assert fold(None) == ""


def test_search_ignores_accents_and_case(client, ui_ctx, synced_seller):
    velas = [o for o in services.list_orders(ui_ctx, synced_seller) if any("aromática" in li.title for li in o.lines)]
    assert velas
    for query in ("AROMATICA", "aromatica", "Aromática"):
        text = page_text(client.get("/orders", query_string={"q": query}))
        assert all(o.external_id in text for o in velas), query
    assert services.count_orders(ui_ctx, synced_seller, text="vela AROMATICA") == len(velas)


def test_search_by_invoice_number(client, ui_ctx, synced_seller):
    invoiced = services.list_orders(ui_ctx, synced_seller, states=["invoiced"])
    target = invoiced[0]
    text = page_text(client.get("/orders", query_string={"q": target.invoice.number.lower()}))
    assert target.external_id in text
    assert all(o.external_id not in text for o in invoiced[1:] if target.invoice.number not in o.invoice.number)


def test_a_date_range_that_ends_before_it_starts_is_explained(client, synced_seller):
    text = page_text(client.get("/orders?from=2026-12-31&to=2026-01-01"))
    assert "es posterior a «Hasta»" in text and "Facturada" in text  # the range is dropped, not the list


def test_a_page_past_the_end_says_so(client, ui_ctx, synced_seller):
    total = services.count_orders(ui_ctx, synced_seller)
    text = page_text(client.get("/orders?page=40"))
    assert f"La página 40 no existe: estas órdenes caben en una sola página ({total} órdenes)." in text
    assert "Ir a la última página" in text
