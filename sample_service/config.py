"""Settings read from ``SHOP_*`` environment variables (pydantic-settings).

One ``Settings`` object per app; ``get_settings()`` caches the one built from
the environment so tests can pass their own to ``create_app`` instead.
"""

from __future__ import annotations

import secrets
from functools import cache, lru_cache
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, IPvAnyNetwork, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sample_service.schemas.lab import LabSwitches


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

    # HTTP edge.
    cors_origins: list[str] = []
    max_body_bytes: int = 1_048_576
    require_if_match: bool = True
    access_log: bool = True

    # Rate limits: token bucket, ``capacity`` requests then ``refill_per_second``.
    rate_limit_enabled: bool = True
    rate_limit_capacity: int = 120
    rate_limit_refill_per_second: float = 20.0
    auth_rate_limit_capacity: int = 10
    auth_rate_limit_refill_per_second: float = 0.5
    # Account creation: each account is a fresh per-user budget, so few per address per hour.
    register_rate_limit_capacity: int = 5
    register_rate_limit_refill_per_second: float = 5 / 3600
    # Proxies (IPs or CIDR networks) whose X-Forwarded-For / Forwarded name the client; from
    # anyone else those headers are ignored. Run uvicorn with --no-proxy-headers.
    trusted_proxies: list[IPvAnyNetwork] = []

    # Cache-aside for product reads.
    cache_ttl_seconds: Annotated[int, Field(ge=0)] = 60  # 0 turns the cache off

    # Lessons: the switches themselves are the fields inherited from LabSwitches (all off);
    # they are refused outside lab mode.
    lab_mode: bool = False

    @property
    def jwt_secret_generated(self) -> bool:
        """True when no secret was configured and this process made its own."""
        return "jwt_secret" not in self.model_fields_set

    @model_validator(mode="after")
    def _refuse_generated_secret_in_production(self) -> Settings:
        """Production runs several processes behind one issuer: each needs the same secret."""
        if self.environment == "production" and self.jwt_secret_generated:
            msg = "SHOP_JWT_SECRET is not set; production needs a secret of your own (32+ chars)"
            raise ValueError(msg)
        return self


@lru_cache
def get_settings() -> Settings:
    """The settings from the environment, built once per process."""
    return Settings()
