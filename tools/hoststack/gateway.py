"""The nginx gateway on the host, from the same template the container uses.

The template (deploy/nginx/templates/gateway.conf.template) is rendered with
exactly the variables the nginx image's envsubst step gets; a host-side main
nginx.conf keeps every path nginx writes inside the run directory, runs in
the foreground and includes the rendered server configuration.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from hoststack.paths import GATEWAY_TEMPLATE
from hoststack.procs import ManagedProcess, StartupError, free_port, http_status, wait_until

TEMPLATE = GATEWAY_TEMPLATE
TEMPLATE_VARIABLES = (
    "AUTH_UPSTREAM", "RESOURCE_UPSTREAM", "GATEWAY_PORT", "GATEWAY_STATUS_PORT", "GATEWAY_STATUS_ALLOW", "PUBLIC_HOSTS",
    "GATEWAY_CONN_PER_ADDRESS", "RATE_LIMIT_EXEMPT_SECRET",
)  # fmt: skip
# The gateway's tunables and their defaults, the same in docker-compose.yml
# and k8s/base/gateway.yaml (a test holds them together).
GATEWAY_DEFAULTS = {"GATEWAY_CONN_PER_ADDRESS": "64", "RATE_LIMIT_EXEMPT_SECRET": ""}
# The names a client reaches a host stack by.
LOCAL_HOSTS = "127.0.0.1|localhost"
_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")

MAIN_CONF = """\
# Written by hoststack for one run; see tools/hoststack/gateway.py.
daemon off;
master_process on;
worker_processes auto;
pid {run}/nginx.pid;
error_log {run}/gateway-error.log notice;
{user}
events {{
    worker_connections 1024;
}}

http {{
    default_type application/octet-stream;
    client_body_temp_path {run}/tmp/client_body;
    proxy_temp_path {run}/tmp/proxy;
    fastcgi_temp_path {run}/tmp/fastcgi;
    uwsgi_temp_path {run}/tmp/uwsgi;
    scgi_temp_path {run}/tmp/scgi;
    server_tokens off;

    include {run}/gateway.conf;
}}
"""


class NginxNotFound(StartupError):
    pass


def find_nginx() -> str:
    for candidate in (os.environ.get("NGINX_BIN"), shutil.which("nginx"), "/usr/sbin/nginx", "/usr/local/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise NginxNotFound("nginx not found: run tools/install-host-deps.sh (or set NGINX_BIN)")


def render_template(variables: Mapping[str, str], template: Path = TEMPLATE) -> str:
    """Substitute ${NAME} for the template's variables, as envsubst would with
    only those names defined; any other ${NAME} left over is an error."""
    # A tunable whose default is empty (off) may stay empty; the rest need a value.
    missing = [
        name
        for name in TEMPLATE_VARIABLES
        if name not in variables or not (variables[name] or GATEWAY_DEFAULTS.get(name) == "")
    ]
    if missing:
        raise ValueError(f"gateway template needs {', '.join(missing)}")
    text = template.read_text()

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise ValueError(f"gateway template uses ${{{name}}}, which has no value")
        return str(variables[name])

    return _PLACEHOLDER.sub(substitute, text)


class Gateway:
    """nginx in the foreground under the launcher, logging into `run_dir`:
    gateway-access.log (the JSON access log) and gateway-error.log."""

    def __init__(
        self,
        run_dir: Path,
        *,
        listen: str,
        auth_upstream: str,
        resource_upstream: str,
        env: Mapping[str, str],
        tunables: Mapping[str, str] | None = None,
    ):
        self.run_dir = run_dir / "nginx"
        self.listen = listen
        # stub_status (for the metrics exporter): loopback, a port of its own
        self.status_listen = f"127.0.0.1:{free_port()}"
        unknown = set(tunables or {}) - set(GATEWAY_DEFAULTS)
        if unknown:
            raise ValueError(f"not a gateway tunable: {', '.join(sorted(unknown))}")
        self.variables = {
            **GATEWAY_DEFAULTS,
            **(tunables or {}),
            "AUTH_UPSTREAM": auth_upstream,
            "RESOURCE_UPSTREAM": resource_upstream,
            "GATEWAY_PORT": listen,
            "GATEWAY_STATUS_PORT": self.status_listen,
            "GATEWAY_STATUS_ALLOW": "127.0.0.1",
            "PUBLIC_HOSTS": LOCAL_HOSTS,
        }
        self.access_log = run_dir / "gateway-access.log"
        self.error_log = self.run_dir / "gateway-error.log"
        self.conf = self.run_dir / "nginx.conf"
        self.nginx = find_nginx()
        self.process = ManagedProcess(
            "gateway (nginx)",
            [self.nginx, "-p", str(self.run_dir), "-c", str(self.conf), "-e", str(self.error_log)],
            env=env,
            cwd=self.run_dir,
            log_path=run_dir / "gateway-stderr.log",
            stdout_path=self.access_log,  # the template logs to /dev/stdout
        )

    def write_config(self) -> None:
        (self.run_dir / "tmp").mkdir(parents=True, exist_ok=True)
        (self.run_dir / "gateway.conf").write_text(render_template(self.variables))
        # As root nginx would hand its workers to `nobody`, who cannot use a
        # private run directory; keep the workers as the invoking user.
        user = "user root;" if os.geteuid() == 0 else ""
        self.conf.write_text(MAIN_CONF.format(run=self.run_dir, user=user))

    def test_config(self) -> None:
        result = subprocess.run(
            [self.nginx, "-t", "-q", "-p", str(self.run_dir), "-c", str(self.conf), "-e", str(self.error_log)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StartupError(f"nginx -t failed for {self.conf}:\n{result.stderr.strip()}")

    @property
    def url(self) -> str:
        host, _, port = self.listen.rpartition(":")
        return f"http://{host or '127.0.0.1'}:{port}"

    def start(self, timeout: float = 15.0) -> None:
        self.write_config()
        self.test_config()
        self.process.start()
        wait_until(
            lambda: http_status(f"{self.url}/healthz") == 200,
            timeout=timeout,
            process=self.process,
            what="answering /healthz",
        )

    def stop(self) -> None:
        self.process.stop()
