"""Secrets never reach a log line.

Access logs print request lines (``POST /webhooks/<channel>/3?secret=...``, the OAuth callback's
``?code=...&state=...``), HTTP clients log the URLs they call (query-string credentials included) and
an exception's text may quote a request. :func:`mask_text` hides:

* the value of every query, form or JSON/dict entry with a sensitive name (:data:`SENSITIVE_NAMES`);
* ``Authorization: Bearer|Basic ...`` credentials;
* every value :func:`remember_secret` was told about — the credential vault tells it each secret it
  encrypts or decrypts, so a token is hidden wherever it appears, whatever surrounds it.

:func:`install_log_masking` applies it to every record: a :class:`SecretMaskingFilter` on the root
logger, on werkzeug's logger and on the root's handlers, and a record factory that masks each record
as it is created — a filter on the root *logger* never sees records of child loggers (they go
straight to the root's *handlers*), the factory does. It is idempotent; the CLI, the panel, the
workers and every :class:`~connector.context.AppContext` install it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"

# Names whose values are secrets wherever they appear as name=value or "name": "value".
SENSITIVE_NAMES = ("secret", "code", "token", "access_token", "refresh_token", "client_secret", "state",
                   "webhook_secret", "consumer_key", "consumer_secret", "password", "code_verifier", "api_key",
                   "id_token", "authorization_code", "sealed")
# Credential fields whose values the vault hands to remember_secret.
_SECRET_FIELD = re.compile(r"secret|token|password|key|verifier|code", re.IGNORECASE)
_MIN_SECRET_LENGTH = 6  # shorter values would mask ordinary words
_MAX_REMEMBERED = 10_000

_names = "|".join(sorted(SENSITIVE_NAMES, key=len, reverse=True))
_QUERY_VALUE = re.compile(rf"(?<![A-Za-z0-9_])({_names})=([^&\s\"'<>#;,]+)", re.IGNORECASE)
_QUOTED_VALUE = re.compile(rf"([\"']?(?<![A-Za-z0-9_])(?:{_names})[\"']?\s*[:=]\s*)([\"'])(.*?)\2", re.IGNORECASE)
_AUTHORIZATION = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


class _SecretRegistry:
    """Known secret values (most recent kept), matched by one compiled pattern rebuilt on change."""

    def __init__(self) -> None:
        self._values: dict[str, None] = {}
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        with self._lock:
            if value in self._values:
                return
            self._values[value] = None
            while len(self._values) > _MAX_REMEMBERED:
                self._values.pop(next(iter(self._values)))
            self._pattern = None

    def pattern(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                ordered = sorted(self._values, key=len, reverse=True)  # a longer secret before its prefix
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            return self._pattern


_registry = _SecretRegistry()


def remember_secret(value: Any) -> None:
    """Hide ``value`` from every log line from now on (values shorter than 6 characters are ignored)."""
    if isinstance(value, str) and len(value.strip()) >= _MIN_SECRET_LENGTH:
        _registry.add(value.strip())


def remember_secrets_of(credentials: Mapping[str, Any]) -> None:
    """Remember the values of ``credentials`` whose names say they are secret (token, secret, key...)."""
    for name, value in credentials.items():
        if _SECRET_FIELD.search(str(name)):
            remember_secret(value)


def mask_text(text: str) -> str:
    """``text`` with every secret it carries replaced by ``***`` (see the module docstring)."""
    if not text:
        return text
    known = _registry.pattern()
    if known is not None:
        text = known.sub(MASK, text)
    text = _QUERY_VALUE.sub(lambda m: f"{m.group(1)}={MASK}", text)
    text = _QUOTED_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}{m.group(2)}", text)
    return _AUTHORIZATION.sub(lambda m: f"{m.group(1)} {MASK}", text)


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask a record in place: its message (arguments merged in), its exception and stack texts."""
    if getattr(record, "_secrets_masked", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken format string: keep what logging would show
        message = str(record.msg)
    masked = mask_text(message)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask_text(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)
    record._secrets_masked = True
    return record


class SecretMaskingFilter(logging.Filter):
    """A logging filter that never drops a record, only masks it (see :func:`mask_record`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


_install_lock = threading.Lock()
_installed_factory = False
_filter = SecretMaskingFilter()


def install_log_masking(extra_loggers: Iterable[str] = ("werkzeug",)) -> None:
    """Mask every log record of this process (idempotent): filter on the root logger, werkzeug's and
    the root's handlers, and a record factory that masks each record as it is made."""
    global _installed_factory
    with _install_lock:
        for logger in (logging.getLogger(), *(logging.getLogger(name) for name in extra_loggers)):
            if _filter not in logger.filters:
                logger.addFilter(_filter)
        for handler in logging.getLogger().handlers:
            if _filter not in handler.filters:
                handler.addFilter(_filter)
        if not _installed_factory:
            make_record = logging.getLogRecordFactory()

            def masked_record(*args, **kwargs) -> logging.LogRecord:
                return mask_record(make_record(*args, **kwargs))

            logging.setLogRecordFactory(masked_record)
            _installed_factory = True
