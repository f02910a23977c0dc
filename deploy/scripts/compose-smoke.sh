#!/usr/bin/env bash
# End-to-end smoke test of the compose stack, through the gateway only
# (http://127.0.0.1:${GATEWAY_PORT:-8080}), after `make up`:
#
#   health routes -> register -> token -> /users/me -> items CRUD -> bookmarks
#   CRUD -> refresh -> logout -> /metrics and unknown paths are JSON 404 ->
#   request id round trip (response, gateway log, service log) -> the login
#   zone's JSON 429 -> Swagger/OpenAPI -> Prometheus scrapes both services ->
#   containers are non-root / read-only and only the gateway publishes a port
#   -> the migration job is safe to run again -> stopping `resource` gives
#   JSON 502 on /items while /auth keeps working, and starting it recovers
#   with nothing else restarted.
#
# Needs curl and python3 on the host. Exits non-zero on the first failure.
# Usage: deploy/scripts/compose-smoke.sh [BASE_URL]
# Env: BASE_URL (default http://127.0.0.1:${GATEWAY_PORT:-8080}; the argument wins),
#      COMPOSE (default: docker compose, else docker-compose)
set -euo pipefail

BASE_URL=${1:-${BASE_URL:-http://127.0.0.1:${GATEWAY_PORT:-8080}}}
if [ -z "${COMPOSE:-}" ]; then
    if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"; else COMPOSE=docker-compose; fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
body=$work/body
headers=$work/headers
step=0
started=$(date +%s)

say() { printf '\033[36msmoke:\033[0m %s\n' "$*"; }
fail() {
    printf '\033[31msmoke: FAILED:\033[0m %s\n' "$*" >&2
    if [ -s "$body" ]; then echo "--- last response body:" >&2; head -c 2000 "$body" >&2; echo >&2; fi
    exit 1
}
ok() { step=$((step + 1)); printf '  \033[32mok %2d\033[0m %s\n' "$step" "$*"; }

# req METHOD PATH [curl args...] -> sets $status; body in $body, headers in $headers
req() {
    local method=$1 path=$2
    shift 2
    status=$(curl -sS -o "$body" -D "$headers" -w '%{http_code}' -X "$method" --max-time 20 "$@" "$BASE_URL$path") \
        || fail "$method $path: curl failed"
}
expect() {  # expect STATUS description
    [ "$status" = "$1" ] || fail "$2: expected HTTP $1, got $status"
}
header() {  # header NAME -> value of the last such response header
    tr -d '\r' <"$headers" | awk -v name="$(echo "$1" | tr '[:upper:]' '[:lower:]')" \
        'BEGIN { FS = ": " } tolower($1) == name { value = substr($0, length($1) + 3) } END { print value }'
}
json() {  # json EXPR -> evaluates a Python expression over the body as `d`
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); r = eval(sys.argv[2]); print(r if not isinstance(r, (dict, list)) else json.dumps(r))' "$body" "$1"
}
expect_problem() {  # expect_problem STATUS description
    expect "$1" "$2"
    case "$(header content-type)" in application/problem+json*) ;; *) fail "$2: not application/problem+json" ;; esac
    [ "$(json 'd["status"]')" = "$1" ] || fail "$2: problem body status is not $1"
    [ "$(json 'd["request_id"]')" = "$(header x-request-id)" ] || fail "$2: problem request_id != X-Request-ID"
}

say "against $BASE_URL (compose: $COMPOSE)"

# --- health -------------------------------------------------------------------
req GET /healthz; expect 200 "GET /healthz"; ok "gateway /healthz"
for svc in auth resource; do
    req GET "/$svc/health"; expect 200 "GET /$svc/health"
    [ "$(json 'd["status"]')" = ok ] || fail "/$svc/health status is not ok"
done
ok "/auth/health and /resource/health: ok (database + schema)"

# --- register, token ------------------------------------------------------------
email="smoke-$(date +%s)-$RANDOM@example.com"
password="smoke test password $RANDOM"
req POST /auth/register -H 'Content-Type: application/json' \
    --data "{\"email\": \"$email\", \"password\": \"$password\"}"
expect 201 "register"; user_id=$(json 'd["id"]'); ok "register -> 201"
req POST /auth/token --data-urlencode "username=$email" --data-urlencode "password=$password"
expect 200 "token"
access=$(json 'd["access_token"]'); refresh=$(json 'd["refresh_token"]')
[ "$(json 'd["token_type"]')" = bearer ] || fail "token_type is not bearer"
ok "token -> 200 bearer"
auth=(-H "Authorization: Bearer $access")
req GET /users/me "${auth[@]}"; expect 200 "users/me"
[ "$(json 'd["id"]')" = "$user_id" ] || fail "/users/me is someone else"
ok "/users/me"

