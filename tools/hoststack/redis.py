"""A throwaway Redis on 127.0.0.1 for the services' rate-limit counters."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from hoststack.procs import ManagedProcess, StartupError, free_port, wait_for_port


def find_redis_server() -> str:
    for candidate in (os.environ.get("REDIS_SERVER_BIN"), shutil.which("redis-server"), "/usr/bin/redis-server"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise StartupError("redis-server not found: run tools/install-host-deps.sh (or set REDIS_SERVER_BIN)")


class RedisServer:
    host = "127.0.0.1"

    def __init__(self, run_dir: Path, *, env: Mapping[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = run_dir / "redis"
        self.process = ManagedProcess(
            "redis",
            [
                find_redis_server(),
                "--port", str(self.port),
                "--bind", self.host,
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.dir),
                "--daemonize", "no",
                "--protected-mode", "yes",
                "--loglevel", "warning",
            ],
            env=env,
            cwd=run_dir,
            log_path=run_dir / "redis.log",
        )  # fmt: skip

    @property
    def uri(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self, timeout: float = 15.0) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process.start()
        wait_for_port(self.host, self.port, timeout=timeout, process=self.process)

    def stop(self) -> None:
        self.process.stop()
