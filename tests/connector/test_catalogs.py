"""The gettext catalogs read without Flask: the panel's merged with each registered adapter package's,
found through the registries (connector/catalogs.py)."""

import os
import subprocess
import sys

from connector import catalogs
from erp.registry import ERPS

HEADER = 'msgid ""\nmsgstr ""\n"Language: en\\n"\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'


def write_po(path, english: str) -> None:
    path.write_text(f'{HEADER}msgid "Clave del ERP de prueba"\nmsgstr "{english}"\n', encoding="utf-8")


def test_a_registered_adapters_catalog_is_merged_with_the_panels(tmp_path, monkeypatch):
    package = tmp_path / "catalogtest_erp"
    (package / "translations" / "en" / "LC_MESSAGES").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    po = package / "translations" / "en" / "LC_MESSAGES" / "messages.po"
    write_po(po, "Test ERP key")
    monkeypatch.syspath_prepend(str(tmp_path))
    # Its adapter module does not exist: finding the catalog must not import it.
    monkeypatch.setitem(ERPS, "catalogtest", "catalogtest_erp.adapter:CatalogTestAdapter")

    said = catalogs.gettext_for("en")
    assert said("Clave del ERP de prueba") == "Test ERP key"
    assert said("La cuenta no tiene un ERP conectado.") == "The account has no ERP connected."  # the panel's
    assert catalogs.gettext_for("es")("Clave del ERP de prueba") == "Clave del ERP de prueba"

    write_po(po, "Test ERP secret")  # an edited catalog is read again: its mtime is in the cache key
    later = po.stat().st_mtime_ns + 5_000_000_000
    os.utime(po, ns=(later, later))
    assert catalogs.gettext_for("en")("Clave del ERP de prueba") == "Test ERP secret"

    (package / "translations" / "pt" / "LC_MESSAGES").mkdir(parents=True)
    write_po(package / "translations" / "pt" / "LC_MESSAGES" / "messages.po", "Chave do ERP de teste")
    assert "pt" in catalogs.languages() and catalogs.languages()[0] == "es"


def test_unregistered_adapters_catalogs_are_not_read(monkeypatch):
    monkeypatch.delitem(ERPS, "siigo")
    siigo_only = "Usuario de la API de Siigo"  # in Siigo's catalog only
    assert catalogs.gettext_for("en")(siigo_only) == siigo_only


def test_reading_the_catalogs_imports_no_adapter_and_no_flask():
    """Every CLI command asks for the languages: that must stay cheap."""
    code = ("import sys; from connector.catalogs import gettext_for, languages; languages(); "
            "gettext_for('en')('Órdenes'); "
            "print(sorted(m for m in sys.modules if m.startswith(('flask', 'admin_ui', 'erp.', 'channels.')) "
            "and m not in ('erp.registry', 'channels.registry')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
