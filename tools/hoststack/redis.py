"""A throwaway Redis on 127.0.0.1 for the services' rate-limit counters,
with a password as in every other deployment: the same ACL file compose and
the dev overlay load (deploy/scripts/make-secrets.sh writes theirs)."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path

from hoststack.procs import ManagedProcess, StartupError, free_port, wait_for_port


def find_redis_server() -> str:
    for candidate in (os.environ.get("REDIS_SERVER_BIN"), shutil.which("redis-server"), "/usr/bin/redis-server"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise StartupError("redis-server not found: run tools/install-host-deps.sh (or set REDIS_SERVER_BIN)")


def acl_file_line(password: str) -> str:
    """Redis's default user with only the password's SHA-256 (Redis never
    holds the password itself), without the admin and dangerous commands the
    limiter never uses (CONFIG, SHUTDOWN, FLUSHALL, KEYS, ...)."""
    digest = hashlib.sha256(password.encode()).hexdigest()
    return f"user default on #{digest} ~* &* +@all -@admin -@dangerous\n"


class RedisServer:
    host = "127.0.0.1"

    def __init__(self, run_dir: Path, *, env: Mapping[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.password = secrets.token_urlsafe(24)
        self.dir = run_dir / "redis"
        self.acl_file = self.dir / "users.acl"
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
                "--aclfile", str(self.acl_file),
                "--loglevel", "warning",
            ],
            env=env,
            cwd=run_dir,
            log_path=run_dir / "redis.log",
        )  # fmt: skip

    @property
    def uri(self) -> str:
        """Without the password: the services get that apart (REDIS_PASSWORD)."""
        return f"redis://{self.host}:{self.port}/0"

    def start(self, timeout: float = 15.0) -> None:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.acl_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(acl_file_line(self.password))
        self.process.start()
        wait_for_port(self.host, self.port, timeout=timeout, process=self.process)

    def stop(self) -> None:
        self.process.stop()
