"""Configuration from the environment (prefix ``STOCKROOM_``) or a ``.env`` file.

The ``.env`` read is the one in the working directory when the process starts (every worker
of ``stockroom serve`` reads it as it starts); the environment wins over it. A
``STOCKROOM_*`` variable that is no setting is refused, with the setting it most looks like:
a misspelt name must not leave the default quietly in force (a local SQLite file, say).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal, Self

from dotenv import dotenv_values
from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from adapters.database_urls import check_database_url
from adapters.pool import PoolSettings
from adapters.postgres import Pooler
from domain.idempotency import DEFAULT_KEY_TTL
from entrypoints.currency import checked_currency
from entrypoints.events_settings import EventsSettings
from entrypoints.local_files import check_trusted_path
from entrypoints.origins import checked_origins
from entrypoints.secret_key import development_key_path
from service_layer.views import DEFAULT_CURRENCY

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./stockroom.db"
HOUR = timedelta(hours=1)
PREFIX = "STOCKROOM_"
ENV_FILE = ".env"
# STOCKROOM_* variables that are not settings: read by the CLI (passwords a script passes,
# --debug) and by the test suite.
NOT_SETTINGS = frozenset(
    {
        "STOCKROOM_ADMIN_PASSWORD",
        "STOCKROOM_NEW_PASSWORD",
        "STOCKROOM_DEBUG",
        "STOCKROOM_TEST_POSTGRES_URL",
        "STOCKROOM_TEST_PG_BINDIR",
        "STOCKROOM_SCHEMA_CHECK_EMAIL",
        "STOCKROOM_SCHEMA_CHECK_PASSWORD",
    }
)


# EventsSettings: the broker's block (issue 25), read as one in entrypoints/events_settings.py.
class Settings(EventsSettings, BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, env_file=ENV_FILE, extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    # What sits between us and PostgreSQL: "transaction" for PgBouncer in transaction mode
    # (statements are then never prepared on the server; see adapters.postgres).
    database_pooler: Pooler = Pooler.NONE
    # Streaming replicas for the read port, comma-separated (docs/replicas.md).
    replica_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Seconds behind the primary a replica may be and still serve reads.
    replica_max_lag: float = Field(default=5.0, gt=0)
    # Seconds a read with a consistency token may wait for a replica to catch up, before the
    # primary serves it.
    replica_wait: float = Field(default=0.1, ge=0, le=5)
    # Per process (uvicorn worker). Fixed size by default: see adapters.database.PoolSettings.
    pool_size: int = Field(default=PoolSettings.size, ge=1)
    pool_max_overflow: int = Field(default=PoolSettings.max_overflow, ge=0)
    pool_timeout: float = Field(default=30.0, gt=0)
    pool_recycle: int = Field(default=1800, ge=-1)
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    echo_sql: bool = False
    low_stock_threshold: int = Field(default=5, ge=0)
    # [Money] The ISO 4217 code shown as "currency" on every item and order: a label, changing
    # it converts no stored price (entrypoints/currency.py).
    currency: Annotated[str, AfterValidator(checked_currency)] = DEFAULT_CURRENCY
    # A request whose header section (request line and header fields) is larger gets a 431
    # from the server itself, before it is buffered (entrypoints/api/header_guard.py).
    max_header_bytes: int = Field(default=64 * 1024, ge=4 * 1024)
    # [HTTP edges] Seconds a client has to send a request's whole head (request line and
    # header fields) under uvicorn, from its first byte or the connection's start; past it,
    # 408 and the connection closed (slowloris).
    request_head_seconds: float = Field(default=10.0, gt=0, le=300)
    # An Idempotency-Key replays its order for this long, then is forgotten (docs/api.md,
    # "Idempotency keys").
    idempotency_ttl_hours: float = Field(default=DEFAULT_KEY_TTL / HOUR, gt=0, le=24 * 366)
    # Each API worker purges expired keys this often (0: never; `stockroom maintenance purge`
    # does it on demand, e.g. from cron).
    purge_interval_seconds: float = Field(default=3600.0, ge=0)
    # [Domain events] Each API worker looks for events its in-process handlers owe a call this
    # often (one indexed query when idle; 0: never). The broker's settings, the relay's:
    # entrypoints/events_settings.py.
    events_dispatch_seconds: float = Field(default=0.5, ge=0, le=60)

    # Every request's edge (entrypoints/api/request_layer.py); each off costs nothing. A body
    # over max_body_bytes is a 413 (0: no limit here, only behind a proxy that sets one).
    max_body_bytes: int = Field(default=64 * 1024, ge=0)
    request_ids: bool = True  # X-Request-ID on every response and log line
    # On SIGTERM, seconds readiness is 503 while the instance still serves, before it stops
    # accepting (entrypoints/api/drain.py): the balancer's check interval x its fall count.
    drain_seconds: float = Field(default=5.0, ge=0, le=60)
    access_log: bool = True  # the server's line per request
    # [Whose address] Proxies whose X-Forwarded-For is believed, comma-separated addresses or
    # networks; empty (the default): none, the peer's address is the client's.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # [CORS] Origins whose browser pages may call the API, comma-separated
    # ("https://shop.example,http://localhost:5173"), or "*" for any; empty (the default): no
    # CORS layer at all (entrypoints/api/cors.py).
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Operating it (docs/operations.md). Metrics on by default, on a listener of their
    # own (below). A unit of work open longer than uow_warn_seconds logs one warning.
    metrics_enabled: bool = True
    # [Metrics listener] Where `stockroom serve` serves GET /metrics, never on the API's port
    # (entrypoints/api/http_metrics.py); port 0: a free one, which the log names.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    uow_warn_seconds: float = Field(default=5.0, ge=0)  # 0: no held-session warning
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Authentication. Without a secret key, development mode keeps a generated one in a file
    # (see entrypoints.secret_key); production refuses to start without one.
    production: bool = False
    secret_key: SecretStr | None = None
    token_lifetime_minutes: int = Field(default=60, ge=1, le=60 * 24 * 30)

    # Login throttling (entrypoints/login_policy.py; docs/security.md, "Login throttling"):
    # failed logins that cost nothing, per account from one address, per account from
    # anywhere, and per address whatever the account; each one beyond blocks for 1 s,
    # doubling up to the cap.
    login_free_failures: int = Field(default=5, ge=0)
    login_free_failures_per_account: int = Field(default=20, ge=0)
    login_free_failures_per_address: int = Field(default=50, ge=0)
    login_max_block_seconds: int = Field(default=15 * 60, ge=1)
    # A counter with no new failure for this long starts again from zero, and is purged.
    login_forget_after_seconds: int = Field(default=24 * 60 * 60, ge=1)
    # An account that logged in from an address (an IPv6 /64) within this many days is a
    # known client there: the per-address block does not bind it (0: no client is known).
    login_known_client_days: float = Field(default=30, ge=0, le=366)
    # Sign-ups one address (an IPv6 /64) may make per window, counted from its first one;
    # beyond, 429 with Retry-After, before any hashing.
    signups_per_address: int = Field(default=20, ge=1)
    signup_window_seconds: int = Field(default=60 * 60, ge=1)
    # Argon2 hashes running at once in one process; beyond that, 503 at once. Default: one
    # per CPU the process may use (adapters.passwords.default_max_in_flight).
    max_concurrent_hashes: int | None = Field(default=None, ge=1)

    @field_validator("replica_urls", "trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [url.strip() for url in value.split(",") if url.strip()]
        return value

    # [CORS] Origins as the browser sends them: one it never sends is refused, not ignored.
    @field_validator("cors_origins", mode="before")
    @classmethod
    def _cors_origins(cls, value: object) -> object:
        return value.split(",") if isinstance(value, str) else value

    @field_validator("cors_origins")
    @classmethod
    def _cors_origins_checked(cls, value: list[str]) -> list[str]:
        return checked_origins(value)

    # A URL with no async driver, or none at all, is refused here with the forms that work,
    # instead of failing deep inside SQLAlchemy at the first query.
    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, value: str) -> str:
        check_database_url(value)
        return value

    @field_validator("replica_urls")
    @classmethod
    def _usable_replica_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            check_database_url(url)
        return value

    @model_validator(mode="after")
    def _no_unknown_variables(self) -> Self:
        unknown = unknown_variables([*os.environ, *dotenv_values(ENV_FILE)])
        if unknown:
            raise ValueError("; ".join(unknown))
        return self

    @model_validator(mode="after")
    def _local_files_are_private(self) -> Self:
        # [Files and text] A .env or a development key that another user could have written
        # is refused, not used (entrypoints/local_files.py): a planted key forges any token.
        check_trusted_path(Path(ENV_FILE))
        if self.secret_key is None:
            check_trusted_path(development_key_path(self.database_url), secret=True)
        return self

    @model_validator(mode="after")
    def _production_needs_a_key(self) -> Self:
        if self.production and self.secret_key is None:
            raise ValueError("STOCKROOM_PRODUCTION is set but STOCKROOM_SECRET_KEY is not")
        if self.production and "database_url" not in self.model_fields_set:
            raise ValueError(
                "STOCKROOM_PRODUCTION is set but STOCKROOM_DATABASE_URL is not: production "
                "never falls back to a local SQLite file"
            )
        if self.secret_key is not None and len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("STOCKROOM_SECRET_KEY must be at least 32 characters")
        if self.login_forget_after_seconds < self.login_max_block_seconds:
            raise ValueError(
                "STOCKROOM_LOGIN_FORGET_AFTER_SECONDS must be at least "
                "STOCKROOM_LOGIN_MAX_BLOCK_SECONDS: a block outlives no counter"
            )
        return self

    @property
    def held_unit_warning(self) -> float | None:
        return self.uow_warn_seconds or None

    @cached_property
    def idempotency_ttl(self) -> timedelta:
        return self.idempotency_ttl_hours * HOUR

    @property
    def pool(self) -> PoolSettings:
        return PoolSettings(
            size=self.pool_size,
            max_overflow=self.pool_max_overflow,
            timeout=self.pool_timeout,
            recycle=self.pool_recycle,
        )


def unknown_variables(names: Iterable[str]) -> list[str]:
    """What is wrong with the ``STOCKROOM_*`` names among ``names`` that are no setting, one
    line each, with the setting each most looks like."""
    known = {PREFIX + name.upper() for name in Settings.model_fields}
    problems = []
    for name in sorted({name for name in names if name.upper().startswith(PREFIX)}):
        if name.upper() in known | NOT_SETTINGS:
            continue
        # Compared without the prefix they all share, which would make anything look close.
        suffixes = [setting.removeprefix(PREFIX) for setting in known]
        close = difflib.get_close_matches(name.upper().removeprefix(PREFIX), suffixes, n=1)
        hint = f"; did you mean {PREFIX}{close[0]}?" if close else ""
        problems.append(f"{name} is not a setting{hint}")
    return problems
