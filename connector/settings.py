"""Process settings, declared once and typed (environment variables and ``.env``).

Embedded default: a SQLite file under ``var/`` and tasks run in-process. Set ``DATABASE_URL``
(PostgreSQL) and ``REDIS_URL`` and the same code runs on Celery workers + beat.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      populate_by_name=True)

    data_dir: Path = Field(Path("var"), validation_alias=AliasChoices("CONNECTOR_DATA_DIR"))
    database_url: str | None = Field(None, validation_alias=AliasChoices("DATABASE_URL"))
    redis_url: str | None = Field(None, validation_alias=AliasChoices("REDIS_URL"))
    # Comma-separated Fernet keys; the first encrypts, all decrypt (rotation). When unset, a key is
    # generated once into ``<data_dir>/secret.key`` so the embedded default works out of the box.
    secret_keys: SecretStr | None = Field(None, validation_alias=AliasChoices("CONNECTOR_SECRET_KEYS"))
    # Signs the admin UI's session cookies. When unset, generated once into ``<data_dir>/web.key``.
    web_secret: SecretStr | None = Field(None, validation_alias=AliasChoices("CONNECTOR_WEB_SECRET"))
    # production: real API addresses only. sandbox/dev: connections may carry a custom API base URL.
    mode: Literal["production", "sandbox", "dev"] = Field(
        "production", validation_alias=AliasChoices("CONNECTOR_MODE"))
    sync_interval_seconds: int = Field(300, validation_alias=AliasChoices("CONNECTOR_SYNC_INTERVAL"))
    # Short: an order put aside for a spent rate-limit window must be handed out again about when the
    # window opens (see CONNECTOR_RATE_LIMIT_MAX_SLEEP); the sweep query only reads due orders.
    sweep_interval_seconds: int = Field(2, validation_alias=AliasChoices("CONNECTOR_SWEEP_INTERVAL"))
    # Stock from the ERP to the channels (connector/stock.py): items marked by invoices and ERP webhooks
    # are published every CONNECTOR_STOCK_INTERVAL; every channel is fully compared (the backstop)
    # every CONNECTOR_STOCK_FULL_SYNC.
    stock_interval_seconds: int = Field(10, validation_alias=AliasChoices("CONNECTOR_STOCK_INTERVAL"))
    stock_full_sync_seconds: int = Field(3600, validation_alias=AliasChoices("CONNECTOR_STOCK_FULL_SYNC"))
    # A stock run holds its channel connection this long (renewed as it goes); the pending sweep holds
    # every channel of the account at once, so two sweeps never split them and leave the items pending.
    # A run whose process died frees its channels when this runs out.
    stock_lease_seconds: int = Field(120, validation_alias=AliasChoices("CONNECTOR_STOCK_LEASE"))
    # An order handed to the queue is not handed out again before a worker is done with it or this many
    # seconds pass (a message lost with a dead worker or a restarted Redis delays it this long).
    dispatch_lease_seconds: int = Field(120, validation_alias=AliasChoices("CONNECTOR_DISPATCH_LEASE"))
    # One pull per channel connection at a time: a pull holds a lease this long and renews it as it
    # goes; a pull whose process died frees the connection when its lease runs out.
    pull_lease_seconds: int = Field(600, validation_alias=AliasChoices("CONNECTOR_PULL_LEASE"))
    # How far back each pull re-reads before its cursor, for orders whose update landed late.
    cursor_overlap_seconds: int = Field(300, validation_alias=AliasChoices("CONNECTOR_CURSOR_OVERLAP"))
    # The ERP catalog is re-read when older than this, or when a line misses and it is older than the minimum.
    catalog_max_age_seconds: int = Field(3600, validation_alias=AliasChoices("CONNECTOR_CATALOG_MAX_AGE"))
    catalog_min_age_seconds: int = Field(300, validation_alias=AliasChoices("CONNECTOR_CATALOG_MIN_AGE"))
    # After an ambiguous invoice outcome, wait this long before looking for the invoice in the ERP.
    reconcile_delay_seconds: int = Field(30, validation_alias=AliasChoices("CONNECTOR_RECONCILE_DELAY"))
    # First wait after a transient failure (5xx after retries, connection refused...), doubling per attempt.
    retry_backoff_seconds: float = Field(30.0, validation_alias=AliasChoices("CONNECTOR_RETRY_BACKOFF"))
    # After an e-invoice is stamped, first look for the tax authority's answer this long after, then
    # at growing intervals (up to an hour) until it is final (connector/followup.py).
    legal_status_check_seconds: float = Field(30.0, validation_alias=AliasChoices("CONNECTOR_LEGAL_STATUS_CHECK"))
    # A claim older than this belongs to a process that died; the sweeper reconciles it.
    claim_lease_seconds: int = Field(180, validation_alias=AliasChoices("CONNECTOR_CLAIM_LEASE"))
    # 0 = the ERP's documented limit (Alegra: 150 per minute per user). Lower it to leave room for
    # other integrations using the same ERP user.
    erp_rate_limit_per_minute: int = Field(0, validation_alias=AliasChoices("CONNECTOR_ERP_RATE_LIMIT"))
    # Celery workers: when an ERP user's window is spent for longer than this, the order waits in the
    # database (next_attempt_at) instead of the worker sleeping, so other sellers keep being served.
    # Keep it at least the sweep interval: the order comes back this long before the window opens.
    rate_limit_max_sleep_seconds: float = Field(2.0, validation_alias=AliasChoices("CONNECTOR_RATE_LIMIT_MAX_SLEEP"))
    # Circuit breaker per ERP connection: after this many consecutive outage failures invoicing pauses
    # for the first pause, doubling on each failed probe up to the maximum.
    circuit_threshold: int = Field(3, validation_alias=AliasChoices("CONNECTOR_CIRCUIT_THRESHOLD"))
    circuit_first_pause_seconds: float = Field(15, validation_alias=AliasChoices("CONNECTOR_CIRCUIT_PAUSE"))
    circuit_max_pause_seconds: float = Field(600, validation_alias=AliasChoices("CONNECTOR_CIRCUIT_MAX_PAUSE"))
    # Admin panel sign-in: at most this many attempts per e-mail from one client address in the window,
    # and (higher, so one address's guesses cannot lock every seller behind it out) per client address.
    # Counted in the database, shared by every web process.
    login_max_attempts: int = Field(8, validation_alias=AliasChoices("CONNECTOR_LOGIN_MAX_ATTEMPTS"))
    login_max_attempts_per_address: int = Field(
        100, validation_alias=AliasChoices("CONNECTOR_LOGIN_MAX_ATTEMPTS_PER_ADDRESS"))
    login_window_seconds: int = Field(900, validation_alias=AliasChoices("CONNECTOR_LOGIN_WINDOW"))
    # Password checks (argon2id, ~19 MiB each) running at once per web process; a sign-in that finds
    # no free slot within the wait is answered 503 instead of queueing without bound.
    login_hash_concurrency: int = Field(4, validation_alias=AliasChoices("CONNECTOR_LOGIN_HASH_CONCURRENCY"))
    login_hash_wait_seconds: float = Field(2.0, validation_alias=AliasChoices("CONNECTOR_LOGIN_HASH_WAIT"))
    # Panel sessions live in the database: they end after this long unused, and this long after sign-in.
    session_idle_minutes: int = Field(60, validation_alias=AliasChoices("CONNECTOR_SESSION_IDLE_MINUTES"))
    session_max_hours: int = Field(12, validation_alias=AliasChoices("CONNECTOR_SESSION_MAX_HOURS"))
    http_timeout_seconds: float = Field(20.0, validation_alias=AliasChoices("CONNECTOR_HTTP_TIMEOUT"))
    # The longest Retry-After an API call waits in place; a longer one is raised so the work waits in
    # the database (next_attempt_at) and the worker moves on (connector/http.py).
    max_retry_after_seconds: float = Field(30.0, validation_alias=AliasChoices("CONNECTOR_MAX_RETRY_AFTER"))
    # One API call, every retry and wait included, never takes longer than this.
    http_deadline_seconds: float = Field(120.0, validation_alias=AliasChoices("CONNECTOR_HTTP_DEADLINE"))
    # Multiplies every API client's backoff between retries of a failed call (each API keeps its own
    # base and cap). The test suite shrinks it so runs that inject 5xx answers do not sleep real backoffs.
    http_backoff_scale: float = Field(1.0, gt=0, validation_alias=AliasChoices("CONNECTOR_HTTP_BACKOFF_SCALE"))
    # Webhook deliveries are remembered this many days (a repeat or a replayed body within it is
    # recognised), then pruned with used or expired OAuth states (connector/housekeeping.py).
    webhook_retention_days: int = Field(7, ge=1, validation_alias=AliasChoices("CONNECTOR_WEBHOOK_RETENTION_DAYS"))
    # How often Celery beat prunes them (seconds).
    prune_interval_seconds: int = Field(3600, validation_alias=AliasChoices("CONNECTOR_PRUNE_INTERVAL"))
    # The address the marketplaces and the ERP reach this installation at (webhook URLs). Without it the
    # ERP's webhooks are not subscribed and the mirror keeps to polling.
    public_url: str | None = Field(None, validation_alias=AliasChoices("CONNECTOR_PUBLIC_URL"))
    # How often the ERP's webhook subscriptions are checked (and re-made when the ERP dropped one), and
    # the mirror's spare-room work (contacts import, catalog backstop) runs (seconds).
    mirror_check_interval_seconds: int = Field(300, validation_alias=AliasChoices("CONNECTOR_MIRROR_CHECK_INTERVAL"))
    # How often the mirror's pending events and spare-room reads run (seconds): each run takes only the
    # room the window has left, so running often costs invoices nothing.
    mirror_work_interval_seconds: int = Field(10, validation_alias=AliasChoices("CONNECTOR_MIRROR_WORK_INTERVAL"))
    # With healthy subscriptions the catalog is kept fresh by the ERP's webhooks; the whole catalog is
    # still re-read this rarely, from the window's spare room only, as a backstop (seconds).
    catalog_backstop_seconds: int = Field(86400, validation_alias=AliasChoices("CONNECTOR_CATALOG_BACKSTOP"))
    log_level: str = Field("INFO", validation_alias=AliasChoices("CONNECTOR_LOG_LEVEL"))
    # text: one readable line per record; json: one JSON object per line (time, level, logger, message).
    log_format: Literal["text", "json"] = Field("text", validation_alias=AliasChoices("CONNECTOR_LOG_FORMAT"))
    # ``connector web`` in production: gunicorn processes, and threads per process (one request each).
    # One process by default: the "sync now" progress and the sign-in throttle live in its memory.
    web_workers: int = Field(1, ge=1, validation_alias=AliasChoices("CONNECTOR_WEB_WORKERS"))
    web_threads: int = Field(8, ge=1, validation_alias=AliasChoices("CONNECTOR_WEB_THREADS"))
    # How many reverse proxies in front of the web process to believe about the client address, the
    # scheme (https) and the host (X-Forwarded-For/-Proto/-Host). 0: nobody's headers are believed.
    trusted_proxies: int = Field(0, ge=0, validation_alias=AliasChoices("CONNECTOR_TRUSTED_PROXIES"))
    # /metrics: with a token, only ``Authorization: Bearer <token>``; without one, only loopback clients.
    metrics_token: SecretStr | None = Field(None, validation_alias=AliasChoices("CONNECTOR_METRICS_TOKEN"))
    # Without REDIS_URL, ``connector web`` runs the periodic pull and sweep itself (one loop per
    # database: see connector/scheduler.py). False leaves that to ``connector worker``.
    embedded_scheduler: bool = Field(True, validation_alias=AliasChoices("CONNECTOR_EMBEDDED_SCHEDULER"))
    # The zone the sellers' times are shown in, by the panel and the CLI alike (an IANA name). Unset: the
    # time zone of the country of the account's ERP connection (its fiscal profile).
    display_timezone: str | None = Field(None, validation_alias=AliasChoices("CONNECTOR_TIMEZONE"))

    @field_validator("display_timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"«{value}» no es una zona horaria conocida (por ejemplo America/Bogota)") from exc
        return value

    @property
    def zone(self) -> ZoneInfo | None:
        """The configured zone, or None: then each account's ERP country decides (connector/fiscal.py)."""
        return ZoneInfo(self.display_timezone) if self.display_timezone else None

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url.replace("postgresql://", "postgresql+psycopg://", 1) \
                if self.database_url.startswith("postgresql://") else self.database_url
        return f"sqlite:///{(self.data_dir / 'connector.sqlite3').resolve()}"

    @property
    def uses_celery(self) -> bool:
        return bool(self.redis_url)

    @property
    def allows_custom_api_urls(self) -> bool:
        return self.mode in ("sandbox", "dev")

    @property
    def generates_missing_keys(self) -> bool:
        """Sandbox/dev (and the demo) generate missing keys into files under ``data_dir``; production
        takes them from the environment only, so a lost or unshared file never silently becomes a
        new key (sessions signed out at random, credentials that no longer decrypt)."""
        return self.mode in ("sandbox", "dev")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
