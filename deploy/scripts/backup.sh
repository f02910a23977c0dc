#!/usr/bin/env bash
# `make backup` and `make restore FILE=...`: the compose database, dumped and
# restored with PostgreSQL's own tools inside the `db` container (so their
# major version is the server's).
#
#   backup.sh backup               -> backups/app-<UTC timestamp>.dump (pg_dump, custom format)
#   backup.sh restore <file.dump>  -> that dump back in the database, the stack serving it
#
# Roles are not in a dump (they belong to the cluster, not the database): a
# restore runs the migration job first, which makes the service roles (the
# image made the database and the migration role when the volume was new),
# stops the services, restores with `pg_restore --clean --if-exists`, runs the
# migration job again (a no-op, unless the dump predates a migration: then it
# brings the schema up to this release), starts everything and prints what
# the database holds.
#
# Environment: COMPOSE (the compose command, from the Makefile).
set -euo pipefail
cd "$(dirname "$0")/../.."
COMPOSE=${COMPOSE:-docker compose}
BACKUPS=backups

# pg_* as the superuser, over TCP inside the container; the password is read
# there from the secret file, never on a command line.
in_db() {
    # shellcheck disable=SC2016  # expanded inside the container
    $COMPOSE exec -T db sh -c 'PGPASSWORD="$(cat /run/secrets/postgres_password)" exec "$@"' sh "$@"
}

counts() {
    in_db psql -h 127.0.0.1 -U postgres -d app -X -A -t -F ' ' -c \
        "SELECT 'users', count(*) FROM users UNION ALL SELECT 'items', count(*) FROM items
         UNION ALL SELECT 'bookmarks', count(*) FROM bookmarks UNION ALL SELECT 'sessions', count(*) FROM sessions"
}

case "${1:-}" in
backup)
    mkdir -p "$BACKUPS"
    chmod 700 "$BACKUPS"
    file="$BACKUPS/app-$(date -u +%Y%m%dT%H%M%SZ).dump"
    # Into a partial file first: an interrupted dump never looks like a backup.
    in_db pg_dump -h 127.0.0.1 -U postgres -d app --format=custom > "$file.partial"
    chmod 600 "$file.partial"
    mv "$file.partial" "$file"
    echo "backup: $file ($(wc -c < "$file") bytes)"
    counts | sed 's/^/  /'
    ;;
restore)
    file=${2:-}
    if [ -z "$file" ] || [ ! -s "$file" ]; then
        echo "restore: name a dump, e.g. make restore FILE=$BACKUPS/app-20260101T000000Z.dump" >&2
        exit 2
    fi
    $COMPOSE up -d db
    COMPOSE="$COMPOSE" bash deploy/scripts/compose-wait.sh 120
    $COMPOSE run --rm migrate            # the service roles the dump's grants name
    $COMPOSE stop gateway auth resource  # nothing holds a connection or a cached plan meanwhile
    in_db pg_restore -h 127.0.0.1 -U postgres -d app --clean --if-exists --exit-on-error < "$file"
    $COMPOSE run --rm migrate            # a no-op for a dump of this release
    $COMPOSE up -d
    COMPOSE="$COMPOSE" bash deploy/scripts/compose-wait.sh 240
    echo "restore: $file is back"
    counts | sed 's/^/  /'
    ;;
*)
    echo "usage: $0 backup | restore <file.dump>" >&2
    exit 2
    ;;
esac
