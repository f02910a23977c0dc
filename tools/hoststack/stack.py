"""The whole stack as host processes on 127.0.0.1, in dependency order:
PostgreSQL -> Redis -> migration job -> auth + resource (gunicorn) -> nginx.

    with Stack(StackConfig(run_dir=path)) as stack:
        stack.gateway_url            # http://127.0.0.1:<port>
        stack.services["resource"].stop(); stack.services["resource"].start()

Used by `python -m hoststack up` (make dev) and by the end-to-end tests.
Everything it starts is stopped again by `stop()` - also at interpreter exit
(atexit) and on SIGTERM/SIGHUP when the caller has no handler of its own. A
state file in the run directory lets `python -m hoststack down` clean up
after a launcher that was killed outright.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import signal
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from hoststack.gateway import Gateway
from hoststack.postgres import MIGRATION_ROLE, PostgresCluster
from hoststack.procs import StartupError, free_port
from hoststack.redis import RedisServer
from hoststack.services import SPECS, Service, run_migrations

STATE_FILE = "hoststack.json"
DB_NAME = "app"
# Passed through from the launcher's environment; everything else the
# children see is set explicitly below, so a stray DB_PASSWORD or
# JWT_PRIVATE_KEY in your shell never leaks into the stack.
PASSTHROUGH_ENV = (
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "VIRTUAL_ENV",
    "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE",
)  # fmt: skip


@dataclass
class StackConfig:
    run_dir: Path | None = None  # None: a new temporary directory
    gateway_port: int | None = None  # None: a free port
    gateway_host: str = "127.0.0.1"
    environment: str = "development"  # ENVIRONMENT for the services and the job
    services: tuple[str, ...] = ("auth", "resource")
    web_concurrency: int = 2
    log_format: str = "json"
    log_level: str = "INFO"
    jwt_audience: str = "api"
    use_redis: bool = True  # False: the services count rate limits in memory
    # Extra settings for both services (e.g. {"LOGIN_RATE_LIMIT": "1000/minute"}).
    service_env: Mapping[str, str] = field(default_factory=dict)
    # The gateway's tunables (hoststack.gateway.GATEWAY_DEFAULTS otherwise).
    gateway_tunables: Mapping[str, str] = field(default_factory=dict)


class Stack:
    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.run_dir = Path(self.config.run_dir or tempfile.mkdtemp(prefix="hoststack-")).resolve()
        self.postgres: PostgresCluster | None = None
        self.redis: RedisServer | None = None
        self.services: dict[str, Service] = {}
        self.gateway: Gateway | None = None
        self.gateway_port = self.config.gateway_port or free_port()
        self.passwords = {name: secrets.token_urlsafe(24) for name in ("migrator", "auth", "resource")}
        self.private_key_file = self.run_dir / "secrets" / "jwt_private_key.pem"
        self._started = False
        self._previous_handlers: dict[int, Any] = {}
        # The signal that asked us to stop, if one did (see _on_signal).
        self.stop_signal: int | None = None

    # --- addresses ---------------------------------------------------------
    @property
    def gateway_url(self) -> str:
        return f"http://{self.config.gateway_host}:{self.gateway_port}"

    @property
    def gateway_access_log(self) -> Path:
        return self.run_dir / "gateway-access.log"

    def urls(self) -> dict[str, str]:
        urls = {
            "gateway": self.gateway_url,
            "auth docs": f"{self.gateway_url}/auth/docs",
            "resource docs": f"{self.gateway_url}/resource/docs",
        }
        for name, service in self.services.items():
            urls[f"{name} (direct)"] = service.url
        if self.postgres:
            urls["postgres"] = self.postgres.dsn(dbname=DB_NAME).replace(self.postgres.password, "***")
        if self.redis:
            urls["redis"] = self.redis.uri
        return urls

    # --- environment -------------------------------------------------------
    def _base_env(self) -> dict[str, str]:
        env = {name: os.environ[name] for name in PASSTHROUGH_ENV if name in os.environ}
        env.update(
            PYTHONUNBUFFERED="1",
            PYTHONDONTWRITEBYTECODE="1",
            ENVIRONMENT=self.config.environment,
            LOG_FORMAT=self.config.log_format,
            LOG_LEVEL=self.config.log_level,
        )
        return env

    def _db_env(self, user: str, password: str) -> dict[str, str]:
        assert self.postgres is not None
        return {
            "DB_HOST": self.postgres.host,
            "DB_PORT": str(self.postgres.port),
            "DB_NAME": DB_NAME,
            "DB_USER": user,
            "DB_PASSWORD": password,
        }

    def migration_env(self) -> dict[str, str]:
        assert self.postgres is not None
        return {
            **self._base_env(),
            **self._db_env(MIGRATION_ROLE, self.passwords["migrator"]),
            "AUTH_DB_PASSWORD": self.passwords["auth"],
            "RESOURCE_DB_PASSWORD": self.passwords["resource"],
        }

    def service_env(self, name: str, auth_port: int) -> dict[str, str]:
        spec = SPECS[name]
        env = {
            **self._base_env(),
            **self._db_env(spec.db_user, self.passwords[name]),
            "RATE_LIMIT_STORAGE_URI": self.redis.uri if self.redis else "memory://",
            "JWT_ISSUER": self.gateway_url,
            "JWT_AUDIENCE": self.config.jwt_audience,
            "WEB_CONCURRENCY": str(self.config.web_concurrency),
            # The gateway connects from 127.0.0.1; on the host that is also
            # where every other local client comes from.
            "FORWARDED_ALLOW_IPS": "127.0.0.1",
        }
        if self.redis:
            env["REDIS_PASSWORD"] = self.redis.password
        if name == "auth":
            env["JWT_PRIVATE_KEY_FILE"] = str(self.private_key_file)
        else:
            env["JWKS_URL"] = f"http://127.0.0.1:{auth_port}/.well-known/jwks.json"
        env.update(self.config.service_env)
        return env

    def _write_private_key(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self.private_key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(self.private_key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)

    # --- lifecycle -----------------------------------------------------------
    def start(self, timeout: float = 90.0) -> Stack:
        if self._started:
            return self
        unknown = set(self.config.services) - set(SPECS)
        if unknown:
            raise ValueError(f"unknown services: {sorted(unknown)}")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._started = True
        atexit.register(self.stop)
        self._install_signal_handlers()
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        started = time.monotonic()
        self.postgres = PostgresCluster()
        self._write_state()  # from here on `down` can find what we started
        self.postgres.start()
        self._write_state()
        self.postgres.create_app_database(DB_NAME, self.passwords["migrator"])
        if self.config.use_redis:
            self.redis = RedisServer(self.run_dir, env=self._base_env())
            self.redis.start()
        self._write_private_key()
        run_migrations(self.migration_env(), self.run_dir / "migrate.log")

        auth_port = free_port()
        for name in ("auth", "resource"):
            if name in self.config.services:
                port = auth_port if name == "auth" else None
                self.services[name] = Service(
                    SPECS[name], self.run_dir, env=self.service_env(name, auth_port), port=port
                )
        for service in self.services.values():  # start together, then wait for each
            service.metrics_dir.mkdir(parents=True, exist_ok=True)
            service.process.start()
        self._write_state()
        for service in self.services.values():
            remaining = max(5.0, timeout - (time.monotonic() - started))
            service.wait_ready(remaining, between=self.stop_if_asked)
        self.stop_if_asked()

        # A service left out of the stack still gets an upstream: a port with
        # nothing behind it, so its routes answer 502.
        upstreams = {
            name: (self.services[name].upstream if name in self.services else f"127.0.0.1:{free_port()}")
            for name in ("auth", "resource")
        }
        self.gateway = Gateway(
            self.run_dir,
            listen=f"{self.config.gateway_host}:{self.gateway_port}",
            auth_upstream=upstreams["auth"],
            resource_upstream=upstreams["resource"],
            env=self._base_env(),
            tunables=self.config.gateway_tunables,
        )
        self.gateway.start()
        self._write_state()

    def stop(self) -> None:
        """Stop everything, newest first. Safe to call more than once."""
        if not self._started:
            return
        self._started = False
        errors: list[str] = []
        pieces: list[Any] = [self.gateway, *reversed(self.services.values()), self.redis, self.postgres]
        for piece in pieces:
            if piece is None:
                continue
            try:
                piece.stop()
            except Exception as exc:  # keep going: stop the rest regardless
                errors.append(f"{type(piece).__name__}: {exc}")
        with contextlib.suppress(OSError):
            (self.run_dir / STATE_FILE).unlink()
        self._restore_signal_handlers()
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        if errors:
            raise StartupError("while stopping the stack: " + "; ".join(errors))

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- signals and the state file -----------------------------------------
    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(signum) in (signal.SIG_DFL, None):
                self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Unwind normally (finally blocks, context managers), then stop. The
        # request is kept too: a handler that runs inside a __del__ has its
        # exception printed and dropped ("Exception ignored in ..."), and the
        # waits of start-up and the caller's loop look at it again.
        self.stop_signal = signum
        self.stop_if_asked()

    def stop_if_asked(self) -> None:
        """Raise SystemExit if a signal asked us to stop (see _on_signal)."""
        if self.stop_signal is not None:
            raise SystemExit(128 + self.stop_signal)

    def _write_state(self) -> None:
        processes = {}
        for name, piece in (("redis", self.redis), ("gateway", self.gateway), *self.services.items()):
            if piece is not None and piece.process.pid:
                processes[name] = {"pid": piece.process.pid, "argv0": piece.process.argv[0]}
        postgres = None
        if self.postgres is not None:
            postgres = {
                "base_dir": str(self.postgres.base_dir),
                "datadir": str(self.postgres.datadir),
                "bindir": str(self.postgres.bindir),
            }
        state = {"launcher_pid": os.getpid(), "processes": processes, "postgres": postgres, "urls": self.urls()}
        (self.run_dir / STATE_FILE).write_text(json.dumps(state, indent=2))
