"""The host launcher (tools/hoststack): it renders the gateway template
exactly, and whatever happens to it, nothing it started is left running."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hoststack.gateway import TEMPLATE, TEMPLATE_VARIABLES, Gateway, render_template
from hoststack.procs import free_port, pid_alive
from hoststack.stack import Stack, StackConfig

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VARIABLES = {
    "AUTH_UPSTREAM": "auth:8000",
    "RESOURCE_UPSTREAM": "resource:8000",
    "GATEWAY_PORT": "8080",
    "GATEWAY_STATUS_PORT": "127.0.0.1:8081",
    "GATEWAY_STATUS_ALLOW": "127.0.0.1",
    "PUBLIC_HOSTS": "api.example.com|localhost",
    "GATEWAY_CONN_PER_ADDRESS": "64",
    "RATE_LIMIT_EXEMPT_SECRET": "",
}


def test_the_template_uses_exactly_the_documented_variables():
    import re

    used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", TEMPLATE.read_text()))
    assert used == set(TEMPLATE_VARIABLES)


def test_render_substitutes_only_the_variables_and_keeps_nginx_variables():
    text = render_template(VARIABLES)
    assert "${" not in text
    assert "server auth:8000" in text and "server resource:8000" in text and "listen 8080" in text
    assert "$remote_addr" in text and "$gw_request_id" in text  # nginx's own variables survive


def test_render_refuses_missing_or_unknown_variables(tmp_path: Path):
    with pytest.raises(ValueError, match="GATEWAY_PORT"):
        render_template({**VARIABLES, "GATEWAY_PORT": ""})
    template = tmp_path / "t.template"
    template.write_text("listen ${GATEWAY_PORT}; root ${SOMETHING_ELSE};")
    with pytest.raises(ValueError, match="SOMETHING_ELSE"):
        render_template(VARIABLES, template)


def test_envsubst_renders_the_template_like_the_launcher(tmp_path: Path):
    """The nginx image runs envsubst with the defined variables only (and our
    NGINX_ENVSUBST_FILTER); the result must equal the launcher's rendering."""
    names = " ".join(f"${{{name}}}" for name in TEMPLATE_VARIABLES)
    result = subprocess.run(
        ["envsubst", names],
        input=TEMPLATE.read_text(),
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"], **VARIABLES},
    )
    assert result.stdout == render_template(VARIABLES)


