"""``connector user create`` / ``user password`` and ``connector web``, run as a person runs them."""

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
