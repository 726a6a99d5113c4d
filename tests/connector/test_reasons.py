"""Reasons kept as a template and parameters: the same stored reason reads in each reader's language."""

from connector.reasons import JOIN, Reason, code_columns, joined, reason, restored, retrying, shown

ENGLISH = {
    "El SKU «%(sku)s» corresponde a «%(item)s», que está inactivo en el ERP.":
        "SKU “%(sku)s” belongs to “%(item)s”, which is inactive in the ERP.",
    "%(cause)s Se reintentará automáticamente.": "%(cause)s It will be retried automatically.",
    "La cuenta no tiene un ERP conectado.": "The account has no ERP connected.",
}


def english(msgid: str) -> str:
    return ENGLISH.get(msgid, msgid)


def test_a_reason_is_its_spanish_sentence_and_keeps_its_template():
    said = reason("El SKU «%(sku)s» corresponde a «%(item)s», que está inactivo en el ERP.", sku="V-1", item="Vela")
    assert said == "El SKU «V-1» corresponde a «Vela», que está inactivo en el ERP."
    assert isinstance(said, str) and f"{said}" == str(said)
    msgid, params = code_columns(said)
    assert msgid.startswith("El SKU «%(sku)s»") and params == {"sku": "V-1", "item": "Vela"}
    assert shown(str(said), {"msgid": msgid, "params": params}, english) == \
        "SKU “V-1” belongs to “Vela”, which is inactive in the ERP."


def test_nested_and_joined_reasons_are_translated_piece_by_piece():
    said = retrying(reason("La cuenta no tiene un ERP conectado."))
    assert said == "La cuenta no tiene un ERP conectado. Se reintentará automáticamente."
    msgid, params = code_columns(said)
    assert shown(str(said), {"msgid": msgid, "params": params}, english) == \
        "The account has no ERP connected. It will be retried automatically."
    both = joined([reason("La cuenta no tiene un ERP conectado."), "Texto libre."])
    msgid, params = code_columns(both)
    assert msgid == JOIN and str(both) == "La cuenta no tiene un ERP conectado. Texto libre."
    assert shown(str(both), {"msgid": msgid, "params": params}, english) == "The account has no ERP connected. Texto libre."
    assert joined(["solo uno"]) == "solo uno"


def test_a_stored_reason_comes_back_with_its_code():
    said = retrying(reason("La cuenta no tiene un ERP conectado."))
    again = restored(str(said), *code_columns(said))
    assert again == said and code_columns(again) == code_columns(said)
    assert restored("Texto de antes.", None, None) == "Texto de antes." and restored(None, None, None) == ""


def test_plain_text_and_old_rows_show_as_they_are():
    assert code_columns("Un texto de antes.") == (None, None)
    assert shown("Un texto de antes.", None, english) == "Un texto de antes."
    assert shown("Texto guardado.", {"nonsense": 1}, english) == "Texto guardado."


def test_a_translation_that_does_not_fit_its_parameters_shows_the_spanish():
    said = Reason("Factura %(number)s creada.", {"number": "F-1"})
    assert said.text(lambda m: "Invoice %(numero)s created.") == "Factura F-1 creada."


def test_the_core_does_not_import_flask():
    import subprocess
    import sys

    code = ("import sys, connector.reasons, connector.states, connector.pipeline; "
            "print('flask' in sys.modules or 'flask_babel' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_cli_shows_reasons_in_spanish_unless_asked(ctx, run_cli):
    """``orders show`` prints the stored Spanish text; ``--lang en`` renders the stored code through the
    English catalog (read without Flask)."""
    import json

    from connector.catalogs import gettext_for, languages
    from connector.models import Account, ChannelConnection, Order
    from connector.states import OrderState, transition

    assert "en" in languages() and gettext_for("en")("La cuenta no tiene un ERP conectado.") == \
        "The account has no ERP connected."
    with ctx.db.transaction() as session:
        account = Account(name="Tienda de razones")
        session.add(account)
        session.flush()
        connection = ChannelConnection(account_id=account.id, kind="mercadolibre", name="ML", credentials_encrypted="x")
        session.add(connection)
        session.flush()
        order = Order(account_id=account.id, channel_connection_id=connection.id, external_id="77")
        session.add(order)
        session.flush()
        transition(session, order, OrderState.ERROR, reason("La cuenta no tiene un ERP conectado."))
        order_id = order.id
    base = ["orders", "show", str(order_id), "--account", "Tienda de razones", "--json"]
    code, out, _ = run_cli(*base)
    assert code == 0
    spanish = json.loads(out)
    code, out, _ = run_cli(*base, "--lang", "en")
    assert code == 0
    english = json.loads(out)
    assert spanish["reason"] == "La cuenta no tiene un ERP conectado."
    assert english["reason"] == "The account has no ERP connected."
    assert english["activity"][-1]["message"] == "The account has no ERP connected."
