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

    # Cache-aside for product reads.
    cache_ttl_seconds: Annotated[int, Field(ge=0)] = 60  # 0 turns the cache off

    # gRPC for the catalog beside HTTP, on this loopback port; None: no gRPC server.
    grpc_port: int | None = None

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


@lru_cache
def get_settings() -> Settings:
    """The settings from the environment, built once per process."""
    return Settings()
