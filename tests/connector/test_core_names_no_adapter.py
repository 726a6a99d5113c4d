"""The core (connector/, mapping/, admin_ui/) names no channel, no ERP and no country in its code or in a
text a person reads: what differs per channel, ERP or country comes from the adapters' declarations.
Comments and docstrings may explain with an example; code, strings and templates may not."""

from __future__ import annotations

import ast
import re
import unicodedata
from pathlib import Path

from channels.registry import CHANNELS, channel_class
from erp.registry import ERPS, erp_class

ROOT = Path(__file__).resolve().parents[2]
CORE = ("connector", "mapping", "admin_ui")


def _folded(text: str) -> str:
    """Lower case, no accents, no spaces: "Mercado Libre" and "mercadolibre", "Perú" and "peru" are one."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c) and not c.isspace())


def _countries(cls) -> set[str]:
    field = next((f for f in cls.credential_fields if f.name == cls.country_credential), None)
    return {cls.fiscal_profile(code).country_name for code in (field.choice_codes() if field else (None,))}


def adapter_names() -> set[str]:
    """Every registered channel's and ERP's key and display name, and every country an ERP serves."""
    names = set(CHANNELS) | set(ERPS)
    names |= {channel_class(kind).display_name for kind in CHANNELS}
    for kind in ERPS:
        names |= {erp_class(kind).display_name, *_countries(erp_class(kind))}
    return {_folded(name) for name in names}


def _code_texts(source: str):
    """(line, text) of every identifier and string of a module, docstrings left out (comments are not
    in the tree)."""
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value
        elif isinstance(node, ast.Name):
            yield node.lineno, node.id
        elif isinstance(node, ast.Attribute):
            yield node.lineno, node.attr
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node.lineno, node.name
        elif isinstance(node, ast.alias):
            yield node.lineno, node.name


def _template_texts(source: str):
    """(line, text) of each line of a template, its ``{# comments #}`` left out."""
    without_comments = re.sub(r"\{#.*?#\}", lambda m: "\n" * m.group().count("\n"), source, flags=re.S)
    yield from enumerate(without_comments.splitlines(), start=1)


def core_mentions() -> list[str]:
    names = adapter_names()
    found = []
    for package in CORE:
        for path in sorted((ROOT / package).rglob("*")):
            if path.suffix == ".py":
                texts = _code_texts(path.read_text(encoding="utf-8"))
            elif path.suffix == ".html":
                texts = _template_texts(path.read_text(encoding="utf-8"))
            else:
                continue
            for line, text in texts:
                hits = sorted(name for name in names if name in _folded(text))
                if hits:
                    found.append(f"{path.relative_to(ROOT)}:{line}: {', '.join(hits)} in {text.strip()[:80]!r}")
    return found


def test_the_core_names_no_channel_no_erp_and_no_country():
    assert core_mentions() == []


def test_the_check_sees_a_name_in_code_and_in_a_template_but_not_in_a_docstring():
    names = adapter_names()
    assert {"mercadolibre", "alegra", "colombia", "peru"} <= names
    module = '"""Alegra wants prices before tax."""\nKIND = "shopify"  # Shopify too\n'
    assert [text for _line, text in _code_texts(module) if any(n in _folded(text) for n in names)] == ["shopify"]
    template = '{# Mercado Libre #}\n<p>{{ _("Conecta Mercado Libre") }}</p>'
    assert [line for line, text in _template_texts(template) if "mercadolibre" in _folded(text)] == [2]