# --- items --------------------------------------------------------------------------
req POST /items/ "${auth[@]}" -H 'Content-Type: application/json' --data '{"title": "Smoke lamp", "price": "9.5"}'
expect 201 "create item"; item=$(json 'd["id"]')
[ "$(json 'd["price"]')" = "9.50" ] || fail "item price is not 9.50"
req GET "/items/?limit=5" "${auth[@]}"; expect 200 "list items"
[ "$(json '[r["id"] for r in d] == ["'"$item"'"]')" = True ] || fail "item list is not exactly the new item"
req GET "/items/$item" "${auth[@]}"; expect 200 "get item"
req PATCH "/items/$item" "${auth[@]}" -H 'Content-Type: application/json' --data '{"is_available": false}'
expect 200 "patch item"; [ "$(json 'd["is_available"]')" = False ] || fail "patch did not apply"
req DELETE "/items/$item" "${auth[@]}"; expect 204 "delete item"
req GET "/items/$item" "${auth[@]}"; expect_problem 404 "deleted item"
ok "items: create, list, get, patch, delete, 404 after"

# --- bookmarks ----------------------------------------------------------------------
req POST /bookmarks/ "${auth[@]}" -H 'Content-Type: application/json' \
    --data '{"url": "https://example.com/smoke", "title": "Smoke", "tags": ["ci"]}'
expect 201 "create bookmark"; bookmark=$(json 'd["id"]')
req POST /bookmarks/ "${auth[@]}" -H 'Content-Type: application/json' \
    --data '{"url": "https://example.com/smoke", "title": "again"}'
expect_problem 409 "duplicate bookmark"
req GET /bookmarks/ "${auth[@]}"; expect 200 "list bookmarks"
req PATCH "/bookmarks/$bookmark" "${auth[@]}" -H 'Content-Type: application/json' --data '{"title": "Smoked"}'
expect 200 "patch bookmark"
req DELETE "/bookmarks/$bookmark" "${auth[@]}"; expect 204 "delete bookmark"
ok "bookmarks: create, duplicate 409, list, patch, delete"

# --- refresh, logout --------------------------------------------------------------------
req POST /auth/refresh -H 'Content-Type: application/json' --data "{\"refresh_token\": \"$refresh\"}"
expect 200 "refresh"; new_refresh=$(json 'd["refresh_token"]'); new_access=$(json 'd["access_token"]')
[ "$new_refresh" != "$refresh" ] || fail "refresh token was not rotated"
req GET /items/ -H "Authorization: Bearer $new_access"; expect 200 "items with the refreshed token"
req POST /auth/logout -H 'Content-Type: application/json' --data "{\"refresh_token\": \"$new_refresh\"}"
expect 204 "logout"
req POST /auth/refresh -H 'Content-Type: application/json' --data "{\"refresh_token\": \"$new_refresh\"}"
expect_problem 401 "refresh after logout"
ok "refresh rotates; logout revokes"

# --- what the gateway hides -------------------------------------------------------------
for path in /metrics /livez /readyz /health /nope /auth/metrics; do
    req GET "$path"; expect_problem 404 "GET $path"
done
req GET /items/; expect_problem 401 "items without a token"
ok "/metrics, probes and unknown paths: JSON 404; no token: JSON 401"

# --- request id round trip ---------------------------------------------------------------
rid="smoke-$(date +%s)-$RANDOM"
req GET /users/me "${auth[@]}" -H "X-Request-ID: $rid" -H 'X-Forwarded-For: 6.6.6.6'
expect 200 "users/me with a request id"
[ "$(header x-request-id)" = "$rid" ] || fail "X-Request-ID not returned"
for _ in $(seq 1 20); do
    $COMPOSE logs --no-color gateway 2>/dev/null | grep -q "\"request_id\":\"$rid\"" \
        && $COMPOSE logs --no-color auth 2>/dev/null | grep -q "\"request_id\": \"$rid\"" && break
    sleep 0.5
done
$COMPOSE logs --no-color gateway | grep -q "\"request_id\":\"$rid\"" || fail "request id not in the gateway log"
$COMPOSE logs --no-color auth | grep "\"request_id\": \"$rid\"" | grep -q '"client_ip": "' \
    || fail "request id not in the auth service log"
$COMPOSE logs --no-color auth | grep "\"request_id\": \"$rid\"" | grep -q '6.6.6.6' \
    && fail "a client-supplied X-Forwarded-For reached the service"
ok "request id: response header, gateway log, service log; client X-Forwarded-For ignored"

# --- docs ---------------------------------------------------------------------------------
for prefix in auth resource; do
    req GET "/$prefix/docs"; expect 200 "/$prefix/docs"
    grep -q "/$prefix/openapi.json" "$body" || fail "/$prefix/docs does not load /$prefix/openapi.json"
    req GET "/$prefix/openapi.json"; expect 200 "/$prefix/openapi.json"
    [ "$(json '[s["flows"]["password"]["tokenUrl"] for s in d["components"]["securitySchemes"].values() if s["type"] == "oauth2"][0]')" = /auth/token ] \
        || fail "/$prefix/openapi.json: the Authorize button does not post to /auth/token"
done
ok "Swagger UI and OpenAPI for both services, Authorize -> /auth/token"

