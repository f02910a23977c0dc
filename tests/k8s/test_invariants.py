"""What schemas cannot see: the manifests hold together (selectors, ports,
probes that hit real routes, policies that allow exactly the connections
the settings imply), every pod is locked down, and production keeps its
promises (replicas owned by autoscalers, disruption budgets, a connection
budget the database can honour)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from auth_service.config import AuthSettings
from auth_service.main import create_app as create_auth_app
from hoststack.gateway import GATEWAY_DEFAULTS, TEMPLATE_VARIABLES
from resource_service.config import ResourceSettings
from resource_service.main import create_app as create_resource_app
from servicekit import gunicorn_conf
from servicekit.settings import ServiceSettings
from tests.helpers import ROOT
from tests.helpers.kube import (
    BATCH_KINDS,
    Manifest,
    Render,
    containers,
    job_spec,
    labels_match,
    main_container,
    pod_spec,
    pod_template,
)

# The images whose containers serve one of our apps, by name.
APP_IMAGES = {"svc-platform/auth": "auth", "svc-platform/resource": "resource"}
GATEWAY_TEMPLATE = ROOT / "deploy" / "nginx" / "templates" / "gateway.conf.template"
# The database the production overlay's connection budget is made for.
DB_MAX_CONNECTIONS = 100
DB_RESERVED_CONNECTIONS = 10  # superuser, the migration role by hand, monitoring
PRE_STOP_MARGIN_SECONDS = 5


def _apps() -> dict[str, FastAPI]:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {
        "auth": create_auth_app(AuthSettings(environment="test", jwt_private_key=pem.decode())),
        "resource": create_resource_app(ResourceSettings(environment="test", jwks_url="http://auth:8000/jwks")),
    }


def _routes(app: FastAPI) -> set[str]:
    return {str(context.path) for context in iter_route_contexts(app.routes)}


def _image_name(container: Manifest) -> str:
    """`svc-platform/auth:1.0.0` or `ghcr.io/o/x@sha256:...` without registry, tag or digest."""
    return str(container["image"]).split("@")[0].rsplit(":", 1)[0]


def _app_of(container: Manifest) -> str | None:
    image = _image_name(container)
    return next((app for name, app in APP_IMAGES.items() if image.endswith(name)), None)


def _python(container: Manifest) -> bool:
    return _image_name(container).rsplit("/", 1)[-1] in ("auth", "resource", "migrate")


def _probes(container: Manifest) -> Iterator[tuple[str, Manifest]]:
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        if kind in container:
            yield kind, container[kind]


# --- the objects hold together ------------------------------------------------------
def test_selectors_match_their_pod_templates(rendered: Render) -> None:
    for workload in rendered.of_kind("Deployment", "StatefulSet"):
        selector = workload["spec"]["selector"]["matchLabels"]
        assert labels_match(selector, workload["spec"]["template"]["metadata"]["labels"]), workload["metadata"]


def _pods_selected(render: Render, selector: dict[str, str]) -> list[Manifest]:
    return [w for w in render.workloads() if labels_match(selector, pod_template(w)["metadata"]["labels"])]


def test_every_service_reaches_a_named_container_port_of_the_same_number(rendered: Render) -> None:
    for service in rendered.of_kind("Service"):
        pods = _pods_selected(rendered, service["spec"]["selector"])
        assert pods, f"Service {service['metadata']['name']} selects no pod"
        for port in service["spec"]["ports"]:
            for pod in pods:
                named = {p["name"]: p["containerPort"] for c in containers(pod) for p in c.get("ports", [])}
                assert port["targetPort"] in named, f"{service['metadata']['name']}: no container port {port}"
                assert port["port"] == named[port["targetPort"]], f"{service['metadata']['name']}: port != target"


def test_every_probe_hits_a_real_route_of_the_app_it_probes(rendered: Render) -> None:
    routes = {name: _routes(app) for name, app in _apps().items()}
    gateway_locations = set(re.findall(r"location\s+=?\s*(/\S*)\s*\{", GATEWAY_TEMPLATE.read_text()))
    probed = 0
    for workload in rendered.workloads():
        for container in containers(workload):
            app = _app_of(container)
            for kind, probe in _probes(container):
                if "httpGet" not in probe:
                    continue
                path = probe["httpGet"]["path"]
                known = routes[app] if app else gateway_locations
                assert path in known, f"{workload['metadata']['name']} {kind}: {path} is not a route"
                probed += 1
            if app:
                assert container["livenessProbe"]["httpGet"]["path"] == "/livez"  # no dependencies
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"  # database + schema
                assert "startupProbe" in container
    assert probed >= 9


def test_every_workload_is_probed_and_sized(rendered: Render) -> None:
    for workload in rendered.workloads():
        for container in containers(workload):
            resources = container["resources"]
            for which in ("cpu", "memory"):
                request = _quantity(resources["requests"][which])
                limit = _quantity(resources["limits"][which])
                assert 0 < request <= limit, (workload["metadata"]["name"], which)
            if workload["kind"] not in BATCH_KINDS:
                assert {"livenessProbe", "readinessProbe", "startupProbe"} <= container.keys()


_UNITS = {"m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def _quantity(value: str | int) -> float:
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(m|k|M|G|Ki|Mi|Gi)?", str(value))
    assert match, f"not a Kubernetes quantity: {value!r}"
    return float(match.group(1)) * _UNITS[match.group(2) or ""]


def test_images_are_pinned(rendered: Render) -> None:
    for workload in rendered.workloads():
        for container in containers(workload):
            image = container["image"]
            tag = image.split("@")[0].rsplit("/", 1)[-1].partition(":")[2]
            assert "@sha256:" in image or (tag and tag != "latest"), f"unpinned image {image}"


def test_jobs_never_restart_in_place_and_end(rendered: Render) -> None:
    for job in rendered.of_kind(*BATCH_KINDS):
        assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")
        spec = job_spec(job)
        assert spec["backoffLimit"] <= 3 and spec["activeDeadlineSeconds"] and spec["ttlSecondsAfterFinished"]
    for cron in rendered.of_kind("CronJob"):  # never two at once, a bounded history
        spec = cron["spec"]
        assert spec["concurrencyPolicy"] == "Forbid" and spec["startingDeadlineSeconds"]
        assert spec["successfulJobsHistoryLimit"] <= 3 and spec["failedJobsHistoryLimit"] <= 3


# --- every pod locked down -------------------------------------------------------------
def test_every_pod_runs_restricted(rendered: Render) -> None:
    for workload in rendered.workloads():
        spec, name = pod_spec(workload), workload["metadata"]["name"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] >= 10000 and pod["runAsGroup"] >= 10000, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["serviceAccountName"] == name, name
        for container in containers(workload):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert "add" not in context["capabilities"], name


def test_the_namespace_enforces_the_restricted_standard(rendered: Render) -> None:
    (namespace,) = rendered.of_kind("Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_multiprocess_metrics_live_in_memory(rendered: Render) -> None:
    folder = rendered.config_map("app-config")["PROMETHEUS_MULTIPROC_DIR"]
    for workload in rendered.of_kind("Deployment"):
        for container in containers(workload):
            if _app_of(container):
                mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
                volumes = {v["name"]: v for v in pod_spec(workload)["volumes"]}
                assert volumes[mounts[folder]]["emptyDir"]["medium"] == "Memory"
                assert volumes[mounts["/tmp"]]["emptyDir"]


# --- rollouts lose nothing ---------------------------------------------------------------
def _pre_stop_seconds(container: Manifest) -> int:
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    return int(command[1])


def test_deployments_roll_without_losing_capacity_or_requests(rendered: Render) -> None:
    for deployment in rendered.of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        strategy = deployment["spec"]["strategy"]
        if name == "redis":
            assert strategy["type"] == "Recreate"
            continue
        assert strategy["rollingUpdate"]["maxUnavailable"] == 0, name
        spec = pod_spec(deployment)
        if _is_exporter(deployment):
            continue  # scraped, not serving: a scrape lost to a rollout is nothing
        container = main_container(deployment)
        pause = _pre_stop_seconds(container)
        graceful = gunicorn_conf.graceful_timeout if _app_of(container) else 0
        assert spec["terminationGracePeriodSeconds"] >= pause + graceful + PRE_STOP_MARGIN_SECONDS, name


# --- production -----------------------------------------------------------------------------
def test_production_replicas_belong_to_autoscalers_with_budgets(prod: Render) -> None:
    autoscaled = {hpa["spec"]["scaleTargetRef"]["name"]: hpa for hpa in prod.of_kind("HorizontalPodAutoscaler")}
    budgets = [pdb["spec"] for pdb in prod.of_kind("PodDisruptionBudget")]
    for deployment in prod.of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        assert "replicas" not in deployment["spec"], f"{name}: the HPA owns replicas"
        assert autoscaled[name]["spec"]["minReplicas"] >= 2, name
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert [b for b in budgets if labels_match(b["selector"]["matchLabels"], labels) and b["maxUnavailable"] == 1]
        assert pod_spec(deployment)["topologySpreadConstraints"], name


def test_every_deployment_has_a_disruption_budget_where_it_runs_replicated(renders: dict[str, Render]) -> None:
    for render in renders.values():
        if render.overlay == "prod":
            names = {pdb["metadata"]["name"] for pdb in render.of_kind("PodDisruptionBudget")}
            assert names == {d["metadata"]["name"] for d in render.of_kind("Deployment") if not _is_exporter(d)}


def test_production_stays_inside_the_database_connection_budget(prod: Render) -> None:
    config = prod.config_map("app-config")
    per_worker = int(config["DB_POOL_SIZE"]) + int(config["DB_MAX_OVERFLOW"])
    # Each worker also LISTENs for ended sessions on a connection of its own.
    listening = float(
        config.get(
            "SESSION_CACHE_LISTENING_SECONDS", ServiceSettings.model_fields["session_cache_listening_seconds"].default
        )
    )
    per_worker += 1 if listening > 0 else 0
    autoscaled = {hpa["spec"]["scaleTargetRef"]["name"]: hpa for hpa in prod.of_kind("HorizontalPodAutoscaler")}
    connections = 1  # the migration job
    for deployment in prod.of_kind("Deployment"):
        if any(_app_of(c) for c in containers(deployment)):
            replicas = autoscaled[deployment["metadata"]["name"]]["spec"]["maxReplicas"]
            connections += replicas * int(config["WEB_CONCURRENCY"]) * per_worker
    print(f"prod: at most {connections} connections of {DB_MAX_CONNECTIONS}")
    assert connections <= DB_MAX_CONNECTIONS - DB_RESERVED_CONNECTIONS


def test_production_takes_its_database_and_redis_from_secret_files(prod: Render) -> None:
    config = prod.config_map("app-config")
    assert not {"DB_HOST", "DB_PORT", "DB_NAME", "RATE_LIMIT_STORAGE_URI"} & config.keys()  # env would win
    for workload in prod.workloads():
        if not any(_python(c) for c in containers(workload)):
            continue
        (secrets,) = [v for v in pod_spec(workload)["volumes"] if v["name"] == "secrets"]
        files = {item["path"] for source in secrets["projected"]["sources"] for item in source["secret"]["items"]}
        wanted = {"db_host", "db_port", "db_name", "db_password"}
        wanted |= set() if workload["kind"] in BATCH_KINDS else {"rate_limit_storage_uri", "redis_password"}
        assert wanted <= files, (workload["metadata"]["name"], wanted - files)
    assert not prod.of_kind("Secret"), "production generates no secret"


def _secret_files(workload: Manifest) -> dict[str, tuple[str, str]]:
    """File name under /run/secrets -> (Secret, key) of the `secrets` volume;
    a generated Secret by its name without kustomize's hash."""
    volumes = [v for v in pod_spec(workload)["volumes"] if v["name"] == "secrets"]
    return {
        item["path"]: (re.sub(r"-[a-z0-9]{10}$", "", source["secret"]["name"]), item["key"])
        for volume in volumes
        for source in volume["projected"]["sources"]
        for item in source["secret"]["items"]
    }


