"""The processes a chaos run starts and kills: a private Redis server, Celery workers and beat.

Each runs in its own session (process group), so SIGKILL to the group takes a worker down the way
a lost machine would — its prefork children with it, nothing flushed, no message acknowledged.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ManagedProcess:
    """One child process (and its own children) that can be started, killed and restarted."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], cwd: Path, log_dir: Path):
        self.name, self.argv, self.env, self.cwd = name, argv, env, cwd
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> ManagedProcess:
        with open(self.log_path, "a") as log:
            log.write(f"\n--- start {self.starts + 1} at {time.strftime('%H:%M:%S')} ---\n")
            log.flush()
            self.process = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self.starts += 1
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def children(self) -> list[int]:
        """Direct children (a Celery worker's pool processes), read from /proc."""
        if not self.alive():
            return []
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.pid:
                found.append(int(entry))
        return found

    def kill(self) -> None:
        """SIGKILL the whole process group: the process and every child it started."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (a warm shutdown), then SIGKILL whatever is left."""
        if not self.alive():
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        self.kill()

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def redis_server_binary() -> str:
    found = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
    if not found:
        raise RuntimeError("the chaos suite needs redis-server (apt-get install redis-server)")
    return found


class PrivateRedis:
    """A real Redis server of this run's own, on a free port, that keeps nothing on disk — so it can
    be killed and restarted (losing every queued message) without touching anybody else's Redis."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir.resolve()
        self.process = ManagedProcess("redis", [
            redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.workdir), "--daemonize", "no"],
            env=dict(os.environ), cwd=self.workdir, log_dir=self.workdir)
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.process.start()
        self._wait_ready()
        return self

    def restart(self, down_seconds: float = 1.0) -> None:
        """Kill -9 (everything in it is lost: queued tasks, rate-limit windows), then start again."""
        self.process.kill()
        time.sleep(down_seconds)
        self.process.start()
        self._wait_ready()
        self.restarts += 1

    def stop(self) -> None:
        self.process.kill()

    def _wait_ready(self, timeout: float = 15.0) -> None:
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    client.close()
                    return
            except redis.RedisError:
                time.sleep(0.1)
        raise RuntimeError(f"redis-server did not start on port {self.port}:\n{self.process.tail()}")


def connector_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "connector", *args]