# --- the gateway's login zone: JSON 429 with Retry-After -----------------------------------------
# 25 logins at once, each for a different (unknown) account, so that the auth
# service's own per-account limits stay out of it: nginx's zone (5 r/s, burst
# 10) passes 11 and answers the rest itself.
sleep 2
seq 1 25 | xargs -P 25 -I{} curl -sS -o "$work/login{}.body" -D "$work/login{}.headers" --max-time 20 \
    -X POST --data-urlencode "username=nobody-{}-$RANDOM@example.com" --data-urlencode "password=wrong password" \
    "$BASE_URL/auth/login" || fail "parallel logins: curl failed"
gateway429=""
for n in $(seq 1 25); do
    if head -n 1 "$work/login$n.headers" | grep -q ' 429' && grep -q 'at the gateway' "$work/login$n.body"; then
        gateway429=$n
        break
    fi
done
[ -n "$gateway429" ] || fail "25 simultaneous logins were never rate limited by the gateway"
cp "$work/login$gateway429.body" "$body"; cp "$work/login$gateway429.headers" "$headers"; status=429
expect_problem 429 "rate-limited login"
[ "$(header retry-after)" = 1 ] || fail "the gateway's 429 has no Retry-After: 1"
sleep 2
ok "login zone: JSON 429 from the gateway, with Retry-After"

# --- prometheus scrapes both services ---------------------------------------------------------
targets=""
for _ in $(seq 1 40); do
    targets=$($COMPOSE exec -T prometheus wget -qO- 'http://127.0.0.1:9090/api/v1/targets?state=active' 2>/dev/null || true)
    if python3 -c 'import json, sys
t = json.loads(sys.argv[1])["data"]["activeTargets"]
up = {x["labels"]["job"] for x in t if x["health"] == "up"}
sys.exit(0 if {"auth", "resource"} <= up else 1)' "$targets" 2>/dev/null; then break; fi
    targets=""
    sleep 1
done
[ -n "$targets" ] || fail "prometheus does not report both auth and resource targets up"
ok "prometheus: auth and resource targets up"

# --- container hardening -------------------------------------------------------------------
published=$(docker inspect -f '{{.Name}} {{range $p, $b := .NetworkSettings.Ports}}{{if $b}}{{$p}}->{{range $b}}{{.HostIp}}:{{.HostPort}}{{end}} {{end}}{{end}}' $($COMPOSE ps -q))
while read -r name ports; do
    [ -z "$ports" ] && continue
    case "$name" in
        */*gateway*) [[ "$ports" == "8080/tcp->127.0.0.1:"* ]] || fail "gateway publishes $ports (want 127.0.0.1 only)" ;;
        *) fail "$name publishes $ports: only the gateway may" ;;
    esac
done <<<"$published"
for svc in auth resource gateway; do
    id=$($COMPOSE ps -q "$svc")
    user=$(docker exec "$id" id -u)
    [ "$user" != 0 ] || fail "$svc runs as root"
    [ "$(docker inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$id")" = true ] || fail "$svc root filesystem is writable"
done
ok "only the gateway publishes a port (127.0.0.1); auth/resource/gateway non-root, read-only"

# --- migrations are safe to run again ---------------------------------------------------------
$COMPOSE run --rm -T migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; fail "second migration run failed"; }
ok "migration job re-run: exit 0"

# --- outage of the resource service ----------------------------------------------------------
gateway_started=$(docker inspect -f '{{.State.StartedAt}}' "$($COMPOSE ps -q gateway)")
auth_started=$(docker inspect -f '{{.State.StartedAt}}' "$($COMPOSE ps -q auth)")
$COMPOSE stop resource >/dev/null 2>&1
req GET /items/ "${auth[@]}"
case "$status" in 502|503) ;; *) fail "/items with resource stopped: expected 502/503, got $status" ;; esac
expect_problem "$status" "/items with resource stopped"
outage_status=$status
req GET /auth/health; expect 200 "/auth/health with resource stopped"
req POST /auth/token --data-urlencode "username=$email" --data-urlencode "password=$password"
expect 200 "token with resource stopped"
access=$(json 'd["access_token"]'); auth=(-H "Authorization: Bearer $access")
ok "resource stopped: /items -> JSON $outage_status, /auth keeps working"
$COMPOSE start resource >/dev/null 2>&1
for _ in $(seq 1 60); do
    [ "$(docker inspect -f '{{.State.Health.Status}}' "$($COMPOSE ps -q resource)")" = healthy ] && break
    sleep 1
done
req GET /items/ "${auth[@]}"; expect 200 "/items after restarting resource"
[ "$(docker inspect -f '{{.State.StartedAt}}' "$($COMPOSE ps -q gateway)")" = "$gateway_started" ] || fail "gateway was restarted"
[ "$(docker inspect -f '{{.State.StartedAt}}' "$($COMPOSE ps -q auth)")" = "$auth_started" ] || fail "auth was restarted"
ok "resource started again: /items -> 200, gateway and auth untouched"

say "all $step checks passed in $(( $(date +%s) - started ))s"
