"""Least-privilege login roles for the services.

The migration role owns every table. Each service logs in with its own role
that can touch only its own tables: the resource role cannot read password
hashes, the auth role cannot touch items. Run by the migration job after
every upgrade, so new tables get their grants in the same step.
"""

import base64
import hashlib
import hmac
import secrets
import unicodedata

from sqlalchemy import Connection, text

AUTH_ROLE = "auth_svc"
RESOURCE_ROLE = "resource_svc"
# postgres-exporter's login: pg_monitor (statistics, settings, every
# session's state) and CONNECT, no table of ours. Its few connections are
# capped so a runaway exporter cannot take the services' slots.
MONITOR_ROLE = "monitor"
MONITOR_CONNECTION_LIMIT = 3

# Table privileges per role. alembic_version and schema_history are readable
# by both so their readiness probes can tell whether the schema is at their
# head or beyond it.
TABLE_GRANTS: dict[str, dict[str, str]] = {
    AUTH_ROLE: {
        "users": "SELECT, INSERT, UPDATE, DELETE",
        "refresh_tokens": "SELECT, INSERT, UPDATE, DELETE",
        "sessions": "SELECT, INSERT, UPDATE, DELETE",
        "alembic_version": "SELECT",
        "schema_history": "SELECT",
    },
    RESOURCE_ROLE: {
        "items": "SELECT, INSERT, UPDATE, DELETE",
        "bookmarks": "SELECT, INSERT, UPDATE, DELETE",
        # Kept by the database's triggers (which run as the migration role):
        # the service reads the counts and can never set one.
        "row_counts": "SELECT",
        "alembic_version": "SELECT",
        "schema_history": "SELECT",
    },
}

# Column privileges, for a role that may see that a row exists but nothing
# else in it: the resource service checks that a token's account still exists
# (only when a lookup came back empty) without any access to password hashes.
COLUMN_GRANTS: dict[str, dict[str, str]] = {
    RESOURCE_ROLE: {
        "users": "SELECT (id)",
        # Whether a token's session is still active: never what it was used from.
        "sessions": "SELECT (id, user_id, expires_at, revoked_at)",
    },
}


def scram_sha_256(password: str, *, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802,
    RFC 7677). Sending the verifier instead of the password keeps the
    password itself out of the server log and out of our error reports,
    should the statement fail. NFKC is SASLprep's normalisation; ASCII
    passwords are taken as they are."""
    salt = secrets.token_bytes(16)
    normalised = unicodedata.normalize("NFKC", password)
    salted = hashlib.pbkdf2_hmac("sha256", normalised.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    return f"SCRAM-SHA-256${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ensure_role(connection: Connection, role: str, password: str, *, options: str = "NOINHERIT") -> None:
    exists = connection.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role})
    verb = "ALTER" if exists else "CREATE"
    # Utility statements take no bind parameters: let the server quote.
    template = f"{verb} ROLE %I WITH LOGIN {options} PASSWORD %L"
    statement = connection.scalar(
        text("SELECT format(:template, CAST(:role AS text), CAST(:verifier AS text))"),
        {"template": template, "role": role, "verifier": scram_sha_256(password)},
    )
    connection.exec_driver_sql(statement)  # not text(): no ":name" in it is a bind


def apply_grants(connection: Connection) -> None:
    database = connection.scalar(text("SELECT current_database()"))
    for role, tables in TABLE_GRANTS.items():
        if not connection.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}):
            continue
        connection.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO {role}'))
        connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
        connection.execute(text(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}"))
        # REVOKE ALL ON a table also revokes its column privileges: re-grant both.
        grants = {**tables, **COLUMN_GRANTS.get(role, {})}
        for table, privileges in grants.items():
            connection.execute(text(f"GRANT {privileges} ON {table} TO {role}"))


# What an operator does when the migration role may not grant pg_monitor.
MONITOR_GRANT_FIX = (
    "as a superuser run GRANT pg_monitor TO <migration role> WITH ADMIN OPTION "
    "(deploy/postgres/migration-role.psql does on a new database), or leave MONITOR_DB_PASSWORD empty "
    "and create the monitoring role yourself (docs/deploy.md, Monitoring)"
)


def ensure_monitor_role(connection: Connection, password: str) -> bool:
    """The monitoring login: INHERIT, so pg_monitor's privileges are its own
    (postgres-exporter does no SET ROLE), CONNECT on this database only.
    False, and nothing made, when the migration role may not grant
    pg_monitor (a database made before it was given that right, or a managed
    one): monitoring must never stop a migration."""
    may_grant = connection.scalar(text("SELECT pg_has_role(current_user, 'pg_monitor', 'USAGE WITH ADMIN OPTION')"))
    if not may_grant:
        return False
    ensure_role(connection, MONITOR_ROLE, password, options=f"INHERIT CONNECTION LIMIT {MONITOR_CONNECTION_LIMIT}")
    database = connection.scalar(text("SELECT current_database()"))
    connection.execute(text(f"GRANT pg_monitor TO {MONITOR_ROLE}"))
    connection.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO {MONITOR_ROLE}'))
    return True
