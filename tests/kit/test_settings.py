import pytest
from pydantic import ValidationError

from auth_service.config import AuthSettings
from servicekit.settings import ServiceSettings


def test_production_refuses_a_missing_database_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    with pytest.raises(ValidationError, match="DB_PASSWORD is missing or a placeholder"):
        ServiceSettings(environment="production")


@pytest.mark.parametrize("placeholder", ["changeme", "postgres", "password"])
def test_production_refuses_placeholder_passwords(placeholder: str) -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        ServiceSettings(environment="production", db_password=placeholder)


def test_production_is_the_default_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    assert ServiceSettings(db_password="a-real-password").is_production


def test_development_accepts_an_empty_password() -> None:
    assert not ServiceSettings(environment="development").is_production


def test_auth_refuses_to_start_without_a_signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWT_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("JWT_PRIVATE_KEY_FILE", raising=False)
    with pytest.raises(ValidationError, match="No signing key"):
        AuthSettings(environment="development")


def test_auth_reads_the_key_from_the_environment(monkeypatch: pytest.MonkeyPatch, signing_key_file) -> None:
    monkeypatch.setenv("JWT_PRIVATE_KEY_FILE", str(signing_key_file))
    monkeypatch.setenv("DB_PASSWORD", "a-real-password")
    settings = AuthSettings()
    assert settings.private_key_pem == signing_key_file.read_bytes()
    assert settings.is_production


def test_unreadable_key_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ValidationError, match="JWT_PRIVATE_KEY_FILE cannot be read"):
        AuthSettings(environment="development", jwt_private_key_file=tmp_path / "missing.pem")


def test_a_malformed_rate_limit_fails_at_start_up(monkeypatch: pytest.MonkeyPatch, signing_key_file) -> None:
    monkeypatch.setenv("LOGIN_RATE_LIMIT", "twenty a minute")
    with pytest.raises(ValidationError, match="login_rate_limit"):
        AuthSettings(environment="test", jwt_private_key_file=signing_key_file)
    monkeypatch.setenv("LOGIN_RATE_LIMIT", "5 per second")
    assert AuthSettings(environment="test", jwt_private_key_file=signing_key_file).login_rate_limit == "5 per second"
