"""CONNECTOR_LOG_FORMAT=json: one JSON object per line (time, level, logger, message), from the
formatter and from a real process."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from datetime import datetime

from cryptography.fernet import Fernet

from connector.logs import JsonLogFormatter


def _record(message: str, *args, exc_info=None, **extra) -> logging.LogRecord:
    record = logging.getLogger("connector.sync").makeRecord("connector.sync", logging.WARNING, __file__, 1,
                                                            message, args, exc_info, extra=extra or None)
    return record


def test_one_json_object_per_line_with_the_four_fields():
    line = JsonLogFormatter().format(_record("pull of channel connection %s failed:\n%s", 7, "timeout",
                                             order_id=12))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["logger"] == "connector.sync"
    assert entry["message"] == "pull of channel connection 7 failed:\ntimeout"
    assert entry["order_id"] == 12
    assert datetime.fromisoformat(entry["time"]).utcoffset().total_seconds() == 0


def test_exceptions_stay_inside_the_line():
    try:
        raise ValueError("boom")
    except ValueError:
        line = JsonLogFormatter().format(_record("crashed", exc_info=sys.exc_info()))
    entry = json.loads(line)
    assert "ValueError: boom" in entry["exception"] and "\n" not in line


def test_a_process_logs_json_lines(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'c.sqlite3'}", "CONNECTOR_MODE": "sandbox",
           "CONNECTOR_DATA_DIR": str(tmp_path), "CONNECTOR_SECRET_KEYS": Fernet.generate_key().decode(),
           "CONNECTOR_LOG_FORMAT": "json", "CONNECTOR_LOG_LEVEL": "INFO"}
    env.pop("REDIS_URL", None)
    web = subprocess.Popen([sys.executable, "-m", "connector", "web", "--port", "0"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "Panel web en" in web.stdout.readline()
        time.sleep(1)  # the embedded scheduler says it started
    finally:
        web.terminate()
        _, stderr = web.communicate(timeout=30)
    lines = [line for line in stderr.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line parses
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert any(e["logger"] == "connector.scheduler" for e in entries)
