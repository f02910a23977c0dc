#!/bin/sh
# The production backup (the `backup` CronJob, backup.yaml): a pg_dump of the
# application database in custom format into the `backups` volume, then the
# dumps older than BACKUP_RETENTION_DAYS removed. The same dump as `make
# backup` in compose, restored the same way (README, "Data").
#
# Connection from the files the Secrets project under /run/secrets (database:
# host, port, name; migrator-db: the migration role's password, the owner of
# every table); the password goes to libpq in the environment, never on a
# command line. pg_dump refuses a server newer than itself: the check below
# says so in plain words before it tries. SECRETS_DIR and BACKUP_DIR move
# the two folders (tests/k8s/test_backup.py runs it on the host).
set -eu
umask 077
secrets=${SECRETS_DIR:-/run/secrets}
backups=${BACKUP_DIR:-/backups}

PGHOST=$(cat "$secrets/db_host")
PGPORT=$(cat "$secrets/db_port")
PGDATABASE=$(cat "$secrets/db_name")
PGPASSWORD=$(cat "$secrets/db_password")
export PGHOST PGPORT PGDATABASE PGPASSWORD

server=$(psql -X -A -t -c "SHOW server_version_num")
client=$(pg_dump --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/')
if [ "$client" -lt $((server / 10000)) ]; then
    echo "backup: pg_dump $client is older than the server ($server): use an image of at least its major version" >&2
    exit 1
fi

file="$backups/app-$(date -u +%Y%m%dT%H%M%SZ).dump"
pg_dump --format=custom --no-password --file="$file.partial"
mv "$file.partial" "$file"
echo "backup: $file, $(wc -c <"$file") bytes, pg_dump $client, server $server"
find "$backups" -name 'app-*.dump' -mtime +"${BACKUP_RETENTION_DAYS:-14}" -print -delete
