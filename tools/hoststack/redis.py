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


# What redis_exporter needs (INFO and a few introspection commands) and no
# key or channel: the `monitor` user.
MONITOR_USER = "monitor"
MONITOR_RULES = (
    "resetkeys resetchannels -@all +ping +info +select +client|setname +client|list +config|get"
    " +slowlog|get +slowlog|len +latency|latest +cluster|info +memory|stats"
)


def acl_file_line(password: str, monitor_password: str | None = None) -> str:
    """Redis's default user with only the password's SHA-256 (Redis never
    holds the password itself), without the admin and dangerous commands the
    limiter never uses (CONFIG, SHUTDOWN, FLUSHALL, KEYS, ...); and, given its
    password, the monitoring user likewise. deploy/scripts/make-secrets.sh
    writes the same lines (a test holds them together)."""
    lines = f"user default on #{_sha256(password)} ~* &* +@all -@admin -@dangerous\n"
    if monitor_password is not None:
        lines += f"user {MONITOR_USER} on #{_sha256(monitor_password)} {MONITOR_RULES}\n"
    return lines


def _sha256(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


class RedisServer:
    host = "127.0.0.1"

    def __init__(
        self, run_dir: Path, *, env: Mapping[str, str], port: int | None = None, acl: str | None = None
    ) -> None:
        """`acl`: the ACL file's text (default: the default user with a
        password of its own, in `password`)."""
        self.port = port or free_port()
        self.password = secrets.token_urlsafe(24)
        self.dir = run_dir / "redis"
        self.acl_file = self.dir / "users.acl"
        self.acl = acl or acl_file_line(self.password)
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
            handle.write(self.acl)
        self.process.start()
        wait_for_port(self.host, self.port, timeout=timeout, process=self.process)

    def stop(self) -> None:
        self.process.stop()