def test_the_container_nginx_conf_with_the_rendered_template_passes_nginx_t(tmp_path: Path):
    """deploy/nginx/nginx.conf (mounted over the image's) + the rendered
    template, with the container's paths moved into a temporary directory."""
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "gateway.conf").write_text(
        render_template({**VARIABLES, "AUTH_UPSTREAM": "127.0.0.1:1", "RESOURCE_UPSTREAM": "127.0.0.1:2",
                         "GATEWAY_PORT": f"127.0.0.1:{free_port()}", "GATEWAY_STATUS_PORT": f"127.0.0.1:{free_port()}"})
    )  # fmt: skip
    main = (DEPLOY / "nginx" / "nginx.conf").read_text()
    assert "/etc/nginx/conf.d/*.conf" in main and "pid /tmp/nginx.pid;" in main
    main = main.replace("/etc/nginx/conf.d/", f"{conf_d}/").replace("/tmp/", f"{tmp_path}/")
    mime = next((p for p in ("/etc/nginx/mime.types", "/usr/local/etc/nginx/mime.types") if Path(p).exists()), None)
    if mime is None:
        (tmp_path / "mime.types").write_text("types { application/json json; }\n")
        mime = str(tmp_path / "mime.types")
    main = main.replace("/etc/nginx/mime.types", mime).replace("error_log /dev/stderr", f"error_log {tmp_path}/e.log")
    (tmp_path / "nginx.conf").write_text(main)
    gateway = Gateway(tmp_path, listen="127.0.0.1:1", auth_upstream="a:1", resource_upstream="b:1", env={})
    result = subprocess.run(
        [gateway.nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "e.log")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "warn" not in result.stderr, result.stderr


# --- process hygiene -----------------------------------------------------------------
def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Launcher:
    """`python -m hoststack up` as `make dev` runs it, on a run directory and
    a gateway port of its own."""

    run_dir: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def log(self) -> str:
        return (self.run_dir.parent / "launcher.log").read_text()

    def state(self) -> dict:
        try:
            return json.loads((self.run_dir / "hoststack.json").read_text())
        except (OSError, ValueError):
            return {}

    def wait_until(self, ready: Callable[[], bool], what: str) -> dict:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log
            if ready():
                return self.state()
            time.sleep(0.02)
        raise AssertionError(f"the launcher never {what}")

    def wait_for_gateway(self) -> dict:
        def answering() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{self.port}/auth/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        return self.wait_until(answering, "brought the gateway up")


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    run_dir, port = tmp_path / "run", free_port()
    with open(tmp_path / "launcher.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hoststack", "up", "--run-dir", str(run_dir), "--gateway-port", str(port),
             "--workers", "1", "--environment", "production"],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )  # fmt: skip
    try:
        yield Launcher(run_dir, port, process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _everything(state: dict) -> tuple[list[int], list[int]]:
    pids = [info["pid"] for info in state["processes"].values()]
    postmaster = Path(state["postgres"]["datadir"]) / "postmaster.pid"
    pid_lines = postmaster.read_text().splitlines()
    pids.append(int(pid_lines[0]))
    ports = [int(pid_lines[3])]
    for url in state["urls"].values():
        if url.startswith("http://127.0.0.1:"):
            ports.append(int(url.split(":")[2].split("/")[0]))
    return pids, ports


def _assert_all_gone(pids: list[int], ports: list[int], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(pid_alive(pid) for pid in pids) and not any(_port_open(port) for port in ports):
            return
        time.sleep(0.2)
    raise AssertionError(
        f"left running: pids {[p for p in pids if pid_alive(p)]}, ports {[p for p in ports if _port_open(p)]}"
    )


def test_sigterm_to_the_launcher_stops_everything(launcher: Launcher):
    state = launcher.wait_for_gateway()
    pids, ports = _everything(state)
    launcher.process.send_signal(signal.SIGTERM)
    assert launcher.process.wait(120) == 0, launcher.log
    _assert_all_gone(pids, ports)
    assert not Path(state["postgres"]["base_dir"]).exists()
    assert not (launcher.run_dir / "hoststack.json").exists()


def test_sigterm_during_start_up_stops_everything_too(launcher: Launcher):
    """A SIGTERM that arrives while the launcher is still starting (the
    services are launched, the gateway not yet) cleans up and exits 0."""
    state = launcher.wait_until(lambda: "resource" in launcher.state().get("processes", {}), "started the services")
    assert not _port_open(launcher.port), "already up: this test wants a launcher still starting"
    pids = [info["pid"] for info in state["processes"].values()]
    launcher.process.send_signal(signal.SIGTERM)
    assert launcher.process.wait(120) == 0, launcher.log
    _assert_all_gone(pids, [launcher.port])
    assert not Path(state["postgres"]["base_dir"]).exists()


# The dropped exception is the point: Python reports it as unraisable.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_stop_request_outlives_a_handler_whose_exception_was_dropped(tmp_path: Path):
    """A signal handler that runs inside a __del__ has its SystemExit printed
    and dropped by Python; the request must still stop the launcher (it
    once kept starting, then ran on, after such a SIGTERM)."""
    stack = Stack(StackConfig(run_dir=tmp_path))

    class Collected:
        def __del__(self) -> None:
            stack._on_signal(signal.SIGTERM, None)

    Collected()  # collected at once: the SystemExit is "ignored"
    with pytest.raises(SystemExit) as stopped:
        stack.stop_if_asked()
    assert stopped.value.code == 128 + signal.SIGTERM


def test_down_cleans_up_after_a_killed_launcher(launcher: Launcher):
    state = launcher.wait_for_gateway()
    pids, ports = _everything(state)
    launcher.process.kill()  # SIGKILL: no chance to clean up
    launcher.process.wait()
    down = subprocess.run(
        [sys.executable, "-m", "hoststack", "down", "--run-dir", str(launcher.run_dir)],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert down.returncode == 0, down.stderr
    _assert_all_gone(pids, ports)
    assert not Path(state["postgres"]["base_dir"]).exists()
