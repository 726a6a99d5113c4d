"""What ``make translations`` extracts, catalog by catalog (``python -m admin_ui.i18n_extract``).

::

    the panel: babel.cfg over the repository ──────────────────► admin_ui/translations/messages.pot
        admin_ui, connector, mapping: _(), ngettext(), reason(), N_(), the templates, the core's
        runtime labels (admin_ui/i18n_runtime.py)
    each registered adapter's package (erp/<name>, channels/<name>) ──► <package>/translations/messages.pot
        its own _(), reason(), N_() and the texts it declares (declared_messages), less the panel's

It writes each ``messages.pot`` (and, for an adapter without one, a catalog per language of the
panel's, as ``pybabel init`` would) and prints each ``translations`` folder; the Makefile runs
``pybabel update`` and ``pybabel compile`` on each. :mod:`connector.catalogs` merges them at run time.

A message the core uses is in the panel's catalog only. Two adapters may each keep the same message
(a country's identification types, declared by two ERPs): an adapter's catalog is complete on its
own, so removing one adapter never leaves another untranslated.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po
from babel.util import LOCALTZ

from admin_ui.i18n_runtime import declared_messages
from connector.catalogs import DOMAIN, SOURCE_LANGUAGE, adapter_packages, catalog_dir

ROOT = Path(__file__).resolve().parent.parent  # the repository: babel.cfg's paths start here
PROJECT = "marketplace-erp-connector"
KEYWORDS = {**DEFAULT_KEYWORDS, "reason": None, "N_": None}  # pybabel extract -k reason -k N_
ADAPTER_METHODS = [("**.py", "python")]
WIDTH = 110  # as the Makefile's pybabel update -w


def templates() -> dict[Path, Catalog]:
    """Each catalog's messages, by its ``translations`` folder: the panel's first, then each registered
    adapter package's (an adapter with no message of its own has none)."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options = parse_mapping_cfg(cfg)
    panel = _template(ROOT, method_map, options)
    found = {catalog_dir(): panel}
    for package, folder in adapter_packages().items():
        template = _template(folder, ADAPTER_METHODS, {})
        for message in declared_messages(package):
            template.add(message, None, [(os.path.relpath(folder, ROOT), 0)], auto_comments=["declared by the adapter"])
        for message in list(template):
            if message.id and panel.get(message.id, message.context) is not None:
                template.delete(message.id, message.context)
        if any(message.id for message in template):
            found[folder / "translations"] = template
    return found


def _template(folder: Path, method_map, options) -> Catalog:
    """What ``pybabel extract`` finds under ``folder``, with each location written from the repository."""
    base = os.path.relpath(folder, ROOT)
    template = Catalog(project=PROJECT)
    for filename, lineno, message, comments, context in extract_from_dir(str(folder), method_map, options,
                                                                          keywords=KEYWORDS):
        where = os.path.normpath(os.path.join(base, filename))
        template.add(message, None, [(where, lineno)], auto_comments=comments, context=context)
    return template


def write(found: dict[Path, Catalog]) -> None:
    """Each template as ``messages.pot`` (sorted, no locations: a moved line changes no catalog), and a
    new catalog for each of the panel's languages an adapter's folder lacks."""
    languages = [p.name for p in catalog_dir().iterdir() if (p / "LC_MESSAGES" / f"{DOMAIN}.po").exists()]
    for folder, template in found.items():
        folder.mkdir(exist_ok=True)
        pot = folder / f"{DOMAIN}.pot"
        with pot.open("wb") as handle:
            write_po(handle, template, width=WIDTH, no_location=True, sort_output=True)
        for language in languages:
            po = folder / language / "LC_MESSAGES" / f"{DOMAIN}.po"
            if language != SOURCE_LANGUAGE and not po.exists():
                _init_catalog(pot, po, language)


def _init_catalog(pot: Path, po: Path, language: str) -> None:
    with pot.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    catalog.locale = Locale.parse(language)
    catalog.revision_date = datetime.now(LOCALTZ)
    catalog.fuzzy = False
    po.parent.mkdir(parents=True, exist_ok=True)
    with po.open("wb") as handle:
        write_po(handle, catalog, width=WIDTH)


def main() -> int:
    found = templates()
    write(found)
    for folder in found:
        print(os.path.relpath(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
