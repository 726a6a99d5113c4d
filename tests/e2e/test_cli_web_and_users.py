"""``connector user create`` / ``user password`` and ``connector web``, run as a person runs them."""

import json
import os
import re
import subprocess
import sys

import httpx
import pytest
from cryptography.fernet import Fernet

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(tmp_path, sqlite_url):
    values = dict(os.environ)
    values.update({"DATABASE_URL": sqlite_url, "CONNECTOR_MODE": "sandbox", "CONNECTOR_DATA_DIR": str(tmp_path),
                   "CONNECTOR_SECRET_KEYS": Fernet.generate_key().decode()})
    values.pop("REDIS_URL", None)
    return values


def run(env, *args, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "connector", *args], env=env, capture_output=True, text=True,
                          input=stdin, timeout=60)


def test_user_create_from_a_flag_or_stdin_with_clear_errors(env):
    assert run(env, "account", "create", "Tienda Cafetera").returncode == 0
    made = run(env, "user", "create", "dueña@tiendacafetera.co", "--password", "cafe-de-origen-2026")
    assert made.returncode == 0 and "dueña@tiendacafetera.co" in made.stdout
    piped = run(env, "user", "create", "ventas@tiendacafetera.co", "--locale", "en", stdin="otra-clave-larga\n")
    assert piped.returncode == 0, piped.stderr
    short = run(env, "user", "create", "x@tiendacafetera.co", "--password", "corta")
    assert short.returncode == 2 and short.stderr.strip() == "error: La contraseña debe tener al menos 10 caracteres."
    again = run(env, "user", "create", "ventas@tiendacafetera.co", "--password", "otra-clave-larga")
    assert again.returncode == 2 and "Ya existe un usuario" in again.stderr
    changed = run(env, "user", "password", "ventas@tiendacafetera.co", stdin="la-clave-nueva-1\n")
    assert changed.returncode == 0 and "Contraseña actualizada" in changed.stdout
    assert "Traceback" not in made.stderr + piped.stderr + short.stderr + again.stderr


def test_web_serves_the_admin_ui(env):
    process = subprocess.Popen([sys.executable, "-m", "connector", "web", "--port", "0"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        assert httpx.get(f"{url}/healthz").json()["status"] == "ok"
        login = httpx.get(f"{url}/login")
        assert login.status_code == 200 and "Iniciar sesión" in login.text
    finally:
        process.terminate()
        process.wait(timeout=10)


def _start_web(env):
    process = subprocess.Popen([sys.executable, "-m", "connector", "web", "--port", "0"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+", line)
    if found is None:
        process.kill()
        raise AssertionError(f"no address in {line!r}: {process.communicate(timeout=10)}")
    return process, found.group(0)


@pytest.fixture
def production_env(env):
    return {**env, "CONNECTOR_MODE": "production", "CONNECTOR_WEB_SECRET": "s3creto-de-la-web-que-es-largo",
            "CONNECTOR_WEB_WORKERS": "2", "CONNECTOR_WEB_THREADS": "2", "CONNECTOR_LOG_FORMAT": "json",
            "CONNECTOR_LOG_LEVEL": "INFO"}


def test_production_web_is_served_by_gunicorn_and_stops_cleanly(production_env):
    process, url = _start_web(production_env)
    try:
        health = httpx.get(f"{url}/healthz")
        assert health.status_code == 200 and health.json()["database"] == "ok"
        assert health.headers["server"].startswith("gunicorn")
        assert "Iniciar sesión" in httpx.get(f"{url}/login").text
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0 and "Traceback" not in stderr
    entries = [json.loads(line) for line in stderr.splitlines() if line.strip()]  # gunicorn's lines too
    assert any(e["logger"].startswith("gunicorn") for e in entries)
    # Two workers, one schedule: only one of them runs the embedded pull and sweep.
    assert sum("embedded scheduler: running" in e["message"] for e in entries) == 1


@pytest.mark.parametrize("missing", ["CONNECTOR_WEB_SECRET", "CONNECTOR_SECRET_KEYS"])
def test_production_refuses_to_start_without_its_secrets(production_env, tmp_path, missing):
    production_env.pop(missing)
    production_env["CONNECTOR_LOG_LEVEL"] = "WARNING"  # the message alone, not the migration's INFO lines
    refused = run(production_env, "web", "--port", "0")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and refused.stderr.startswith("error: ") and missing in refused.stderr
    assert not (tmp_path / "web.key").exists() and not (tmp_path / "secret.key").exists()


def test_sandbox_still_generates_its_keys(env, tmp_path):
    env.pop("CONNECTOR_SECRET_KEYS")
    assert run(env, "account", "create", "Tienda Cafetera").returncode == 0
    assert (tmp_path / "secret.key").exists()


def test_a_setting_that_does_not_parse_is_one_line_not_a_traceback(env):
    env["CONNECTOR_WEB_WORKERS"] = "muchos"
    refused = run(env, "web", "--port", "0")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.count("\n") == 1 and "CONNECTOR_WEB_WORKERS" in refused.stderr


def test_sigterm_stops_the_sandbox_server_and_its_schedule_cleanly(env):
    env.update({"CONNECTOR_LOG_LEVEL": "INFO", "CONNECTOR_LOG_FORMAT": "json"})
    process, url = _start_web(env)
    try:
        assert httpx.get(f"{url}/healthz").status_code == 200
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0 and "Traceback" not in stderr
    messages = [json.loads(line)["message"] for line in stderr.splitlines() if line.strip()]
    assert "embedded scheduler: stopped" in messages, messages