def test_the_services_read_redis_password_from_a_file_never_from_the_uri(rendered: Render) -> None:
    uri = rendered.config_map("app-config").get("RATE_LIMIT_STORAGE_URI", "")
    assert "@" not in uri  # dev names its Redis in the ConfigMap: no password in it
    for workload in rendered.workloads():
        if any(_app_of(c) for c in containers(workload)):
            assert _secret_files(workload)["redis_password"] == ("redis", "password"), workload["metadata"]["name"]
            (container,) = containers(workload)
            assert not [e for e in container.get("env", []) if "PASSWORD" in e["name"]]


def test_the_dev_redis_takes_its_password_from_the_generated_secret(dev: Render) -> None:
    (redis,) = [w for w in dev.workloads() if w["metadata"]["name"] == "redis"]
    (container,) = containers(redis)
    command = container["command"]
    # The ACL file holds the password's digest: nothing secret on the command line.
    assert command[command.index("--aclfile") + 1] == "/run/secrets/redis_acl"
    assert not any("pass" in argument for argument in command)
    files = _secret_files(redis)
    assert files["redis_acl"] == ("redis", "acl") and files["redis_password"] == ("redis", "password")
    for kind, probe in _probes(container):
        shell, flag, script = probe["exec"]["command"]
        assert (shell, flag) == ("sh", "-c"), kind
        assert script.startswith('REDISCLI_AUTH="$(cat /run/secrets/redis_password)" redis-cli ping'), kind
        assert script.endswith("| grep -qx PONG"), kind  # redis-cli exits 0 on NOAUTH
    (generated,) = [s for s in dev.of_kind("Secret") if s["metadata"]["name"].rsplit("-", 1)[0] == "redis"]
    assert set(generated["data"]) == {"acl", "password"}


