#!/bin/sh
# The gateway's upstream servers, kept equal to the service replicas that are
# running (Docker Compose), so `--scale` and restarts need nothing by hand.
#
# nginx 1.22 resolves `server resource:8000` once, when it loads its
# configuration (no `resolve` parameter before 1.27.3): a replica added later
# would never get a request, and one restarted on a new address would be
# missed. So this script, mounted as /docker-entrypoint.d/40-upstreams.sh in
# the gateway container (compose only: Kubernetes has one Service address per
# service), rewrites each watched `server NAME:PORT params;` line of the
# rendered gateway.conf into one line per address NAME resolves to, and
# reloads nginx (gracefully: old workers finish what they hold) whenever that
# set changes. Docker's DNS answers for running containers only, so a stopped
# or crashed replica leaves within a second; until then `max_fails` keeps
# nginx off it.
#
#   40-upstreams.sh                from the image's entrypoint, before nginx
#                                  starts: renders once, then watches in the
#                                  background (every GATEWAY_UPSTREAMS_INTERVAL s)
#   40-upstreams.sh sync           render now; reload if anything changed
#   40-upstreams.sh drain NAME     take container NAME out of every upstream,
#                                  reload, and wait until no nginx worker
#                                  still holds a connection to it (make restart)
#   40-upstreams.sh undrain NAME   put it back (once it is ready)
#
# GATEWAY_UPSTREAMS_WATCH names what to watch, e.g. "auth:8000 resource:8000"
# (the same values as AUTH_UPSTREAM and RESOURCE_UPSTREAM); empty: nothing
# happens. Log lines are JSON, one per change.
set -eu

WATCH=${GATEWAY_UPSTREAMS_WATCH:-}
INTERVAL=${GATEWAY_UPSTREAMS_INTERVAL:-1}
STATE=/tmp/upstreams
CONF=/etc/nginx/conf.d/gateway.conf
SOURCE=$STATE/gateway.conf.rendered
DRAINED=$STATE/drained

log() {
    printf '{"timestamp":"%s","service":"gateway","logger":"gateway-upstreams","level":"%s","event":"%s"}\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2"
}

addresses() {
    getent ahostsv4 "$1" 2>/dev/null | awk '{print $1}' | sort -u
}

# Whether a replica answers 200 on /readyz (its database is reachable): a
# new address joins only then, so a replica that is still booting never
# takes a request. Addresses already in use stay (max_fails covers them).
ready() {
    # shellcheck disable=SC2016  # $1 and $2 are bash's, below
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2" &&
        printf "GET /readyz HTTP/1.0\r\nHost: gateway\r\n\r\n" >&3 &&
        head -n 1 <&3 | grep -q " 200 "' ready "$1" "$2" 2>/dev/null
}

# The rendered template with each watched server line expanded, on stdout.
render() {
    current=" $(awk '$1 == "server" && /# / {print $2}' "$CONF" | tr '\n' ' ')"
    drained=" "
    while read -r name; do
        drained="$drained$(addresses "$name" | tr '\n' ' ')"
    done <"$DRAINED"
    spec=""
    for upstream in $WATCH; do
        host=${upstream%:*}
        port=${upstream##*:}
        servers=""
        for address in $(addresses "$host"); do
            case "$drained" in *" $address "*) continue ;; esac
            case "$current" in
                *" $address:$port "*) ;;
                *) ready "$address" "$port" || continue ;;
            esac
            servers="$servers $address:$port"
        done
        spec="$spec;$upstream=$servers"
    done
    # No address at all (every replica stopped or drained): one server marked
    # down, so the upstream stays valid and nginx answers 502 at once.
    awk -v spec="$spec" '
        BEGIN {
            n = split(spec, entries, ";")
            for (i = 1; i <= n; i++) {
                if (entries[i] == "") continue
                split(entries[i], pair, "=")
                watched[pair[1]] = pair[2]
            }
        }
        $1 == "server" && ($2 in watched) {
            indent = substr($0, 1, index($0, "server") - 1)
            params = ""
            for (i = 3; i <= NF; i++) params = params " " $i
            sub(/;$/, "", params)
            count = split(watched[$2], servers, " ")
            if (count == 0) { print indent "server 127.0.0.1:1 down;  # " $2 " has no replica"; next }
            for (i = 1; i <= count; i++) print indent "server " servers[i] params ";  # " $2
            next
        }
        { print }
    ' "$SOURCE"
}

# Render; if the result differs from what nginx runs, swap it in and reload.
# One at a time (the watcher and `make restart` both call it).
sync() {
    (
        flock 9
        render >"$CONF.new"
        if cmp -s "$CONF.new" "$CONF"; then
            rm -f "$CONF.new"
            exit 0
        fi
        cp "$CONF" "$CONF.old"
        mv "$CONF.new" "$CONF"
        if ! nginx -t -q 2>/dev/null; then
            mv "$CONF.old" "$CONF"
            log error "the rendered upstreams failed nginx -t; kept the previous ones"
            exit 1
        fi
        nginx -s reload
        log info "upstreams changed:$(echo "$spec" | tr ';' ' ')"
    ) 9>"$STATE/lock"
}

# Old workers (after a reload) exit once their requests and upstream
# connections are done: wait for that, up to the proxy timeouts.
wait_for_old_workers() {
    deadline=$(($(date +%s) + 45))
    while grep -qs 'shutting down' /proc/[0-9]*/cmdline; do
        if [ "$(date +%s)" -gt "$deadline" ]; then
            log warning "old nginx workers still running after 45 s"
            return 1
        fi
        sleep 0.2
    done
}

main() {
    mkdir -p "$STATE"
    touch "$DRAINED"
    case "${1:-start}" in
        start)
            [ -n "$WATCH" ] || exit 0
            cp "$CONF" "$SOURCE"
            render >"$CONF.new" && mv "$CONF.new" "$CONF"
            log info "watching upstreams: $WATCH"
            # In the background, past the entrypoint's exec of nginx; its pid
            # for the healthcheck.
            (
                while sleep "$INTERVAL"; do
                    sync || true
                done
            ) </dev/null &
            echo $! >"$STATE/watcher.pid"
            ;;
        sync)
            sync
            ;;
        drain)
            grep -qx "$2" "$DRAINED" || echo "$2" >>"$DRAINED"
            sync
            wait_for_old_workers
            ;;
        undrain)
            grep -vx "$2" "$DRAINED" >"$DRAINED.new" || true
            mv "$DRAINED.new" "$DRAINED"
            sync
            ;;
        *)
            echo "usage: $0 [start|sync|drain NAME|undrain NAME]" >&2
            exit 2
            ;;
    esac
}

main "$@"
