#!/usr/bin/env bash
# Generate the development secrets `docker-compose.yml` mounts, into a
# git-ignored folder (default ./secrets, or $1). Idempotent: a file that
# already exists is never overwritten, so re-running only fills gaps.
#
#   postgres_password       the PostgreSQL superuser (the db container only)
#   migrator_password       the migration role (owns the schema; not a superuser)
#   auth_db_password        login role auth_svc (created by the migration job)
#   resource_db_password    login role resource_svc
#   monitor_db_password     login role `monitor` (pg_monitor, no table access;
#                           created by the migration job) for postgres-exporter
#   redis_password          Redis's password (the services' rate-limit store)
#   redis_monitor_password  Redis user `monitor` (redis_exporter): INFO and a few
#                           read-only commands, no key
#   redis_acl               the ACL file Redis loads: its default user with
#                           the SHA-256 of redis_password (never the password
#                           itself) and no admin or dangerous commands, and the
#                           `monitor` user likewise; always derived from the two
#                           passwords, so rotating those files rotates it
#   redis_exporter_passwords.json
#                           redis_exporter's password file (a JSON map from the
#                           Redis address to the monitor user's password),
#                           derived from redis_monitor_password
#   jwt_private_key         Ed25519 signing key, PEM (PKCS#8) - auth service only
#   jwt_public_key.pem      its public half (for a resource service configured
#                           with a static key instead of the JWKS URL)
#
# Permissions: the folder is 0700 (only you, on the host); the files are 0644
# because compose bind-mounts each one into containers that read it as a
# non-root user (postgres and redis uid 999, the app uid 10001). Never commit
# them, never copy them into an image. To rotate, delete a file and run this
# again (and re-run the migration job for the database role passwords;
# recreate redis and the services for Redis's).
set -euo pipefail
umask 077

dir=${1:-secrets}
command -v openssl >/dev/null 2>&1 || { echo "make-secrets: openssl is required" >&2; exit 1; }
mkdir -p "$dir"
chmod 700 "$dir"

created=()
random_password() {
    # 32 characters from [A-Za-z0-9]: safe in URLs, DSNs and shells
    local out=""
    while [ "${#out}" -lt 32 ]; do
        out+=$(openssl rand -base64 48 | tr -dc 'A-Za-z0-9')
    done
    printf '%s' "${out:0:32}"
}

for name in postgres_password migrator_password auth_db_password resource_db_password monitor_db_password \
    redis_password redis_monitor_password; do
    file="$dir/$name"
    if [ ! -s "$file" ]; then
        random_password >"$file.tmp"
        mv "$file.tmp" "$file"
        created+=("$name")
    fi
done

# A file derived from others: (re)written whenever it differs from what they
# give, so rotating a password rotates what is made from it.
derive() {
    if [ ! -s "$1" ] || [ "$(cat "$1")" != "$2" ]; then
        printf '%s\n' "$2" >"$1.tmp"
        mv "$1.tmp" "$1"
        created+=("$(basename "$1")")
    fi
}

# Redis keeps only a digest of its password (ACL `#<sha256>`); the limiter
# needs what KEYS (reset) and the admin commands offer in no deployment.
# The monitoring user (redis_exporter) reads INFO and a few introspection
# commands, and no key at all.
sha256() { printf '%s' "$(cat "$1")" | openssl dgst -sha256 -r | cut -d' ' -f1; }
acl="$dir/redis_acl"
wanted="user default on #$(sha256 "$dir/redis_password") ~* &* +@all -@admin -@dangerous
user monitor on #$(sha256 "$dir/redis_monitor_password") resetkeys resetchannels -@all +ping +info +select \
+client|setname +client|list +config|get +slowlog|get +slowlog|len +latency|latest +cluster|info +memory|stats"
derive "$acl" "$wanted"

exporter="$dir/redis_exporter_passwords.json"
derive "$exporter" "{\"redis://redis:6379\": \"$(cat "$dir/redis_monitor_password")\"}"

key="$dir/jwt_private_key"
pub="$dir/jwt_public_key.pem"
if [ ! -s "$key" ]; then
    openssl genpkey -algorithm ed25519 -out "$key.tmp" 2>/dev/null
    mv "$key.tmp" "$key"
    created+=(jwt_private_key)
    rm -f "$pub"
fi
if [ ! -s "$pub" ]; then
    openssl pkey -in "$key" -pubout -out "$pub"
    created+=(jwt_public_key.pem)
fi

chmod 644 "$dir"/postgres_password "$dir"/migrator_password "$dir"/auth_db_password "$dir"/resource_db_password \
    "$dir"/monitor_db_password "$dir"/redis_password "$dir"/redis_monitor_password "$acl" "$exporter" "$key" "$pub"

if [ "${#created[@]}" -gt 0 ]; then
    echo "make-secrets: created ${created[*]} in $dir/"
else
    echo "make-secrets: $dir/ already complete; nothing changed"
fi
