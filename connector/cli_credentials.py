"""The credential flags of ``connector channel connect`` and ``connector erp connect``, built from what
each registered adapter declares (its ``credential_fields``): the CLI names no channel or ERP.

A flag is ``--<field name>`` (underscores become dashes). Flags whose names coincide across adapters are
one flag (its help lists who uses it). A secret left out is read from ``<KIND>_<FIELD>`` in the
environment (kind ``acme``, field ``token``: ``ACME_TOKEN``), then from the older names the field
declares (``CredentialField.env_aliases``).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from typing import Any

from connector.errors import ConnectorError
from integrations.declarations import CredentialField

LoadAdapter = Callable[[str], Any]


def credential_flag(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def credential_envs(kind: str, field: CredentialField) -> tuple[str, ...]:
    """The environment variables a secret field is read from, in order."""
    return (f"{kind}_{field.name}".upper(), *field.env_aliases)


def all_credential_fields(kinds: Mapping[str, str], load: LoadAdapter) -> dict[str, list[tuple[str, CredentialField]]]:
    """Every credential field of every registered adapter: name -> [(kind, field), ...]."""
    fields: dict[str, list[tuple[str, CredentialField]]] = {}
    for kind in sorted(kinds):
        for field in load(kind).credential_fields:
            fields.setdefault(field.name, []).append((kind, field))
    return fields


def add_credential_flags(parser: argparse.ArgumentParser, kinds: Mapping[str, str], load: LoadAdapter) -> None:
    """One optional flag per credential field name (required-ness is checked per adapter on use)."""
    for name, owners in all_credential_fields(kinds, load).items():
        who = ", ".join(kind for kind, _ in owners)
        labels = "; ".join(dict.fromkeys(field.label for _, field in owners))
        envs = ", ".join(env for kind, field in owners if field.secret for env in credential_envs(kind, field))
        options = ", ".join(dict.fromkeys(code for _, field in owners for code in field.choice_codes()))
        defaults = ", ".join(dict.fromkeys(f.default for _, f in owners if f.default))
        text = f"{labels} ({who})"
        text += f"; uno de: {options}" if options else ""
        text += f"; por defecto {defaults}" if defaults else ""
        text += f"; o variable {envs}" if envs else ""
        parser.add_argument(credential_flag(name), dest=f"cred_{name}", metavar="VALOR", help=text)


def credentials_from_args(args: argparse.Namespace, kind: str, cls: Any, kinds: Mapping[str, str],
                          load: LoadAdapter) -> dict[str, Any]:
    """The credentials of adapter ``cls`` from the parsed flags: a flag of another adapter is refused,
    a secret may come from the environment, a choice is checked against the declared ones, and a
    declared default fills what was not given."""
    own = {field.name for field in cls.credential_fields}
    foreign = sorted(credential_flag(name) for name in all_credential_fields(kinds, load)
                     if name not in own and getattr(args, f"cred_{name}", None) not in (None, ""))
    if foreign:
        raise ConnectorError(f"{', '.join(foreign)} no aplica a {cls.display_name}.")
    credentials: dict[str, Any] = {}
    for field in cls.credential_fields:
        value = getattr(args, f"cred_{field.name}", None)
        if value in (None, "") and field.secret:
            value = next((os.environ[env] for env in credential_envs(kind, field) if os.environ.get(env)), None)
        if value in (None, ""):
            value = field.default
        if value in (None, ""):
            continue
        if field.choices:
            value = _declared_choice(field, str(value))
        credentials[field.name] = value
    return credentials


def _declared_choice(field: CredentialField, value: str) -> str:
    by_code = {code.upper(): code for code in field.choice_codes()}
    code = by_code.get(value.strip().upper())
    if code is None:
        raise ConnectorError(f"{field.label}: «{value.strip()[:40]}» no es una opción; "
                             f"usa una de: {', '.join(field.choice_codes())}.")
    return code
