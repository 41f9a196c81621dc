"""Settings come from SHOP_* variables; the factory builds an app from them when given none."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from sample_service.config import DEV_FIELD_KEY, DEV_SECRET, Settings, get_settings
from sample_service.encryption import new_key
from sample_service.main import create_app


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_settings_read_shop_prefixed_variables(
    monkeypatch: pytest.MonkeyPatch, fresh_settings: None
) -> None:
    monkeypatch.setenv("SHOP_DATABASE_URL", "sqlite:///elsewhere.db")
    monkeypatch.setenv("SHOP_LAB_MODE", "true")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/9")
    settings = get_settings()
    assert settings.database_url == "sqlite:///elsewhere.db" and settings.lab_mode
    assert settings.redis_url == "redis://127.0.0.1:6379/9"


def test_factory_without_settings_uses_the_environment(
    monkeypatch: pytest.MonkeyPatch, fresh_settings: None, tmp_path: object
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("SHOP_DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    with TestClient(create_app()) as client:
        assert client.get("/health/ready").json()["database"] == "sqlite"


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValidationError, match="SHOP_JWT_SECRET"):
        Settings(environment="production", jwt_secret=DEV_SECRET)
    own_keys = {"k1": new_key()}
    production = Settings(environment="production", jwt_secret="x" * 40, field_keys=own_keys,
                          field_key_id="k1")  # fmt: skip
    assert production.environment == "production"


def test_production_refuses_the_development_field_key() -> None:
    with pytest.raises(ValidationError, match="SHOP_FIELD_KEYS"):
        Settings(environment="production", jwt_secret="x" * 40, field_keys={"dev": DEV_FIELD_KEY})


def test_current_field_key_must_be_configured() -> None:
    with pytest.raises(ValidationError, match="SHOP_FIELD_KEY_ID"):
        Settings(field_keys={"k1": new_key()}, field_key_id="k2")
