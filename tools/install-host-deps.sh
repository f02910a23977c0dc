#!/usr/bin/env bash
# Make sure this host can run the stack without Docker (`make dev`, the
# end-to-end tests): PostgreSQL server binaries (initdb/pg_ctl), nginx,
# redis-server, openssl and envsubst (the tests render the gateway template
# as the nginx image does); chromium, the headless browser that drives the API
# docs (tests/gateway/test_docs_browser.py); promtool and amtool (Debian's
# prometheus and prometheus-alertmanager), which check and unit-test the alert
# rules and the Alertmanager config; and kubectl, which renders the
# manifests. `--bench` also wants wrk (for `make bench`).
#
# On Debian/Ubuntu as root, whatever is missing is installed with apt-get
# (one `apt-get update`, `--no-install-recommends`), with distro services
# kept from starting (a temporary policy-rc.d) and disabled afterwards, so
# nothing is left running or enabled. Anywhere else it prints what to
# install and exits 1.
#
# Usage: tools/install-host-deps.sh [--bench] [--check]
#   --bench   also require wrk
#   --check   only report; never install (exit 1 when something is missing)
set -euo pipefail

want_bench=0
check_only=0
for arg in "$@"; do
    case "$arg" in
        --bench) want_bench=1 ;;
        --check) check_only=1 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "install-host-deps: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

say() { printf 'install-host-deps: %s\n' "$*" >&2; }

# PostgreSQL server binaries: pg_config --bindir (it may belong to the client
# package only, so check initdb is really there), else the newest
# /usr/lib/postgresql/*/bin, else PATH.
pg_bindir() {
    local dir
    if command -v pg_config >/dev/null 2>&1; then
        dir=$(pg_config --bindir 2>/dev/null || true)
        if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
    fi
    for dir in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5 -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"; return 0
    fi
    return 1
}

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

missing_pkgs=()
missing_what=()
check() {
    missing_pkgs=(); missing_what=()
    pg_bindir >/dev/null || { missing_pkgs+=(postgresql); missing_what+=("PostgreSQL server (initdb, pg_ctl)"); }
    have nginx || { missing_pkgs+=(nginx-core); missing_what+=("nginx"); }
    have redis-server || { missing_pkgs+=(redis-server); missing_what+=("redis-server"); }
    have openssl || { missing_pkgs+=(openssl); missing_what+=("openssl"); }
    have envsubst || { missing_pkgs+=(gettext-base); missing_what+=("envsubst (gettext-base)"); }
    # (CHROMIUM names another Chromium or Chrome for that test.)
    { [ -x "${CHROMIUM:-}" ] || have chromium; } || { missing_pkgs+=(chromium); missing_what+=("chromium (the API docs' browser test)"); }
    have promtool || { missing_pkgs+=(prometheus); missing_what+=("promtool (Debian's prometheus: checks and tests the alert rules)"); }
    have amtool || { missing_pkgs+=(prometheus-alertmanager); missing_what+=("amtool (Debian's prometheus-alertmanager: checks the Alertmanager config)"); }
    if [ "$want_bench" = 1 ]; then
        have wrk || { missing_pkgs+=(wrk); missing_what+=("wrk"); }
    fi
}

# kubectl renders the Kubernetes manifests (its built-in kustomize, v5 since
# kubectl 1.27). Debian's kubernetes-client is 1.20, too old for kustomize
# components: say where to get one rather than install the wrong one.
kubectl_ok() {
    local minor
    minor=$(kubectl version --client -o json 2>/dev/null | python3 -c 'import json, sys; print(int(json.load(sys.stdin)["clientVersion"]["minor"].rstrip("+")))' 2>/dev/null) || return 1
    [ "$minor" -ge 27 ]
}
if ! kubectl_ok; then
    say "missing: kubectl >= 1.27 (renders k8s/ with its built-in kustomize)"
    say "install it from https://kubernetes.io/docs/tasks/tools/ (Debian/Ubuntu: the pkgs.k8s.io apt repository)"
    exit 1
fi

check
if [ "${#missing_pkgs[@]}" -eq 0 ]; then
    say "ok: postgres $(pg_bindir), nginx, redis-server, openssl, chromium, promtool, amtool$([ "$want_bench" = 1 ] && echo ', wrk')"
    exit 0
fi

can_apt=0
if [ "$check_only" = 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ -r /etc/debian_version ]; then
    can_apt=1
fi

# Debian packages Chromium as `chromium`; Ubuntu's package of that name is a
# wrapper around the snap, which a container cannot run: there, only say so.
is_debian() { grep -qsx 'ID="\{0,1\}debian"\{0,1\}' /etc/os-release; }
if [ "$can_apt" = 1 ] && [[ " ${missing_pkgs[*]} " == *" chromium "* ]] && ! is_debian; then
    can_apt=0
fi

if [ "$can_apt" = 0 ]; then
    say "missing: ${missing_what[*]}"
    say "install them, for example on Debian/Ubuntu:"
    say "    sudo apt-get install --no-install-recommends ${missing_pkgs[*]}"
    say "on macOS (Homebrew): brew install postgresql@15 nginx redis openssl prometheus alertmanager$([ "$want_bench" = 1 ] && echo ' wrk') and brew install --cask chromium"
    say "(Ubuntu ships Chromium as a snap: any Chromium or Chrome will do for the browser test, named by CHROMIUM=/path/to/it)"
    exit 1
fi

# Keep maintainer scripts from starting the distro services (nginx on :80,
# a postgresql cluster on :5432, redis on :6379) while installing.
policy=/usr/sbin/policy-rc.d
policy_backup=""
if [ -e "$policy" ]; then
    policy_backup=$(mktemp)
    cp -p "$policy" "$policy_backup"
fi
restore_policy() {
    if [ -n "$policy_backup" ]; then mv -f "$policy_backup" "$policy"; else rm -f "$policy"; fi
}
trap restore_policy EXIT
printf '#!/bin/sh\nexit 101\n' >"$policy"
chmod 755 "$policy"

say "installing: ${missing_pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null

# Belt and braces: whatever a package may have started or enabled, stop and
# disable it. Only the distro units, never processes we did not install.
for unit in nginx redis-server postgresql prometheus prometheus-node-exporter prometheus-alertmanager; do
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl disable --now "$unit" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$unit" ]; then
        "/etc/init.d/$unit" stop >/dev/null 2>&1 || true
        command -v update-rc.d >/dev/null 2>&1 && update-rc.d -f "$unit" disable >/dev/null 2>&1 || true
    fi
done

check
if [ "${#missing_pkgs[@]}" -ne 0 ]; then
    say "still missing after apt-get install: ${missing_what[*]}"
    exit 1
fi
say "ok: postgres $(pg_bindir), nginx, redis-server, openssl, chromium, promtool, amtool$([ "$want_bench" = 1 ] && echo ', wrk')"
