"""Settings come from SHOP_* variables; the factory builds an app from them when given none."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from sample_service.config import DEV_FIELD_KEY, Settings, get_settings
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


def test_production_refuses_to_run_without_a_configured_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SHOP_JWT_SECRET", raising=False)
    with pytest.raises(ValidationError, match="SHOP_JWT_SECRET"):
        Settings(environment="production")
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


def test_a_configured_secret_is_used_and_reported_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_JWT_SECRET", "s" * 40)
    settings = Settings()
    assert settings.jwt_secret == "s" * 40 and not settings.jwt_secret_generated
    assert "s" * 40 not in repr(settings)


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValidationError, match="jwt_secret"):
        Settings(jwt_secret="short")


def _default_secret_of_a_new_process() -> str:
    code = "from sample_service.config import Settings; print(Settings().jwt_secret)"
    env = {"PATH": "/usr/bin:/bin"}  # no SHOP_JWT_SECRET
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_without_a_configured_secret_each_process_makes_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SHOP_JWT_SECRET", raising=False)
    first, second = _default_secret_of_a_new_process(), _default_secret_of_a_new_process()
    assert len(first) >= 32 and first != second
    # Within one process it is stable: tokens signed by one app verify in another.
    assert Settings().jwt_secret == Settings().jwt_secret and Settings().jwt_secret_generated


def test_no_secret_is_published_in_the_code() -> None:
    import sample_service.config as config

    assert not hasattr(config, "DEV_SECRET")
