#!/usr/bin/env bash
# Run by the postgres image once, when it initialises an empty data directory
# (from /docker-entrypoint-initdb.d): create the migration role.
set -euo pipefail
psql --username "$POSTGRES_USER" --dbname postgres --no-psqlrc \
    -v migrator_password="$(cat /run/secrets/migrator_password)" \
    -v app_db="$POSTGRES_DB" \
    -f /docker-entrypoint-initdb.d/migration-role.psql
