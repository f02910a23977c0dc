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


# --- Redis, the rate-limit store -----------------------------------------------------------
REDIS = "redis://redis:6379/0"


@pytest.mark.parametrize("password", ["", "changeme", "password"])
def test_production_refuses_a_redis_without_a_real_password(password: str) -> None:
    with pytest.raises(ValidationError, match=r"REDIS_PASSWORD .* is missing or a placeholder"):
        ServiceSettings(
            environment="production",
            db_password="a-real-password",
            rate_limit_storage_uri=REDIS,
            redis_password=password,
        )


# The Redis client's socket timeouts (RATE_LIMIT_STORAGE_TIMEOUT's default).
TIMEOUTS = {"socket_timeout": 0.1, "socket_connect_timeout": 0.1}


@pytest.mark.parametrize("uri", ["rediss://redis:6380/0", "redis+unix:///run/redis.sock", "valkey://v:6379"])
def test_every_redis_scheme_needs_the_password(uri: str) -> None:
    with pytest.raises(ValidationError, match="REDIS_PASSWORD"):
        ServiceSettings(environment="production", db_password="a-real-password", rate_limit_storage_uri=uri)


def test_the_password_reaches_the_redis_client_apart_from_the_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_PASSWORD", "r3dis-pass")
    settings = ServiceSettings(db_password="a-real-password", rate_limit_storage_uri=REDIS)
    assert settings.rate_limit_storage_options == {**TIMEOUTS, "password": "r3dis-pass"}
    assert settings.rate_limit_storage_uri == REDIS  # nothing secret in the URI
    assert "r3dis-pass" not in repr(settings) and "r3dis-pass" not in str(settings.model_dump())


def test_a_password_inside_the_uri_is_accepted_once() -> None:
    settings = ServiceSettings(db_password="a-real-password", rate_limit_storage_uri="rediss://:s3cret-pw@redis:6380/0")
    assert settings.rate_limit_storage_options == TIMEOUTS  # the client reads the URI's password
    with pytest.raises(ValidationError, match="give it once"):
        ServiceSettings(
            environment="development", rate_limit_storage_uri="redis://:s3cret-pw@redis/0", redis_password="other-pw"
        )


def test_memory_storage_needs_no_password_and_gets_no_options() -> None:
    settings = ServiceSettings(db_password="a-real-password", redis_password="r3dis-pass")
    assert settings.rate_limit_storage_uri == "memory://" and settings.rate_limit_storage_options == {}


def test_development_may_use_a_redis_without_a_password() -> None:
    assert (
        ServiceSettings(environment="development", rate_limit_storage_uri=REDIS).rate_limit_storage_options == TIMEOUTS
    )


def test_redis_calls_wait_briefly_and_the_fallback_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATE_LIMIT_STORAGE_TIMEOUT", "0.25")
    monkeypatch.setenv("RATE_LIMIT_STORAGE_FALLBACK", "open")
    settings = ServiceSettings(environment="development", rate_limit_storage_uri=REDIS)
    assert settings.rate_limit_storage_options == {"socket_timeout": 0.25, "socket_connect_timeout": 0.25}
    assert settings.rate_limit_storage_fallback == "open"
    monkeypatch.setenv("RATE_LIMIT_STORAGE_FALLBACK", "refuse")
    with pytest.raises(ValidationError, match="rate_limit_storage_fallback"):
        ServiceSettings(environment="development")


def test_a_refusal_never_prints_the_secrets_it_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASSWORD", "db-pass-4-logs")
    monkeypatch.setenv("REDIS_PASSWORD", "redis-pass-4-logs")
    monkeypatch.setenv("RATE_LIMIT_STORAGE_URI", "redis://:uri-pass-4-logs@redis/0")
    with pytest.raises(ValidationError) as refused:
        ServiceSettings(environment="production")
    assert "give it once" in str(refused.value)
    assert "4-logs" not in str(refused.value)


def test_the_migration_job_ignores_the_rate_limit_store(monkeypatch: pytest.MonkeyPatch) -> None:
    from migrations.settings import MigrationSettings

    monkeypatch.setenv("RATE_LIMIT_STORAGE_URI", REDIS)  # compose and the k8s config share it with the job
    settings = MigrationSettings(
        environment="production", db_password="pw-1", auth_db_password="pw-2", resource_db_password="pw-3"
    )
    assert settings.is_production
