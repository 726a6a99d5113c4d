"""The settings forms list every problem at once, next to its field, in the seller's words."""

import re

from connector import services
from tests.admin_ui.conftest import page_text
from tests.admin_ui.test_settings_views import _form


def test_every_problem_at_once_next_to_its_field_and_nothing_saved(client, ui_ctx, ui_seller):
    before = services.show_settings(ui_ctx, ui_seller)
    data = _form(client, "/settings/configuration")
    data.update(default_email=[""], shipping_item_id=[""], due_days=["-2"], observations=["Venta {canal}"])
    response = client.post("/settings/configuration", data=data)
    assert response.status_code == 400
    html, text = response.get_data(as_text=True), page_text(response)
    assert "No se guardó: hay 4 problemas que corregir." in text
    for field, words in (("default_email", "Expedir"), ("shipping_item_id", "Facturar el costo de envío"),
                         ("due_days", "debe ser 0 o más"), ("observations", "{canal}")):
        assert re.search(rf'<p class="field-error" id="err-{field}">[^<]*{re.escape(words)}', html), field
    for internal in ("shipping_item_id:", "due_days:", "Input should", "Value error"):
        assert internal not in text
    assert services.show_settings(ui_ctx, ui_seller) == before
    assert 'value="Venta {canal}"' in html  # what the seller typed stays on the page


def test_a_problem_of_the_other_page_links_to_its_field(client, ui_ctx, ui_seller):
    services.update_settings(ui_ctx, ui_seller, ["stamp=false"])
    data = _form(client, "/settings/configuration")
    data.update(default_email=[""])
    assert client.post("/settings/configuration", data=data).status_code == 302
    form = _form(client, "/settings/auto-invoicing")
    form["stamp"] = ["true"]
    response = client.post("/settings/auto-invoicing", data=form)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'href="/settings/configuration#f-default_email"' in html and "Email por defecto" in page_text(response)


def test_english_panel_shows_the_problems_in_english(client, ui_ctx, ui_seller):
    client.post("/language", data={"locale": "en", "next": "/settings/configuration"})
    data = _form(client, "/settings/configuration")
    data.update(due_days=["-2"])
    text = page_text(client.post("/settings/configuration", data=data))
    assert "must be 0 or more" in text and "Not saved: there is one problem to fix." in text
