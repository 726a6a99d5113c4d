"""``scripts/test-services``: what ``make test`` sets up before pytest, run against fake commands that
record what they were asked (services down, Chromium missing), as root and as a user without sudo."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "test-services"


def _fake(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def machine(tmp_path):
    """A PATH where PostgreSQL and Redis are down until started and every command logs its call."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    _fake(bin_dir, "pg_isready", f'[ -e "{tmp_path}/pg.up" ]')
    _fake(bin_dir, "pg_ctlcluster", f'echo "pg_ctlcluster $*" >> "{log}"; touch "{tmp_path}/pg.up"')
    _fake(bin_dir, "redis-cli", f'[ -e "{tmp_path}/redis.up" ]')
    _fake(bin_dir, "redis-server", f'echo "redis-server $*" >> "{log}"; touch "{tmp_path}/redis.up"')
    _fake(bin_dir, "apt-get", f'echo "apt-get $*" >> "{log}"')
    _fake(bin_dir, "sudo", "exit 1")  # present but asks for a password: `sudo -n` fails

    def run(uid: int) -> tuple[subprocess.CompletedProcess, str]:
        _fake(bin_dir, "id", f"echo {uid}")
        env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "TEST_SERVICES_WAIT": "2",
               "CONNECTOR_TEST_CHROMIUM": str(tmp_path / "no-chromium")}
        done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
        return done, log.read_text() if log.exists() else ""

    return run


def test_as_root_it_starts_what_is_down_and_installs_chromium(machine):
    done, calls = machine(0)
    assert done.returncode == 0, done.stderr
    assert "redis-server --daemonize yes --bind 127.0.0.1 --port 6379" in calls
    if Path("/etc/postgresql").is_dir():
        assert "pg_ctlcluster --skip-systemctl-redirect" in calls and " main start" in calls
    assert "apt-get update" in calls
    assert "apt-get install -y -qq --no-install-recommends chromium" in calls


def test_without_root_or_sudo_it_says_what_to_run_and_lets_the_tests_go_on(machine):
    done, calls = machine(1000)
    assert done.returncode == 0
    assert "apt-get" not in calls
    assert "sudo apt-get install -y chromium" in done.stderr
    assert "redis-server" in calls  # Redis needs no root: started anyway
