from pydantic import SecretStr, model_validator

from servicekit.settings import PLACEHOLDER_SECRETS, ConfigurationError, ServiceSettings


class MigrationSettings(ServiceSettings):
    """The migration role (DB_USER, owner of the schema) and the passwords
    it gives the services' least-privilege login roles."""

    service_name: str = "migrate"
    uses_rate_limit_storage = False
    # Migrations may legitimately take longer than any request.
    db_statement_timeout_ms: int = 0
    auth_db_password: SecretStr = SecretStr("")
    resource_db_password: SecretStr = SecretStr("")
    # The monitoring role (pg_monitor) for postgres-exporter; empty: no
    # monitoring role (a managed database's own, or none).
    monitor_db_password: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _refuse_placeholder_role_passwords(self) -> "MigrationSettings":
        if self.is_production:
            for name in ("auth_db_password", "resource_db_password"):
                if getattr(self, name).get_secret_value() in PLACEHOLDER_SECRETS:
                    raise ConfigurationError(f"{name.upper()} is missing or a placeholder")
        return self