def test_the_gateway_gets_every_template_variable_and_the_launchers_defaults(rendered: Render) -> None:
    (gateway,) = [w for w in rendered.workloads() if w["metadata"]["name"] == "gateway"]
    env = _env(rendered, gateway)
    substituted = re.compile(env["NGINX_ENVSUBST_FILTER"])  # what the nginx image's envsubst takes
    for name in TEMPLATE_VARIABLES:
        assert name in env and substituted.search(name), name
    for name, default in GATEWAY_DEFAULTS.items():
        assert env[name] == default and substituted.search(name), name


# --- network policies ------------------------------------------------------------------------
def _is_exporter(workload: Manifest) -> bool:
    """The monitoring component's exporters: one replica each, no budget."""
    return bool(pod_template(workload)["metadata"]["labels"].get("app.kubernetes.io/component") == "monitoring")


def _env(render: Render, workload: Manifest) -> dict[str, Any]:
    container = main_container(workload)
    env: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        env.update(render.config_map(source["configMapRef"]["name"].rsplit("-", 1)[0]))
    env.update({e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])})
    return env


def _connections(render: Render) -> Iterator[tuple[str, str | None, int]]:
    """(source, destination Service or None when outside the cluster, port):
    every connection the settings of each pod imply."""
    services = {s["metadata"]["name"] for s in render.of_kind("Service")}
    for workload in render.workloads():
        name, env = workload["metadata"]["name"], _env(render, workload)
        targets: list[tuple[str, int]] = []
        if "DB_USER" in env or "PGUSER" in env:  # a Python or libpq pod; no DB_HOST: the database is outside (prod)
            targets.append((env.get("DB_HOST", "outside"), int(env.get("DB_PORT", 5432))))
            if "DB_USER" in env and name != "migrate":  # the services count in Redis
                uri = urlsplit(env.get("RATE_LIMIT_STORAGE_URI", "redis://outside:6379"))
                targets.append((uri.hostname or "", uri.port or 6379))
        if "DATA_SOURCE_URI" in env:  # postgres-exporter: host:port/database?options
            uri = urlsplit("//" + env["DATA_SOURCE_URI"])
            targets.append((uri.hostname or "", uri.port or 5432))
        if "REDIS_ADDR" in env:  # redis_exporter
            uri = urlsplit(env["REDIS_ADDR"])
            targets.append((uri.hostname or "", uri.port or 6379))
        if "JWKS_URL" in env:
            url = urlsplit(env["JWKS_URL"])
            targets.append((url.hostname or "", url.port or 80))
        for upstream in ("AUTH_UPSTREAM", "RESOURCE_UPSTREAM"):
            if upstream in env:
                host, _, port = env[upstream].partition(":")
                targets.append((host, int(port)))
        for host, port in targets:
            yield name, (host if host in services else None), port


