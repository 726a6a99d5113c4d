"""The gettext catalogs, read without Flask: for the CLI (``orders show --lang en``) and for the panel
itself (admin_ui/i18n.py gives them to Flask-Babel).

A language's catalog is several ``.po`` files merged: the panel's (``admin_ui/translations/``: the
core's texts) and one per registered adapter package (``erp/<name>/translations/``,
``channels/<name>/translations/``: the texts the adapter declares or marks — its credential fields,
an ERP's country profiles). An adapter brings its own words, so the core's catalog names no ERP or
channel; the core finds the adapters' catalogs through the registries, never by name. The msgids are
the Spanish text.

They are compiled in memory once per process (and again when a file changes): the ``.po`` is the only
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


def _package_dir(package: str) -> Path:
    # find_spec imports the parent package only (``erp``, ``channels``: a docstring each), not the
    # adapter, and not the panel's package (which imports Flask).
    spec = importlib.util.find_spec(package)
    return Path(next(iter(spec.submodule_search_locations)))


def catalog_dir() -> Path:
    """The panel's catalogs: ``admin_ui/translations`` wherever the package is installed."""
    return _package_dir("admin_ui") / "translations"


def adapter_packages() -> dict[str, Path]:
    """Each registered channel's and ERP's package (``erp.<name>`` → its folder), in registry order."""
    from channels.registry import CHANNELS
    from connector.plugins import package_of
    from erp.registry import ERPS

    names = dict.fromkeys(package_of(target) for target in (*CHANNELS.values(), *ERPS.values()))
    return {name: _package_dir(name) for name in names}


def catalog_dirs() -> list[Path]:
    """Every ``translations`` folder, the panel's first; an adapter's may not exist (it has no texts)."""
    return [catalog_dir(), *(folder / "translations" for folder in adapter_packages().values())]


def _po_files(locale: str) -> tuple[Path, ...]:
    return tuple(po for folder in catalog_dirs() if (po := folder / locale / "LC_MESSAGES" / f"{DOMAIN}.po").exists())


@lru_cache(maxsize=8)
def _merged(files: tuple[tuple[str, float], ...]):
    """The ``(path, mtime)`` files compiled and merged into one ``Translations`` (a changed mtime is a new
    key, so an edited ``.po`` is read again)."""
    merged = _compiled(files[0][0])
    for path, _mtime in files[1:]:
        merged.merge(_compiled(path))  # same msgid in two files: the later wins (there should be none)
    return merged


def _compiled(po_path: str):
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
    """The catalog of ``locale`` (a Babel ``Translations``: the panel's and every adapter's merged);
    Spanish (and a language without a catalog) reads the msgids as they are."""
    files = () if locale == SOURCE_LANGUAGE else _po_files(locale)
    if not files:
        from babel.support import NullTranslations

        return NullTranslations()
    return _merged(tuple((str(po), po.stat().st_mtime) for po in files))


def gettext_for(locale: str) -> Callable[[str], str]:
    return translations_for(locale).gettext


def languages() -> list[str]:
    """The languages a reader may ask for: Spanish and each catalog's."""
    found = {p.name for folder in catalog_dirs() if folder.is_dir() for p in folder.iterdir()
             if (p / "LC_MESSAGES" / f"{DOMAIN}.po").exists()}
    return [SOURCE_LANGUAGE, *sorted(found)]
