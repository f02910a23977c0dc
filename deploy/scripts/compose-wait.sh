#!/usr/bin/env bash
# Wait until every container of the compose project is healthy (services with
# a healthcheck), running (without one) or exited 0 (one-shot jobs such as
# migrate). The same as `docker compose up --wait`, which compose v1 lacks.
# Fails fast - with `ps` and the failing container's last log lines - when a
# container exits non-zero or turns unhealthy.
#
# Usage: deploy/scripts/compose-wait.sh [timeout_seconds=180]
# Env:   COMPOSE   the compose command (default: docker compose, else docker-compose)
set -euo pipefail

timeout=${1:-180}
if [ -z "${COMPOSE:-}" ]; then
    if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"; else COMPOSE=docker-compose; fi
fi

deadline=$(( $(date +%s) + timeout ))
fail() {
    echo "compose-wait: $1" >&2
    $COMPOSE ps >&2 || true
    if [ -n "${2:-}" ]; then
        echo "--- last log lines of $2" >&2
        docker logs --tail 40 "$2" >&2 2>&1 || true
    fi
    exit 1
}

while :; do
    ids=$($COMPOSE ps -q 2>/dev/null || true)
    [ -n "$ids" ] || fail "no containers in this project (did 'up' run?)"
    pending=()
    # shellcheck disable=SC2086
    while read -r name status health code; do
        name=${name#/}
        case "$status:$health" in
            running:healthy | running:none) ;;
            exited:*)
                [ "$code" = 0 ] || fail "$name exited with $code" "$name" ;;
            *:unhealthy)
                fail "$name is unhealthy" "$name" ;;
            restarting:* | dead:*)
                fail "$name is $status" "$name" ;;
            *) pending+=("$name($status/$health)") ;;
        esac
    done < <(docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}}' $ids)
    if [ "${#pending[@]}" -eq 0 ]; then
        echo "compose-wait: all containers healthy"
        exit 0
    fi
    [ "$(date +%s)" -lt "$deadline" ] || fail "still waiting after ${timeout}s for: ${pending[*]}"
    sleep 1
done