def _pod_labels(render: Render, name: str) -> dict[str, str]:
    (workload,) = [w for w in render.workloads() if w["metadata"]["name"] == name]
    labels: dict[str, str] = pod_template(workload)["metadata"]["labels"]
    return labels


def _allows(rules: list[Manifest], peer_key: str, peer_labels: dict[str, str] | None, port: int) -> bool:
    for rule in rules:
        ports = [p["port"] for p in rule.get("ports", [])]
        if ports and port not in ports:
            continue
        peers = rule.get(peer_key)
        if not peers:
            return True  # any peer
        for peer in peers:
            if "podSelector" in peer and "namespaceSelector" not in peer and peer_labels is not None:
                if labels_match(peer["podSelector"].get("matchLabels", {}), peer_labels):
                    return True
    return False


def _policies_for(render: Render, labels: dict[str, str], kind: str) -> list[Manifest]:
    return [
        p["spec"]
        for p in render.of_kind("NetworkPolicy")
        if kind in p["spec"]["policyTypes"] and labels_match(p["spec"]["podSelector"].get("matchLabels", {}), labels)
    ]


def test_the_policies_allow_every_connection_the_settings_imply(renders: dict[str, Render]) -> None:
    checked = 0
    for render in renders.values():
        if not render.of_kind("NetworkPolicy"):
            continue
        for source, destination, port in _connections(render):
            source_labels = _pod_labels(render, source)
            egress = _policies_for(render, source_labels, "Egress")
            if egress:
                target = None if destination is None else render.get("Service", destination)["spec"]["selector"]
                assert any(_allows(p.get("egress", []), "to", target, port) for p in egress), (
                    f"{render}: {source} may not reach {destination or 'outside'}:{port}"
                )
            if destination is not None:
                selector = render.get("Service", destination)["spec"]["selector"]
                ingress = _policies_for(render, selector, "Ingress")
                if ingress:
                    assert any(_allows(p.get("ingress", []), "from", source_labels, port) for p in ingress), (
                        f"{render}: {destination} does not admit {source} on {port}"
                    )
            checked += 1
    assert checked >= 10


def test_policy_selectors_select_real_pods(rendered: Render) -> None:
    pods = [pod_template(w)["metadata"]["labels"] for w in rendered.workloads()]
    for policy in rendered.of_kind("NetworkPolicy"):
        selector = policy["spec"]["podSelector"].get("matchLabels", {})
        if selector:
            assert any(labels_match(selector, labels) for labels in pods), policy["metadata"]["name"]


def test_the_policies_deny_by_default_in_both_directions(renders: dict[str, Render]) -> None:
    for render in renders.values():
        if "network-policies" in (*render.components, *(["network-policies"] if render.overlay == "prod" else [])):
            deny = render.get("NetworkPolicy", "default-deny")["spec"]
            assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_servicemonitors_scrape_a_named_service_port(renders: dict[str, Render]) -> None:
    for render in renders.values():
        for monitor in render.of_kind("ServiceMonitor"):
            (service,) = [
                s
                for s in render.of_kind("Service")
                if labels_match(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
            ]
            ports = {p["name"] for p in service["spec"]["ports"]}
            assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports
            assert all(e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])
