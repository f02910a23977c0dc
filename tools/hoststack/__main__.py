"""`python -m hoststack up|down|status`.

up      start the whole stack on 127.0.0.1 in the foreground (make dev);
        Ctrl-C or SIGTERM stops everything it started.
down    clean up after an `up` that was killed outright (SIGKILL, a crash):
        stops the processes recorded in the run directory's state file and
        the PostgreSQL cluster, then removes the state file.
status  print the state file of a running stack.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from hoststack.gateway import GATEWAY_DEFAULTS
from hoststack.paths import DEV_RUN_DIR
from hoststack.procs import StartupError, pid_alive
from hoststack.stack import STATE_FILE, Stack, StackConfig

DEFAULT_RUN_DIR = DEV_RUN_DIR


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _read_state(run_dir: Path) -> dict | None:
    try:
        return json.loads((run_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def cmd_up(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    state = _read_state(run_dir)
    if state and pid_alive(state.get("launcher_pid", 0)):
        print(
            f"hoststack: already running (launcher pid {state['launcher_pid']}); "
            f"stop it first: python -m hoststack down --run-dir {run_dir}",
            file=sys.stderr,
        )
        return 1
    if state:
        cmd_down(args)  # leftovers of a launcher that was killed
    if run_dir.exists():
        shutil.rmtree(run_dir)
    config = StackConfig(
        run_dir=run_dir,
        gateway_port=args.gateway_port,
        environment=args.environment,
        web_concurrency=args.workers,
        log_format=args.log_format,
        gateway_tunables={"GATEWAY_CONN_PER_ADDRESS": str(args.conn_per_address)},
    )
    # Ctrl-C must work even when started with SIGINT ignored (e.g. `cmd &`).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stack = Stack(config)
    started = time.monotonic()
    try:
        stack.start()
    except StartupError as exc:
        print(f"hoststack: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, SystemExit):
        # Stopped while still starting: `start` has already stopped what it
        # started; this is as clean an exit as a stop after start-up.
        print("\nhoststack: stopped during start-up", file=sys.stderr)
        return 0
    try:
        print(f"hoststack: up in {time.monotonic() - started:.1f}s; logs in {run_dir}", flush=True)
        for name, url in stack.urls().items():
            print(f"  {name:<18} {url}", flush=True)
        print("hoststack: Ctrl-C stops everything", flush=True)
        warned: set[str] = set()
        while True:
            stack.stop_if_asked()
            time.sleep(1)
            pieces = {"gateway": stack.gateway, "redis": stack.redis, **stack.services}
            for name, piece in pieces.items():
                if piece is not None and not piece.process.running() and name not in warned:
                    warned.add(name)
                    print(f"hoststack: {name} exited; see {piece.process.log_path}", file=sys.stderr, flush=True)
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C; SIGTERM/SIGHUP arrive as SystemExit
        print("\nhoststack: stopping", file=sys.stderr)
    finally:
        stack.stop()
    print("hoststack: stopped", file=sys.stderr)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    state = _read_state(run_dir)
    if state is None:
        print(f"hoststack: nothing recorded in {run_dir}", file=sys.stderr)
        return 0
    launcher = state.get("launcher_pid")
    if launcher and launcher != os.getpid() and pid_alive(launcher) and "hoststack" in _cmdline(launcher):
        # A live launcher cleans up after itself when asked to.
        os.kill(launcher, signal.SIGTERM)
        deadline = time.monotonic() + 40
        while pid_alive(launcher) and time.monotonic() < deadline:
            time.sleep(0.2)
    for name, info in state.get("processes", {}).items():
        pid = info["pid"]
        if not pid_alive(pid) or Path(info["argv0"]).name not in _cmdline(pid):
            continue  # gone, or the pid now belongs to something else
        print(f"hoststack: stopping {name} (process group {pid})", file=sys.stderr)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 25
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    postgres = state.get("postgres")
    if postgres and Path(postgres["datadir"]).is_dir():
        datadir = Path(postgres["datadir"])
        owner = datadir.stat().st_uid
        print(f"hoststack: stopping PostgreSQL in {datadir}", file=sys.stderr)
        subprocess.run(
            [str(Path(postgres["bindir"]) / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "-w", "stop"],
            user=owner if os.geteuid() == 0 and owner != 0 else None,
            capture_output=True,
            check=False,
        )
    if postgres:
        shutil.rmtree(postgres["base_dir"], ignore_errors=True)
    with contextlib.suppress(OSError):
        (run_dir / STATE_FILE).unlink()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    state = _read_state(args.run_dir)
    if state is None or not pid_alive(state.get("launcher_pid", 0)):
        print("hoststack: not running", file=sys.stderr)
        return 1
    print(json.dumps(state, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hoststack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=Path(os.environ.get("HOSTSTACK_RUN_DIR", DEFAULT_RUN_DIR)),
        help="logs, configs and state (default: .run/dev)",
    )
    parser.add_argument(
        "--gateway-port",
        type=int,
        default=int(os.environ.get("DEV_GATEWAY_PORT", "8081")),
        help="the gateway's port on 127.0.0.1 (default: $DEV_GATEWAY_PORT or 8081; 8080 is make up's)",
    )
    parser.add_argument(
        "--environment",
        default=os.environ.get("ENVIRONMENT", "development"),
        choices=("development", "production", "test"),
    )
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    parser.add_argument(
        "--conn-per-address",
        type=int,
        default=int(os.environ.get("GATEWAY_CONN_PER_ADDRESS", GATEWAY_DEFAULTS["GATEWAY_CONN_PER_ADDRESS"])),
        help="requests in progress per client address at the gateway (default: $GATEWAY_CONN_PER_ADDRESS or 64)",
    )
    parser.add_argument("--log-format", default=os.environ.get("LOG_FORMAT", "json"), choices=("json", "console"))
    args = parser.parse_args(argv)
    args.run_dir = args.run_dir.resolve()
    return {"up": cmd_up, "down": cmd_down, "status": cmd_status}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
