#!/usr/bin/env bash
# A release to a Kubernetes cluster, in the order that keeps it safe: the
# deploy workflow's jobs call it step by step (`migrate`, then `rollout`, then
# `smoke`), and tests/deploy/test_deploy_script.py rehearses it with a stub
# kubectl.
#
#   deploy.sh migrate   images set -> render -> the finished Job removed ->
#                       everything but the services applied (config, secrets
#                       by reference, the Job) -> the Job waited for until it
#                       completes or fails -> its logs printed; a failed Job
#                       fails the step, and nothing is rolled out
#   deploy.sh rollout   images set -> render -> apply -> `rollout status` of
#                       every Deployment; one that does not become ready is
#                       rolled back (`rollout undo`) and the step fails
#   deploy.sh smoke     read-only checks through the public URL, then one
#                       throwaway account, deleted at the end
#
# Environment:
#   OVERLAY        k8s/overlays/staging-like folder to deploy (default k8s/overlays/prod)
#   NAMESPACE      default svc-platform
#   IMAGE_AUTH, IMAGE_RESOURCE, IMAGE_MIGRATE
#                  full references by digest (ghcr.io/owner/auth@sha256:...),
#                  from the build job; required by migrate and rollout
#   JOB_TIMEOUT    seconds to wait for the migration Job (default 600)
#   ROLLOUT_TIMEOUT  per Deployment (default 300s)
#   PUBLIC_URL     for smoke: the gateway's public URL (https://api.example.com)
# kubectl reads its credentials from KUBECONFIG; nothing here prints them.
set -Eeuo pipefail

OVERLAY=${OVERLAY:-k8s/overlays/prod}
NAMESPACE=${NAMESPACE:-svc-platform}
JOB_TIMEOUT=${JOB_TIMEOUT:-600}
ROLLOUT_TIMEOUT=${ROLLOUT_TIMEOUT:-300s}
DEPLOYMENTS=(auth resource gateway)

say() { printf 'deploy: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT

# The overlay with the release's images by digest. kubectl's built-in
# kustomize only builds (no `kustomize edit`), so write the images block into
# a temporary overlay that includes the real one.
set_images() {
    local name ref
    for name in AUTH RESOURCE MIGRATE; do
        ref="IMAGE_$name"
        [[ "${!ref:-}" == *@sha256:* ]] || die "$ref must be an image reference by digest (name@sha256:...)"
    done
    local overlay_path
    overlay_path=$(realpath --relative-to="$workdir" "$OVERLAY")
    {
        echo "apiVersion: kustomize.config.k8s.io/v1beta1"
        echo "kind: Kustomization"
        echo "resources:"
        echo "  - $overlay_path"
        echo "images:"
        for name in auth resource migrate; do
            ref="IMAGE_${name^^}"
            echo "  - name: svc-platform/$name"
            echo "    newName: ${!ref%@*}"
            echo "    digest: ${!ref#*@}"
        done
    } >"$workdir/kustomization.yaml"
    say "images set: ${IMAGE_AUTH#*@} ${IMAGE_RESOURCE#*@} ${IMAGE_MIGRATE#*@}"
}

render() {
    kubectl kustomize "$workdir" >"$workdir/rendered.yaml"
    say "rendered $OVERLAY ($(grep -c '^kind:' "$workdir/rendered.yaml") objects)"
}

# Complete or Failed, whichever comes first (`kubectl wait` alone never
# returns for a failed Job).
wait_for_job() {
    local deadline=$((SECONDS + JOB_TIMEOUT)) state
    while ((SECONDS < deadline)); do
        state=$(kubectl -n "$NAMESPACE" get job migrate \
            -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}')
        case " $state " in
            *" Complete "*) return 0 ;;
            *" Failed "*) return 1 ;;
        esac
        sleep 5
    done
    say "the migration Job neither completed nor failed in ${JOB_TIMEOUT}s"
    return 1
}

cmd_migrate() {
    set_images
    render
    # A Job's pod template is immutable: the previous release's Job goes first.
    kubectl -n "$NAMESPACE" delete job migrate --ignore-not-found --wait=true
    # Everything the Job needs, and the Job; not yet the services.
    kubectl apply -f "$workdir/rendered.yaml" --selector 'app.kubernetes.io/component notin (api,gateway)'
    local status=0
    wait_for_job || status=$?
    say "migration Job logs:"
    kubectl -n "$NAMESPACE" logs job/migrate --all-containers=true || true
    ((status == 0)) || die "the migration Job failed: nothing is rolled out"
    say "migrated"
}

cmd_rollout() {
    set_images
    render
    kubectl apply -f "$workdir/rendered.yaml"
    local deployment
    for deployment in "${DEPLOYMENTS[@]}"; do
        if ! kubectl -n "$NAMESPACE" rollout status "deployment/$deployment" --timeout="$ROLLOUT_TIMEOUT"; then
            say "deployment/$deployment did not become ready: rolling back"
            kubectl -n "$NAMESPACE" rollout undo "deployment/$deployment"
            kubectl -n "$NAMESPACE" rollout status "deployment/$deployment" --timeout="$ROLLOUT_TIMEOUT" || true
            die "rollout of deployment/$deployment failed (rolled back)"
        fi
    done
    say "rolled out"
}

# curl with the status on the last line; the body before it.
request() {
    curl --silent --show-error --max-time 20 --write-out '\n%{http_code}' "$@"
}
expect() {  # expect STATUS DESCRIPTION RESPONSE
    local status=${3##*$'\n'}
    [[ "$status" == "$1" ]] || die "smoke: $2: expected HTTP $1, got $status"
    say "smoke: $2: $status"
}
json_field() {  # json_field NAME RESPONSE
    python3 -c 'import json, sys; print(json.loads(sys.argv[2].rsplit("\n", 1)[0])[sys.argv[1]])' "$1" "$2"
}

cmd_smoke() {
    [[ -n "${PUBLIC_URL:-}" ]] || die "PUBLIC_URL is not set"
    local path email password created token
    for path in /healthz /auth/health /resource/health /.well-known/jwks.json; do
        expect 200 "GET $path" "$(request "$PUBLIC_URL$path")"
    done
    expect 404 "GET /metrics is not public" "$(request "$PUBLIC_URL/metrics")"
    # One throwaway account, deleted at the end whatever happens in between.
    email="smoke-$(date +%s)-$RANDOM@example.com"
    password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
    created=$(request -H 'Content-Type: application/json' \
        --data "{\"email\": \"$email\", \"password\": \"$password\"}" "$PUBLIC_URL/auth/register")
    expect 201 "register a throwaway account" "$created"
    token=$(json_field access_token "$(request --data-urlencode "username=$email" \
        --data-urlencode "password=$password" "$PUBLIC_URL/auth/token")")
    trap 'request -X DELETE -H "Authorization: Bearer $token" "$PUBLIC_URL/users/me" >/dev/null || true; rm -rf "$workdir"' EXIT
    expect 200 "GET /items/ with its token" "$(request -H "Authorization: Bearer $token" "$PUBLIC_URL/items/")"
    expect 204 "DELETE /users/me" "$(request -X DELETE -H "Authorization: Bearer $token" "$PUBLIC_URL/users/me")"
    trap 'rm -rf "$workdir"' EXIT
    say "smoke passed"
}

case "${1:-}" in
    migrate) cmd_migrate ;;
    rollout) cmd_rollout ;;
    smoke) cmd_smoke ;;
    *) echo "usage: $0 migrate|rollout|smoke" >&2; exit 2 ;;
esac
