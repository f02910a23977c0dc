"""The compose stack, for the figures `make bench` reports beside the host
stack's: the same images `make up` runs, in a compose project of the bench's
own (its own gateway port, subnet and volumes, removed afterwards), so a
stack someone brought up with `make up` is left alone.

On these machines the engine and the images come from the stand-in tool
beside the project (../shared/tools/standin-images), as in `.ci/run`;
elsewhere from whatever Docker engine answers. Without either, the bench
stops and says so: `--no-compose` leaves the compose figures out on purpose.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hoststack.procs import free_port, http_status, wait_until

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT.parent / "shared" / "tools" / "standin-images"
# The bench project's backend network: apart from `make up`'s default
# (172.28.83.0/24), so both can run at once. Never reached from the host:
# only the gateway's port, published on 127.0.0.1, is.
SUBNET_PREFIX = "172.28.84"


@dataclass
class ComposeStack:
    command: list[str]
    env: dict[str, str]
    gateway_url: str

    def run(self, *args: str, timeout: float = 900, input_text: str | None = None) -> str:
        result = subprocess.run(
            [*self.command, *args],
            cwd=ROOT,
            env=self.env,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join([*self.command, *args])}: {result.stderr.strip()[-2000:]}")
        return result.stdout

    def psql(self, sql: str) -> str:
        """`sql` as the database's superuser, on the application database,
        through `docker compose exec` (the database publishes no port)."""
        return self.run(
            "exec", "-T", "db", "psql", "-U", "postgres", "-d", "app", "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-At",
            input_text=sql,
        )  # fmt: skip


def _compose_command() -> list[str]:
    if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise SystemExit("neither `docker compose` nor `docker-compose` is installed (or run with --no-compose)")


def _engine() -> None:
    """A Docker engine that answers, with every image the compose file names
    (stand-ins on these machines, built only when missing)."""
    if STANDIN.exists():
        subprocess.run([str(STANDIN), "engine"], check=True)
        subprocess.run([str(STANDIN), "build", "--strict", "docker-compose.yml", "Dockerfile"], cwd=ROOT, check=True)
    elif subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        raise SystemExit(f"no Docker engine answers and {STANDIN} is missing (or run with --no-compose)")


@contextmanager
def compose_stack(service_env: dict[str, str]) -> Iterator[ComposeStack]:
    """`make up`'s stack in a project of its own, with `service_env` added
    to the environment compose substitutes (the rate-limit exemption)."""
    _engine()
    port = free_port()
    env = {
        **os.environ,
        **service_env,
        "COMPOSE_PROJECT_NAME": f"bench-{uuid.uuid4().hex[:6]}",
        "GATEWAY_PORT": str(port),
        "PROMETHEUS_PORT": str(free_port()),
        "BACKEND_SUBNET": f"{SUBNET_PREFIX}.0/24",
        "GATEWAY_IP": f"{SUBNET_PREFIX}.10",
        "GATEWAY_EXPORTER_IP": f"{SUBNET_PREFIX}.11",
        "BACKEND_IP_RANGE": f"{SUBNET_PREFIX}.128/25",
    }
    stack = ComposeStack(_compose_command(), env, f"http://127.0.0.1:{port}")
    subprocess.run(["bash", "deploy/scripts/make-secrets.sh", "secrets"], cwd=ROOT, check=True)
    try:
        stack.run("up", "-d", "--build", "--remove-orphans")
        subprocess.run(
            ["bash", "deploy/scripts/compose-wait.sh", "300"],
            cwd=ROOT,
            env={**env, "COMPOSE": " ".join(stack.command)},
            check=True,
        )
        wait_until(lambda: http_status(f"{stack.gateway_url}/healthz") == 200, timeout=60, what="the compose gateway")
        yield stack
    finally:
        stack.run("down", "-v", "--remove-orphans")
