"""The panel's gettext catalogs, read without Flask: for the CLI (``orders show --lang en``) and for the
panel itself (admin_ui/i18n.py gives them to Flask-Babel).

The catalogs are the ``.po`` files under ``admin_ui/translations/`` (msgids: the Spanish text). They
are compiled in memory once per process (and again when a file changes): the ``.po`` is the only
source of truth — no binary in git that can fall behind it or conflict at a merge, and no build step
between a fresh clone (``pip install -e .``) and translated pages.
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

DOMAIN = "messages"
SOURCE_LANGUAGE = "es"  # the msgids' language: it has no catalog


def catalog_dir() -> Path:
    """``admin_ui/translations`` wherever the package is installed (found without importing it: the
    panel's package imports Flask)."""
    spec = importlib.util.find_spec("admin_ui")
    return Path(next(iter(spec.submodule_search_locations))) / "translations"


@lru_cache(maxsize=8)
def _compiled(po_path: str, mtime: float):
    # Babel is imported here, not at the top: every CLI command imports this module for its --lang choices.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import Translations

    with open(po_path, "rb") as handle:
        catalog = read_po(handle)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)  # fuzzy entries left out, as pybabel compile does
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


def translations_for(locale: str):
    """The catalog of ``locale`` (a Babel ``Translations``); Spanish (and a language without a catalog)
    reads the msgids as they are."""
    po = catalog_dir() / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if locale == SOURCE_LANGUAGE or not po.exists():
        from babel.support import NullTranslations

        return NullTranslations()
    return _compiled(str(po), po.stat().st_mtime)


def gettext_for(locale: str) -> Callable[[str], str]:
    return translations_for(locale).gettext


def languages() -> list[str]:
    """The languages a reader may ask for: Spanish and each catalog's."""
    found = sorted(p.name for p in catalog_dir().iterdir() if (p / "LC_MESSAGES" / f"{DOMAIN}.po").exists())
    return [SOURCE_LANGUAGE, *found]
