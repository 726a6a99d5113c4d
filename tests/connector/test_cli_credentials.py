"""The credential flags of ``connector channel connect``: a secret left out is read from the environment,
under ``<KIND>_<FIELD>`` or an older name the adapter's field declares."""

from __future__ import annotations

import argparse

from channels.registry import CHANNELS, channel_class
from connector.cli_credentials import add_credential_flags, credentials_from_args


def _parsed(*argv: str) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = argparse.ArgumentParser()
    add_credential_flags(parser, CHANNELS, channel_class)
    return parser, parser.parse_args(list(argv))


def test_a_secret_comes_from_its_kind_variable_or_from_a_declared_older_name(monkeypatch):
    cls = channel_class("mercadolibre")
    for name in ("MERCADOLIBRE_CLIENT_SECRET", "MERCADOLIBRE_REFRESH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ML_CLIENT_SECRET", "secreto-viejo")
    monkeypatch.setenv("ML_REFRESH_TOKEN", "TG-viejo")
    parser, args = _parsed("--client-id", "5501")
    credentials = credentials_from_args(args, "mercadolibre", cls, CHANNELS, channel_class)
    assert credentials["client_secret"] == "secreto-viejo" and credentials["refresh_token"] == "TG-viejo"

    monkeypatch.setenv("MERCADOLIBRE_CLIENT_SECRET", "secreto-nuevo")  # the kind's own name comes first
    credentials = credentials_from_args(args, "mercadolibre", cls, CHANNELS, channel_class)
    assert credentials["client_secret"] == "secreto-nuevo"
    flag_help = " ".join(parser.format_help().split())
    assert "MERCADOLIBRE_CLIENT_SECRET, ML_CLIENT_SECRET" in flag_help
