"""One end-to-end suite, several platforms: a small control object per place
the stack runs, so the same tests drive the host stack (`make test`), the
compose stack (`.ci/run`, after `make up`), the Kubernetes dev overlay's
pods on Docker (`make test-pods`) and a real cluster (the CI workflow's kind
job).

A platform answers through its gateway's URL on 127.0.0.1, shows the JSON
log lines of a piece (`gateway`, `auth`, `resource`), reads a service's
`/metrics` on its own port (never through the gateway), runs `redis-cli`
against its Redis (with the password Redis was given, or without), stops
and starts a service, and names the running instance of a piece (to show
that stopping one piece left the others alone). It reaches containers only through ports
published on 127.0.0.1 or `docker exec`, never through container addresses.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from typing import Any, Protocol

import httpx
from podrun.kubelet import Kubelet, docker

from hoststack.stack import Stack
from tests.helpers import ROOT
from tests.helpers.gateway import json_lines, log_entries

# Run inside a container with `python -c`: a GET of argv[1] from argv[2]
# (host:port), printing the status on the first line, then the body.
_GET = (
    "import sys, urllib.request, urllib.error\n"
    "try:\n"
    "    answer = urllib.request.urlopen(f'http://{sys.argv[2]}{sys.argv[1]}', timeout=5)\n"
    "except urllib.error.HTTPError as error:\n"
    "    answer = error\n"
    "sys.stdout.write(f'{answer.status}\\n{answer.read().decode()}')\n"
)


def service_get(path: str, address: str = "127.0.0.1:8000") -> list[str]:
    """The command that GETs `path` inside a container (or a pod's pause
    container): by default from the service's own port, never published, as
    Prometheus scrapes it and probes reach it. service_answer reads what it
    prints."""
    return ["python", "-c", _GET, path, address]


def service_answer(output: str) -> tuple[int, str]:
    """(status, body) of what service_get's command printed."""
    status, _, body = output.partition("\n")
    return int(status), body


def _metrics(output: str) -> str:
    status, body = service_answer(output)
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}: {body[:200]}")
    return body


def _redis_cli(argv: tuple[str, ...], authenticated: bool) -> list[str]:
    """redis-cli inside the Redis container, which has the password as a
    secret file for its own healthcheck; REDISCLI_AUTH keeps it off the
    command line."""
    if not authenticated:
        return ["redis-cli", *argv]
    return ["sh", "-c", 'REDISCLI_AUTH="$(cat /run/secrets/redis_password)" exec redis-cli "$@"', "redis-cli", *argv]


class Platform(Protocol):
    name: str
    gateway_url: str

    def logs(self, piece: str) -> list[dict[str, Any]]: ...

    def metrics(self, service: str) -> str: ...

    def redis(self, *argv: str, authenticated: bool = True) -> str: ...

    def stop(self, service: str) -> None: ...

    def start(self, service: str) -> None: ...

    def instance(self, piece: str) -> str: ...


class HostPlatform:
    """The stack as host processes (tools/hoststack), started by the tests."""

    name = "host"

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.gateway_url = stack.gateway_url

    def logs(self, piece: str) -> list[dict[str, Any]]:
        path = self.stack.gateway_access_log if piece == "gateway" else self.stack.services[piece].log_path
        return log_entries(path)

    def metrics(self, service: str) -> str:
        response = httpx.get(f"{self.stack.services[service].url}/metrics", timeout=10)
        response.raise_for_status()
        return response.text

    def redis(self, *argv: str, authenticated: bool = True) -> str:
        redis = self.stack.redis
        assert redis is not None, "this stack counts rate limits in memory"
        env = {"PATH": os.environ["PATH"]}
        if authenticated:
            env["REDISCLI_AUTH"] = redis.password
        return subprocess.run(
            ["redis-cli", "-h", redis.host, "-p", str(redis.port), *argv],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
            env=env,
        ).stdout.strip()

    def stop(self, service: str) -> None:
        self.stack.services[service].stop()

    def start(self, service: str) -> None:
        self.stack.services[service].start()

    def instance(self, piece: str) -> str:
        pieces = {"gateway": self.stack.gateway, **self.stack.services}
        running = pieces[piece]
        assert running is not None, f"{piece} is not part of this stack"
        return str(running.process.pid)


