"""The declaration checker and the CLI flags built from declarations: a declaration that lies is caught,
and ``erp connect`` names no ERP itself."""

from __future__ import annotations

import argparse
from dataclasses import replace

import pytest

from connector.cli_credentials import add_credential_flags, credentials_from_args
from connector.errors import ConnectorError
from erp.base import FinalConsumer, declaration_problems
from erp.registry import ERPS, erp_class
from integrations.declarations import CredentialField


def _broken(profile_changes=None, **class_changes):
    alegra = erp_class("alegra")
    colombia = alegra.fiscal_profile("CO")
    broken_profile = replace(colombia, **(profile_changes or {}))

    class Broken(alegra):
        @classmethod
        def fiscal_profile(cls, country):
            return broken_profile

    for name, value in class_changes.items():
        setattr(Broken, name, value)
    return Broken


@pytest.mark.parametrize(("profile_changes", "class_changes", "problem"), [
    ({"defaults": {"identification_type": "XX"}}, {}, "default identification_type=XX"),
    ({"final_consumer": FinalConsumer("ZZ", "1")}, {}, "final consumer's document type"),
    ({"document_types": {"DNI": "NOPE"}}, {}, "maps to unknown NOPE"),
    ({"required_address_fields": ("corregimiento",)}, {}, "not a contact field"),
    ({"time_zone": "Mars/Olympus"}, {}, "unknown time zone"),
    ({"regimes": ()}, {}, "regime list is empty"),
    ({}, {"setup_help": ""}, "setup_help is empty"),
    ({}, {"credential_fields": (CredentialField("email", "Correo"), CredentialField("email", "Otra vez"))},
     "repeat"),
])
def test_a_declaration_that_lies_is_caught(profile_changes, class_changes, problem):
    problems = declaration_problems(_broken(profile_changes, **class_changes))
    assert any(problem in p for p in problems), problems


def test_every_registered_erp_declares_cleanly():
    for kind in ERPS:
        assert declaration_problems(erp_class(kind)) == []


def _parser():
    parser = argparse.ArgumentParser()
    add_credential_flags(parser, ERPS, erp_class)
    return parser


def test_erp_connect_flags_come_from_the_declaration_and_keep_the_old_names():
    parser = _parser()
    flags = {a.option_strings[0] for a in parser._actions if a.option_strings and a.dest.startswith("cred_")}
    declared = {"--" + f.name.replace("_", "-") for kind in ERPS for f in erp_class(kind).credential_fields}
    assert flags == declared and {"--email", "--token", "--country"} <= flags


def test_a_secret_from_the_environment_a_declared_default_and_a_checked_choice(monkeypatch):
    cls = erp_class("alegra")
    monkeypatch.setenv("ALEGRA_TOKEN", "t-123")
    args = _parser().parse_args(["--email", "a@b.co"])
    assert credentials_from_args(args, "alegra", cls, ERPS, erp_class) == {"email": "a@b.co", "token": "t-123",
                                                                           "country": "CO"}
    args = _parser().parse_args(["--email", "a@b.co", "--country", "mx"])
    assert credentials_from_args(args, "alegra", cls, ERPS, erp_class)["country"] == "MX"
    args = _parser().parse_args(["--email", "a@b.co", "--country", "Narnia"])
    with pytest.raises(ConnectorError, match="no es una opción"):
        credentials_from_args(args, "alegra", cls, ERPS, erp_class)
