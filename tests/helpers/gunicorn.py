"""The resource service as it is deployed: `resource_service.main:app` under
gunicorn with the shared config (servicekit.gunicorn_conf), on a free port of
127.0.0.1, against the test database, verifying tokens with the test key."""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hoststack.procs import ManagedProcess, free_port, http_status, tail, wait_until
from migrations.roles import RESOURCE_ROLE
from tests.helpers.database import RESOURCE_DB_PASSWORD, Database
from tests.helpers.keys import public_pem


@dataclass(frozen=True)
class Served:
    base: str
    master: int  # gunicorn's master process

    def workers(self) -> set[int]:
        """The master's children: its workers."""
        children = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.master:
                children.add(int(stat.parent.name))
        return children


@contextmanager
def resource_under_gunicorn(database: Database, signing_key_file: Path, folder: Path, **env: str) -> Iterator[Served]:
    """The service while it runs; `env` adds settings (WEB_CONCURRENCY is 1
    unless it says otherwise). gunicorn's log is printed at the end, so a
    failing test shows it."""
    key_file = folder / "public.pem"
    key_file.write_bytes(public_pem(signing_key_file))
    port = free_port()
    environment = {
        **os.environ,
        **database.env(RESOURCE_ROLE, RESOURCE_DB_PASSWORD),
        "ENVIRONMENT": "test",
        "JWT_PUBLIC_KEY_FILE": str(key_file),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        **env,
    }
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:servicekit.gunicorn_conf", "resource_service.main:app"]
    process = ManagedProcess("resource", argv, env=environment, cwd=folder, log_path=folder / "gunicorn.log")
    process.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_status(f"{base}/livez") == 200, timeout=30, process=process, what="serving")
        assert process.pid is not None
        yield Served(base, process.pid)
    finally:
        process.stop()
        print(tail(folder / "gunicorn.log", 60))
