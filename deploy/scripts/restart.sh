#!/usr/bin/env bash
# `make restart SERVICE=resource`: replace every replica of a compose service
# with a new container - the image and settings compose has now (after
# `docker-compose build resource`, an edited .env, a rotated secret file) -
# without failing a request. A rolling update by surge, like a Deployment's:
#   1. start as many new replicas as there are (`up --scale 2N --no-recreate`:
#      the old ones are left alone) and wait until Docker says each is healthy
#      (/readyz: its database is reachable) and the gateway has taken each in
#      (deploy/nginx/upstreams.sh adds a replica once it is ready);
#   2. for each old replica: out of the gateway's upstreams (`drain`: nginx
#      reloads, and the script waits until its old workers, which held the
#      connections to the replica, have finished and exited - so no request,
#      a POST above all, is ever sent on a connection the replica is about to
#      close), then `docker stop` (SIGTERM: gunicorn's graceful shutdown;
#      stop_grace_period bounds it) and `docker rm`.
# Works from one replica too (it briefly runs two). With REPLICAS, it starts
# that many new ones instead: scaling up or down without failing a request
# (keep the number in .env, AUTH_REPLICAS / RESOURCE_REPLICAS, or the next
# `make up` goes back to it).
#
# Usage:   deploy/scripts/restart.sh SERVICE [REPLICAS=as many as run now]
# Env:     COMPOSE (the compose command, from the Makefile)
set -euo pipefail
cd "$(dirname "$0")/../.."
COMPOSE=${COMPOSE:-docker compose}

service=${1:-}
replicas=${2:-}
timeout=180
case "$service" in
    auth | resource) ;;
    *)
        echo "restart: SERVICE=auth or SERVICE=resource (the gateway reloads itself: docker exec <gateway> nginx -s reload)" >&2
        exit 2
        ;;
esac

log() { echo "restart: $(date -u +%H:%M:%S) $*"; }
ids() { $COMPOSE ps -q "$1" | sort; }
name() { docker inspect -f '{{.Name}}' "$1" | sed 's|^/||'; }
health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1"; }

gateway=$(ids gateway)
[ -n "$gateway" ] || { echo "restart: no gateway container: is the stack up (make up)?" >&2; exit 1; }
upstreams() { docker exec "$gateway" /docker-entrypoint.d/40-upstreams.sh "$@"; }
# Server lines of the service's upstream in the gateway's running configuration.
in_gateway() { docker exec "$gateway" grep -c "# $service:" /etc/nginx/conf.d/gateway.conf || true; }

mapfile -t old < <(ids "$service")
[ "${#old[@]}" -gt 0 ] || { echo "restart: no $service container: is the stack up (make up)?" >&2; exit 1; }
count=${#old[@]}
replicas=${replicas:-$count}
case "$replicas" in
    '' | *[!0-9]* | 0) echo "restart: REPLICAS must be a whole number above 0, not '$replicas'" >&2; exit 2 ;;
esac
started=$(date +%s)
deadline=$((started + timeout))

log "$service: starting $replicas new replica(s) beside the $count running"
$COMPOSE up -d --no-deps --no-recreate --scale "$service=$((count + replicas))" "$service" 2>&1 | sed 's/^/  /'
mapfile -t new < <(comm -13 <(printf '%s\n' "${old[@]}") <(ids "$service"))
for id in "${new[@]}"; do
    until [ "$(health "$id")" = healthy ]; do
        if [ "$(date +%s)" -gt "$deadline" ]; then
            echo "restart: $(name "$id") not healthy after ${timeout}s; the old replicas keep serving" >&2
            docker logs --tail 40 "$id" >&2 2>&1 || true
            exit 1
        fi
        sleep 0.5
    done
    log "$(name "$id"): ready"
done
until [ "$(in_gateway)" -ge $((count + replicas)) ]; do
    [ "$(date +%s)" -le "$deadline" ] || { echo "restart: the gateway did not take the new replicas in" >&2; exit 1; }
    sleep 0.2
done
log "$service: the gateway sends to the new replicas too"

for id in "${old[@]}"; do
    replica=$(name "$id")
    upstreams drain "$replica"
    log "$replica: out of the gateway, drained; stopping"
    docker stop "$id" >/dev/null
    docker rm "$id" >/dev/null
    upstreams undrain "$replica"
done
log "$service: $count replica(s) replaced by $replicas in $(($(date +%s) - started)) s"
