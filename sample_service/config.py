"""Settings read from ``SHOP_*`` environment variables (pydantic-settings).

One ``Settings`` object per app; ``get_settings()`` caches the one built from
the environment so tests can pass their own to ``create_app`` instead.
"""

from __future__ import annotations

import secrets
from functools import cache, lru_cache
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, IPvAnyNetwork, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sample_service.schemas.lab import LabSwitches
from sample_service.schemas.users import Role

# Base64 of 32 bytes, published: fine for a laptop, refused in production.
DEV_FIELD_KEY = "ZGV2LW9ubHktZmllbGQta2V5LWNoYW5nZS1tZSEhISE="


@cache
def process_secret() -> str:
    """A random JWT secret made once per process: with none configured, nothing published signs.

    Tokens it signs die with the process, and several worker processes would each make their
    own, so a service with more than one process needs ``SHOP_JWT_SECRET``.
    """
    return secrets.token_urlsafe(32)


class Settings(BaseSettings, LabSwitches):
    """Everything the service can be told at start."""

    model_config = SettingsConfigDict(env_prefix="SHOP_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    # A *sync* SQLAlchemy URL; the async URL for hot paths is derived in db.py.
    database_url: str = "sqlite:///./shop.db"
    # Pool: at most pool size + overflow requests hold a session at once; the rest wait up to
    # db_wait_seconds for one, then get 503 + Retry-After. SQLite writers wait for the write
    # lock up to db_lock_timeout_seconds. Every wait is bounded, so overload sheds, not queues.
    db_pool_size: Annotated[int, Field(ge=1)] = 10
    db_max_overflow: Annotated[int, Field(ge=0)] = 20
    db_wait_seconds: Annotated[float, Field(gt=0)] = 2.0
    db_lock_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    # A streaming replica of database_url (PostgreSQL): catalog reads that may be stale go
    # there, everything else to the primary, and a client reads its own writes (see replica.py).
    database_replica_url: str | None = None
    # REDIS_URL (no prefix) is the project-wide switch between memory and Redis backends.
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("SHOP_REDIS_URL", "REDIS_URL")
    )
    redis_prefix: str = "shop:"

    # Auth.
    jwt_secret: str = Field(default_factory=process_secret, min_length=32, repr=False)
    jwt_algorithm: str = "HS256"
    access_token_ttl_seconds: int = 300
    refresh_token_ttl_seconds: int = 7 * 24 * 3600
    mfa_issuer: str = "Shop"
    # Enrolled users of these roles cannot sign in without their code; other enrolled users
    # may add it (a wrong one is still refused). Privileged accounts are what attackers want.
    mfa_required_roles: frozenset[Role] = frozenset({"staff", "admin"})
    # API keys: a rotated key keeps working this long, so clients can switch without an outage.
    api_key_overlap_seconds: Annotated[int, Field(ge=0)] = 3600

    # Field encryption at rest: key id -> base64 of 32 bytes; new values use field_key_id,
    # every listed key still decrypts (rotation adds a key, re-encrypts, then drops the old).
    field_keys: dict[str, str] = {"dev": DEV_FIELD_KEY}
    field_key_id: str = "dev"

    # HTTP edge.
    cors_origins: list[str] = []
    max_body_bytes: int = 1_048_576
    gzip_minimum_bytes: Annotated[int, Field(ge=0)] = 1024  # smaller bodies go uncompressed
    require_if_match: bool = True
    # How long a stored Idempotency-Key answer is replayed; after that the key is a new request.
    idempotency_retention_seconds: Annotated[int, Field(ge=1)] = 24 * 3600
    access_log: bool = True

    # Rate limits: token bucket, ``capacity`` requests then ``refill_per_second``; or a sliding
    # window of ``capacity`` requests per ``capacity / refill_per_second`` seconds.
    rate_limit_enabled: bool = True
    rate_limit_algorithm: Literal["token_bucket", "sliding_window"] = "token_bucket"
    rate_limit_capacity: int = 120  # anonymous callers, per IP; the default of every tier
    rate_limit_refill_per_second: float = 20.0
    # Signed-in tiers; unset, customers get the anonymous rule and staff the customers' one.
    customer_rate_limit_capacity: int | None = None
    customer_rate_limit_refill_per_second: float | None = None
    staff_rate_limit_capacity: int | None = None
    staff_rate_limit_refill_per_second: float | None = None
    auth_rate_limit_capacity: int = 10
    auth_rate_limit_refill_per_second: float = 0.5
    api_key_rate_limit_capacity: int = 600
    api_key_rate_limit_refill_per_second: float = 100.0
    # Account creation: each account is a fresh per-user budget, so few per address per hour.
    register_rate_limit_capacity: int = 5
    register_rate_limit_refill_per_second: float = 5 / 3600
    # Proxies (IPs or CIDR networks) whose X-Forwarded-For / Forwarded name the client; from
    # anyone else those headers are ignored. Run uvicorn with --no-proxy-headers.
    trusted_proxies: list[IPvAnyNetwork] = []

    # Cache-aside for product reads.
    cache_ttl_seconds: Annotated[int, Field(ge=0)] = 60  # 0 turns the cache off
    # Cache-Control of public catalog reads, for HTTP caches in front of the shop.
    catalog_max_age_seconds: Annotated[int, Field(ge=0)] = 5
    catalog_stale_while_revalidate_seconds: Annotated[int, Field(ge=0)] = 30

    # Operations: OTLP/HTTP traces (None = tracing off, nothing installed) and the
    # slow-query log (statements slower than this many ms, as JSON lines; None = off).
    otel_traces_endpoint: str | None = None
    otel_service: str = "shop"
    slow_query_ms: Annotated[float, Field(ge=0)] | None = None

    # The payments provider: called when an order is placed, only when its URL is set.
    payments_url: str | None = None
    payments_connect_timeout: float = 0.5
    payments_read_timeout: float = 2.0
    payments_total_timeout: float = 5.0  # the whole call, retries and slow bodies included
    payments_max_attempts: Annotated[int, Field(ge=1, le=10)] = 3  # 1 turns retries off
    payments_backoff_base: float = 0.05
    payments_backoff_cap: float = 1.0
    payments_retry_budget_ratio: float = 0.2
    payments_breaker_failures: int = 5
    payments_breaker_reset_seconds: float = 5.0
    payments_max_concurrency: int = 10  # the bulkhead
    # When the provider cannot be reached: "reject" (503 + Retry-After, stock released) or
    # "pending" (202, the order waits as payment_pending and is settled later).
    payments_fallback: Literal["reject", "pending"] = "reject"
    saga_idle_seconds: float = 10.0  # a checkout saga idle this long is resumed by the sweep
    saga_sweep_seconds: float = 5.0  # how often the sweep runs, first at start; 0: never

    # gRPC for the catalog beside HTTP, on this loopback port; None: no gRPC server.
    grpc_port: int | None = None

    # Async work: the job queue in the shop's own database, run by `python -m sample_service.worker`.
    job_visibility_seconds: Annotated[float, Field(gt=0)] = 30.0  # a claim hides a job this long
    job_max_attempts: Annotated[int, Field(ge=1)] = 5  # then the job is dead-lettered
    job_retry_base_seconds: Annotated[float, Field(ge=0)] = 1.0  # doubled per failed attempt
    job_poll_seconds: Annotated[float, Field(gt=0)] = 0.2  # an idle worker's nap
    job_result_ttl_seconds: Annotated[int, Field(ge=1)] = 3600  # then the result is 410 Gone

    # Where outbox events travel: the jobs table, or a broker at RABBITMQ_URL / REDIS_URL.
    event_transport: Literal["database", "rabbitmq", "redis"] = "database"
    rabbitmq_url: str | None = Field(
        default=None, validation_alias=AliasChoices("SHOP_RABBITMQ_URL", "RABBITMQ_URL")
    )
    event_stream: str = "shop.events"  # the RabbitMQ queue or Redis stream of events
    # Live views: an event-stream send that waits this long (the client stopped reading)
    # cuts that client off; it resumes with Last-Event-ID.
    stream_send_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    # Partitions of that queue or stream: one key (an order) always goes to the same one, and
    # one consumer at a time reads each; more than the consumers you run lets them all work.
    event_partitions: Annotated[int, Field(ge=1, le=64)] = 4
    # Where the batch ETL writes its Parquet (daily_sales.parquet): the sales report's
    # ``source=batch``; None: that source answers 409.
    sales_lake: str | None = None

    # Lessons: the switches themselves are the fields inherited from LabSwitches (all off);
    # they are refused outside lab mode.
    lab_mode: bool = False

    @property
    def jwt_secret_generated(self) -> bool:
        """True when no secret was configured and this process made its own."""
        return "jwt_secret" not in self.model_fields_set

    @field_validator("database_replica_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """An empty ``SHOP_DATABASE_REPLICA_URL`` means no replica."""
        return value or None

    @model_validator(mode="after")
    def _refuse_replica_without_postgres(self) -> Settings:
        """Only PostgreSQL streams to a replica; SQLite has one database and no replica."""
        if self.database_replica_url and not self.database_url.startswith("postgresql"):
            msg = "SHOP_DATABASE_REPLICA_URL needs a PostgreSQL SHOP_DATABASE_URL (a primary)"
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _refuse_generated_secret_in_production(self) -> Settings:
        """Production runs several processes behind one issuer: each needs the same secret."""
        if self.environment == "production" and self.jwt_secret_generated:
            msg = "SHOP_JWT_SECRET is not set; production needs a secret of your own (32+ chars)"
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _refuse_dev_field_key_in_production(self) -> Settings:
        """A published key encrypts nothing; the current key must be known."""
        if self.field_key_id not in self.field_keys:
            msg = f"SHOP_FIELD_KEY_ID {self.field_key_id!r} is not in SHOP_FIELD_KEYS"
            raise ValueError(msg)
        if self.environment == "production" and DEV_FIELD_KEY in self.field_keys.values():
            msg = "SHOP_FIELD_KEYS holds the development key; generate keys of your own"
            raise ValueError(msg)
        return self


@lru_cache
def get_settings() -> Settings:
    """The settings from the environment, built once per process."""
    return Settings()
