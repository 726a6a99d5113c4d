"""The dashboard page (server-drawn SVG charts) and the CSV downloads, including bad input."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from connector import services
from connector.dashboard import build_dashboard
from tests.admin_ui.conftest import page_text


def test_the_dashboard_draws_what_was_invoiced_per_channel_and_the_queue(client, ui_ctx, synced_seller):
    response = client.get("/dashboard")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    text = page_text(response)
    assert "Tablero" in text and "Facturado por día" in text and "Órdenes por estado" in text
    charts = re.findall(r'<svg class="chart" viewBox="0 0 360 \d+" width="100%"', html)
    assert len(charts) == 3  # per day, per week, by state; phone-sized viewBox, scaled to the card
    assert html.count("<script") == 1 and 'src="/static/app.js"' in html  # only the panel's own script
    board = build_dashboard(ui_ctx, synced_seller, tz=ZoneInfo("America/Bogota"))  # the sandbox account is Colombian
    invoiced = services.list_orders(ui_ctx, synced_seller, states=["invoiced", "rejected"], limit=1000)
    assert sum(board.per_week.totals) == sum(o.invoice.total for o in invoiced)  # all invoiced this week or so
    [channel] = services.list_channel_connections(ui_ctx, synced_seller)
    assert channel.name in text  # the legend names the connection
    queue = services.error_queue(ui_ctx, synced_seller)
    assert board.error_queue.count == len(queue) > 0
    assert f"{len(queue)} En la cola de errores" in text and "la más antigua espera desde" in text
    assert "Ventana del ERP usada ahora" in text


def test_the_dashboard_in_english_and_on_an_empty_account(bare_client):
    response = bare_client.get("/dashboard")
    assert response.status_code == 200
    assert "Todavía no hay facturas en este período." in page_text(response)
    assert "Sin ERP conectado" in page_text(response)


def test_csv_download_of_invoices_for_a_range(client, ui_ctx, synced_seller):
    today = date.today()
    response = client.get(f"/dashboard/export?kind=invoices&from={(today - timedelta(days=3)).isoformat()}"
                          f"&to={(today + timedelta(days=1)).isoformat()}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    invoiced = services.list_orders(ui_ctx, synced_seller, states=["invoiced", "rejected"], limit=1000)
    assert rows[0][1] == "Número" and len(rows) - 1 == len(invoiced)
    assert sum(Decimal(r[8]) for r in rows[1:]) == sum(o.invoice.total for o in invoiced)


def test_csv_download_with_bad_input_explains_and_never_fails(client, synced_seller):
    for query, message in [
        ("kind=invoices&from=2026-12-01&to=2026-11-01", "es posterior a la final"),
        ("kind=invoices&from=ayer&to=2026-11-01", "no es válida"),
        ("kind=invoices&from=99999-01-01&to=2026-11-01", "no es válida"),
        ("kind=invoices", "Falta la fecha inicial"),
        ("kind=nada&from=2026-11-01&to=2026-11-02", "No hay exportación"),
        ("from=2026-11-01&to=2026-11-02", "No hay exportación"),
    ]:
        response = client.get(f"/dashboard/export?{query}")
        assert response.status_code == 302, query
        assert message in page_text(client.get(response.headers["Location"])), query
