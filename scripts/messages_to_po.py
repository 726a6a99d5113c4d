"""Fold a hand-written English dictionary (the old ``admin_ui/messages_en.py``, keyed by the Spanish text)
into the gettext catalog ``admin_ui/translations/en/LC_MESSAGES/messages.po``.

The panel moved to Flask-Babel; branches written before that still add their English to
``messages_en.py``. At merge, run this on each such file, then ``make translations`` (which extracts
the code's messages and keeps the catalog complete) and delete the dictionary file::

    python scripts/messages_to_po.py path/to/messages_en.py [more files ...]

An entry already in the catalog with a different English is replaced by the dictionary's (the newer
branch wins) and printed, so a person can check it. A Spanish text with no ``%`` placeholders keeps
no ``python-format`` flag. A file may also hold ``PLURALS = {singular msgid: (english singular, english
plural)}`` for messages written with ``ngettext`` (the catalog entry must exist: ``make translations``
adds it from the code first).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PO = ROOT / "admin_ui" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def load_dictionary(path: Path) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    spec = importlib.util.spec_from_file_location(f"_messages_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(getattr(module, "MESSAGES", {})), dict(getattr(module, "PLURALS", {}))


def fold_plurals(catalog: Catalog, plurals: dict[str, tuple[str, str]], out=sys.stdout) -> int:
    """Fill the English of plural entries already in ``catalog`` (keyed by their singular msgid)."""
    filled = 0
    by_singular = {m.id[0]: m for m in catalog if isinstance(m.id, tuple)}
    for singular, english in plurals.items():
        entry = by_singular.get(singular)
        if entry is None:
            print(f"no plural entry in the catalog (run `make translations` first): {singular!r}", file=out)
            continue
        entry.string = tuple(english)
        entry.flags.discard("fuzzy")
        filled += 1
    return filled


def load_catalog(po: Path) -> Catalog:
    if po.exists():
        with po.open("rb") as handle:
            return read_po(handle, locale="en")
    return Catalog(locale="en", project="marketplace-erp-connector", fuzzy=False)


def fold(catalog: Catalog, messages: dict[str, str], out=sys.stdout) -> tuple[int, int]:
    """Add each (Spanish → English) pair to ``catalog``; returns (added, changed)."""
    added = changed = 0
    for spanish, english in messages.items():
        if sorted(PLACEHOLDER.findall(spanish)) != sorted(PLACEHOLDER.findall(english)):
            print(f"placeholders differ, skipped: {spanish!r} → {english!r}", file=out)
            continue
        existing = catalog.get(spanish)
        if existing is not None and isinstance(existing.id, tuple):
            continue  # a plural entry: written in the .po by hand
        flags = {"python-format"} if "%" in spanish else set()
        if existing is None:
            catalog.add(spanish, english, flags=flags)
            added += 1
        elif existing.string != english:
            if existing.string:
                print(f"changed: {spanish!r}: {existing.string!r} → {english!r}", file=out)
            existing.string = english
            existing.flags.discard("fuzzy")
            changed += 1
    return added, changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dictionaries", nargs="+", type=Path, help="messages_en.py files (MESSAGES = {...})")
    parser.add_argument("--po", type=Path, default=DEFAULT_PO, help="the English catalog to update")
    args = parser.parse_args(argv)
    catalog = load_catalog(args.po)
    for path in args.dictionaries:
        messages, plurals = load_dictionary(path)
        added, changed = fold(catalog, messages)
        filled = fold_plurals(catalog, plurals)
        print(f"{path}: {added} added, {changed} changed, {filled} plural entries filled")
    args.po.parent.mkdir(parents=True, exist_ok=True)
    with args.po.open("wb") as handle:
        write_po(handle, catalog, width=110, sort_output=False, omit_header=False)
    print(f"wrote {args.po} ({len(catalog)} messages)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
