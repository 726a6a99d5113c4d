"""The stock page of a channel: settings saved (and refused in the seller's words), a comparison that
writes nothing, a push, and the listings that cannot be published with their reason."""

from __future__ import annotations

from connector import services
from sandbox.alegra_inventory import set_stock
from sandbox.catalog import PRODUCTS
from tests.admin_ui.conftest import page_text

TERMO = next(p for p in PRODUCTS if p.key == "termo")


def _channel_id(ctx, seller) -> int:
    return services.list_channel_connections(ctx, seller)[0].id


def _version(client, channel_id) -> str:
    import re

    html = client.get(f"/stock/{channel_id}").get_data(as_text=True)
    return re.search(r'name="settings_version" value="(\d+)"', html).group(1)


def test_stock_page_settings_compare_and_push(ui_ctx, ui_sandbox, ui_seller, client):
    channel_id = _channel_id(ui_ctx, ui_seller)
    page = client.get(f"/stock/{channel_id}")
    assert page.status_code == 200
    text = page_text(page)
    assert "Bodega de la cual se obtienen los inventarios" in text and "Bodega principal" in text
    assert "Todavía no se ha publicado el stock en este canal." in text

    refused = client.post(f"/stock/{channel_id}/settings", data={
        "enabled": "true", "buffer": "2", "sync_prices": "true", "price_list_id": "",
        "settings_version": _version(client, channel_id)})
    assert refused.status_code == 400 and "elige la lista de precios" in page_text(refused)

    saved = client.post(f"/stock/{channel_id}/settings", data={
        "enabled": "true", "warehouse_id": "1", "buffer": "0", "settings_version": _version(client, channel_id)})
    assert saved.status_code == 302
    stale = client.post(f"/stock/{channel_id}/settings", data={"enabled": "true", "settings_version": "1"})
    assert stale.status_code == 400 and "Alguien cambió esta configuración" in page_text(stale)

    item = ui_sandbox.alegra_state.item_id_for_barcode(TERMO.barcode)
    set_stock(ui_sandbox.alegra_state, item, 1, 6)
    listings = ui_sandbox.ml_state.stock_listings
    shown_before = listings.quantity_of_sku(TERMO.barcode)
    client.post(f"/stock/{channel_id}/run", data={"action": "diff"})
    text = page_text(client.get(f"/stock/{channel_id}"))
    assert "Diferencias encontradas" in text and TERMO.name in text
    assert listings.quantity_of_sku(TERMO.barcode) == shown_before  # comparing writes nothing

    pushed = client.post(f"/stock/{channel_id}/run", data={"action": "push"}, follow_redirects=True)
    assert "Stock publicado" in page_text(pushed)
    assert listings.quantity_of_sku(TERMO.barcode) == 6


def test_a_paused_listing_shows_why_it_is_not_updated(ui_ctx, ui_sandbox, ui_seller, client):
    channel_id = _channel_id(ui_ctx, ui_seller)
    ui_sandbox.ml_state.stock_listings.pause(TERMO.barcode, by_marketplace=True)
    try:
        client.post(f"/stock/{channel_id}/run", data={"action": "diff"})
        text = page_text(client.get(f"/stock/{channel_id}"))
        assert "Publicaciones que no se actualizan" in text and "pausada por el marketplace" in text
    finally:
        for listing in ui_sandbox.ml_state.stock_listings.listings:
            listing.status, listing.sub_status = "active", ()


def test_another_accounts_channel_is_not_found(ui_ctx, client):
    assert client.get("/stock/999999").status_code == 404