class ComposePlatform:
    """A compose stack someone brought up (`make up`): the tests attach to it
    and leave it running."""

    name = "compose"

    def __init__(self, gateway_url: str | None = None) -> None:
        self.compose = shlex.split(os.environ.get("COMPOSE") or _default_compose())
        self.gateway_url = gateway_url or f"http://127.0.0.1:{os.environ.get('GATEWAY_PORT', '8080')}"
        self.prometheus_url = f"http://127.0.0.1:{os.environ.get('PROMETHEUS_PORT', '9090')}"  # published too

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.compose, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(self.compose)} {' '.join(args)}: {result.stderr.strip()}")
        return result

    def containers(self, piece: str) -> list[str]:
        """Every replica's container id (`make up` runs two of each service)."""
        containers = self.run("ps", "-q", piece).stdout.split()
        if not containers:
            raise RuntimeError(f"compose has no container for {piece}: is the stack up (make up)?")
        return containers

    def container(self, piece: str) -> str:
        return self.containers(piece)[0]

    def inspect(self, piece: str, template: str) -> str:
        return docker("inspect", "-f", template, self.container(piece)).strip()

    def exec(self, piece: str, *argv: str) -> str:
        return docker("exec", self.container(piece), *argv)

    def logs(self, piece: str) -> list[dict[str, Any]]:
        """Every replica's log lines (a request may have gone to any)."""
        return [line for container in self.containers(piece) for line in json_lines(self.log_text(container))]

    @staticmethod
    def log_text(container: str) -> str:
        """All a container wrote, stdout and stderr."""
        result = subprocess.run(["docker", "logs", container], capture_output=True, text=True, timeout=60, check=True)
        return result.stdout + result.stderr

    def metrics(self, service: str) -> str:
        return _metrics(self.exec(service, *service_get("/metrics")))

    def redis(self, *argv: str, authenticated: bool = True) -> str:
        return self.exec("redis", *_redis_cli(argv, authenticated)).strip()

    def stop(self, service: str) -> None:
        self.run("stop", service)

    def start(self, service: str, timeout: float = 90) -> None:
        self.run("start", service)
        deadline = time.monotonic() + timeout
        for container in self.containers(service):
            while docker("inspect", "-f", "{{.State.Health.Status}}", container).strip() != "healthy":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{service} not healthy {timeout:.0f}s after it was started")
                time.sleep(0.5)

    def instance(self, piece: str) -> str:
        return " ".join(
            docker("inspect", "-f", "{{.Id}} {{.State.StartedAt}}", container).strip()
            for container in self.containers(piece)
        )


class PodPlatform:
    """The Kubernetes dev overlay's pods on Docker (tools/podrun): the
    gateway's Service port published on 127.0.0.1, the rest through
    `docker exec`."""

    name = "pods"

    def __init__(self, kubelet: Kubelet) -> None:
        self.kubelet = kubelet
        self.gateway_url = f"http://127.0.0.1:{kubelet.publish['gateway']}"

    def logs(self, piece: str) -> list[dict[str, Any]]:
        return json_lines(self.kubelet.logs(self.kubelet.pods[piece].container()))

    def metrics(self, service: str) -> str:
        return _metrics(docker("exec", self.kubelet.pods[service].container(), *service_get("/metrics")))

    def redis(self, *argv: str, authenticated: bool = True) -> str:
        return docker("exec", self.kubelet.pods["redis"].container(), *_redis_cli(argv, authenticated)).strip()

    def stop(self, service: str) -> None:
        self.kubelet.stop(service)

    def start(self, service: str) -> None:
        self.kubelet.start(service)

    def instance(self, piece: str) -> str:
        details = self.kubelet.inspect(self.kubelet.pods[piece].container())
        return f"{details['Id']} {details['State']['StartedAt']}"


class ClusterPlatform:
    """A real cluster the dev overlay was applied to (the CI workflow's kind
    job): the gateway through `kubectl port-forward` on 127.0.0.1
    (E2E_GATEWAY_URL), everything else through kubectl."""

    name = "cluster"

    def __init__(self, namespace: str = "svc-platform") -> None:
        self.namespace = namespace
        self.gateway_url = os.environ.get("E2E_GATEWAY_URL", "http://127.0.0.1:8080")

    def kubectl(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run(
            ["kubectl", "-n", self.namespace, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def logs(self, piece: str) -> list[dict[str, Any]]:
        return json_lines(self.kubectl("logs", f"deployment/{piece}", "--all-containers=true", "--tail=-1"))

    def metrics(self, service: str) -> str:
        return _metrics(self.kubectl("exec", f"deployment/{service}", "--", *service_get("/metrics")))

    def redis(self, *argv: str, authenticated: bool = True) -> str:
        return self.kubectl("exec", "deployment/redis", "--", *_redis_cli(argv, authenticated)).strip()

    def stop(self, service: str) -> None:
        self.kubectl("scale", f"deployment/{service}", "--replicas=0")
        self.kubectl("wait", "--for=delete", "pod", "-l", f"app.kubernetes.io/name={service}", "--timeout=120s")

    def start(self, service: str) -> None:
        self.kubectl("scale", f"deployment/{service}", "--replicas=1")
        self.kubectl("rollout", "status", f"deployment/{service}", "--timeout=300s")

    def instance(self, piece: str) -> str:
        return self.kubectl(
            "get", "pods", "-l", f"app.kubernetes.io/name={piece}", "-o", "jsonpath={.items[*].metadata.uid}"
        )


def _default_compose() -> str:
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if probe.returncode == 0:
        return "docker compose"
    if shutil.which("docker-compose"):
        return "docker-compose"
    raise RuntimeError("neither `docker compose` nor `docker-compose` is installed")
