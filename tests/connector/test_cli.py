"""The command line in-process, on both databases: one clear line and exit 2 on refusals, no
traceback on odd input, and the maintenance commands (keys, prune)."""

from __future__ import annotations

import pytest

# -- one store, one account ----------------------------------------------------------------------


def test_connecting_a_store_of_another_account_is_one_line_and_exit_2(ctx, sandbox, run_cli):
    from sandbox import server as sandbox_server
    from tests.connector.test_services import channel_credentials

    run_cli("account", "create", "Tienda A")
    run_cli("account", "create", "Tienda B")
    for account in ("Tienda A", "Tienda B"):
        code, out, err = run_cli("erp", "connect", "alegra", "--account", account, "--email",
                                 sandbox_server.ALEGRA_EMAIL, "--token", sandbox_server.ALEGRA_TOKEN,
                                 "--base-url", sandbox.alegra_url)
        assert code == 0
    assert "ya está conectada en otra cuenta" in out  # the second account's ERP: a warning, still connected
    results = []
    for account in ("Tienda A", "Tienda B"):
        credentials, url = channel_credentials("shopify", sandbox)
        results.append(run_cli("channel", "connect", "shopify", "--account", account, "--shop", credentials["shop"],
                               "--access-token", credentials["access_token"], "--base-url", url))
    assert results[0][0] == 0
    code, out, err = results[1]
    assert code == 2 and out == ""
    assert err.startswith("error: Esta tienda ya está conectada en otra cuenta") and err.count("\n") == 1


def test_prune_says_what_it_forgot(ctx, run_cli):
    from tests.connector.test_housekeeping import _seed

    _seed(ctx)
    code, out, _ = run_cli("prune")
    assert code == 0 and "1 notificaciones" in out and "2 autorizaciones" in out
    code, out, _ = run_cli("prune", "--json")
    assert code == 0 and '"webhook_deliveries": 0' in out


# -- keys ----------------------------------------------------------------------------------------


def test_keys_check_and_rotate_name_keys_by_position_and_fingerprint_only(ctx, run_cli):
    from connector.crypto import CredentialVault
    from tests.connector.test_key_rotation import NEW, OLD, _store_under

    _store_under(ctx, OLD)
    ctx.vault = CredentialVault([NEW, OLD])
    code, out, _ = run_cli("keys", "check")
    assert code == 0
    assert f"llave 1 (huella {ctx.vault.fingerprints[0]}" in out and "0 valores" in out
    assert f"llave 2 (huella {ctx.vault.fingerprints[1]}" in out and "3 valores" in out
    code, out, _ = run_cli("keys", "rotate")
    assert code == 0 and "primera llave: 3" in out
    code, out, _ = run_cli("keys", "check", "--json")
    assert code == 0 and '"rows": 3' in out
    for output in (out,):
        assert NEW not in output and OLD not in output


# -- odd input -----------------------------------------------------------------------------------

HUGE = "99999999999999999999"


@pytest.mark.parametrize(("argv", "words"), [
    (("orders", "show", HUGE), "No existe la orden"),
    (("invoice", HUGE), "No existe la orden"),
    (("orders", "show", "1", "--account", HUGE), "No existe la cuenta"),
    (("reconcile", "--from", "0001-01-01", "--to", "9999-12-31"), "366 días"),
    (("reconcile", "--from", "2026-11-30", "--to", "2026-11-01"), "anterior"),
    (("reconcile", "--from", "2026-02-30"), "AAAA-MM-DD"),
])
def test_odd_input_is_one_line_and_exit_2_never_a_traceback(ctx, run_cli, argv, words):
    run_cli("account", "create", "Tienda")
    code, out, err = run_cli(*argv)
    assert code == 2 and words in err and err.count("\n") == 1, err


def test_a_huge_limit_lists_what_there_is(ctx, run_cli):
    run_cli("account", "create", "Tienda")
    code, out, err = run_cli("orders", "list", "--limit", HUGE)
    assert code == 0 and "(vacío)" in out


def test_an_unexpected_error_is_one_line_not_a_traceback(ctx, run_cli, monkeypatch):
    import connector.services

    run_cli("account", "create", "Tienda")
    monkeypatch.setattr(connector.services, "list_mismatches", lambda *a, **k: 1 / 0)
    code, out, err = run_cli("mismatches")
    assert code == 1 and err.startswith("error:") and err.count("\n") == 1


def test_output_cut_short_by_a_closed_pipe_is_not_a_traceback(tmp_path, sqlite_url):
    """``connector mismatches | head``: the reader goes away and the CLI stops quietly."""
    import os
    import subprocess
    import sys

    from cryptography.fernet import Fernet

    env = {**os.environ, "DATABASE_URL": sqlite_url, "CONNECTOR_DATA_DIR": str(tmp_path),
           "CONNECTOR_SECRET_KEYS": Fernet.generate_key().decode()}
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "-m", "connector", "account", "create", "Tienda"], env=env, check=True,
                   capture_output=True, timeout=120)
    for argv in (["mismatches"], ["account", "list"], ["--help"]):
        process = subprocess.Popen([sys.executable, "-m", "connector", *argv], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        process.stdout.close()  # like `head` exiting before the CLI writes
        _, err = process.communicate(timeout=120)
        assert b"Traceback" not in err and b"BrokenPipeError" not in err, err.decode()
