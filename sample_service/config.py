"""Settings read from ``SHOP_*`` environment variables (pydantic-settings).

One ``Settings`` object per app; ``get_settings()`` caches the one built from
the environment so tests can pass their own to ``create_app`` instead.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sample_service.schemas.lab import LabSwitches

DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"
# Base64 of 32 bytes, published like DEV_SECRET: fine for a laptop, refused in production.
DEV_FIELD_KEY = "ZGV2LW9ubHktZmllbGQta2V5LWNoYW5nZS1tZSEhISE="


class Settings(BaseSettings, LabSwitches):
    """Everything the service can be told at start."""

    model_config = SettingsConfigDict(env_prefix="SHOP_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    # A *sync* SQLAlchemy URL; the async URL for hot paths is derived in db.py.
    database_url: str = "sqlite:///./shop.db"
    db_pool_size: int = 10
    db_max_overflow: int = 20
    # REDIS_URL (no prefix) is the project-wide switch between memory and Redis backends.
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("SHOP_REDIS_URL", "REDIS_URL")
    )
    redis_prefix: str = "shop:"

    # Auth.
    jwt_secret: str = DEV_SECRET
    jwt_algorithm: str = "HS256"
    access_token_ttl_seconds: int = 300
    refresh_token_ttl_seconds: int = 7 * 24 * 3600
    mfa_issuer: str = "Shop"
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

    # Rate limits: token bucket, ``capacity`` requests then ``refill_per_second``.
    rate_limit_enabled: bool = True
    rate_limit_capacity: int = 120
    rate_limit_refill_per_second: float = 20.0
    auth_rate_limit_capacity: int = 10
    auth_rate_limit_refill_per_second: float = 0.5
    api_key_rate_limit_capacity: int = 600
    api_key_rate_limit_refill_per_second: float = 100.0

    # Cache-aside for product reads.
    cache_ttl_seconds: Annotated[int, Field(ge=0)] = 60  # 0 turns the cache off

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

    # Lessons: the switches themselves are the fields inherited from LabSwitches (all off);
    # they are refused outside lab mode.
    lab_mode: bool = False

    @model_validator(mode="after")
    def _refuse_dev_secret_in_production(self) -> Settings:
        """A production service with the published development secret is forgeable."""
        if self.environment == "production" and self.jwt_secret == DEV_SECRET:
            msg = "SHOP_JWT_SECRET is the development default; set a secret of your own"
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
