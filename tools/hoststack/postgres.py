"""A throwaway PostgreSQL cluster on 127.0.0.1, for tests and `make dev`.

initdb into a temporary folder, start on a free port with pg_ctl, stop and
delete it again. Runs as the current user; as root (where PostgreSQL refuses
to run) the cluster is owned by and run as the `postgres` system user.
"""

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from hoststack.paths import MIGRATION_ROLE_SCRIPT
from hoststack.procs import free_port


class PostgresNotFound(RuntimeError):
    pass


def find_bindir() -> Path:
    """The directory holding initdb and pg_ctl."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    if shutil.which("pg_config"):
        candidates.append(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(str(Path(initdb).resolve().parent))
    for candidate in filter(None, candidates):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise PostgresNotFound(
        "PostgreSQL server binaries (initdb, pg_ctl) not found. Install PostgreSQL 15+ "
        "(Debian: apt-get install postgresql) or set PG_BINDIR."
    )


MIGRATION_ROLE = "migrator"


class PostgresCluster:
    host = "127.0.0.1"
    superuser = "postgres"

    def __init__(self, port: int | None = None, base_dir: Path | None = None) -> None:
        self.port = port or free_port()
        self.password = secrets.token_urlsafe(16)
        self.bindir = find_bindir()
        self._own_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="pgcluster-"))
        self.datadir = self.base_dir / "data"
        self.logfile = self.base_dir / "postgres.log"
        self._run_as = "postgres" if os.geteuid() == 0 else None

    def _cmd(self, *args: str | Path, **kwargs) -> subprocess.CompletedProcess:
        command = [str(arg) for arg in args]
        user = None
        if self._run_as:
            user = pwd.getpwnam(self._run_as).pw_uid
        return subprocess.run(command, check=True, capture_output=True, text=True, user=user, **kwargs)

    def start(self) -> "PostgresCluster":
        if self._run_as:
            shutil.chown(self.base_dir, self._run_as)
        pwfile = self.base_dir / "pwfile"
        pwfile.write_text(self.password)
        if self._run_as:
            shutil.chown(pwfile, self._run_as)
        self._cmd(
            self.bindir / "initdb",
            "-D",
            self.datadir,
            "-U",
            self.superuser,
            "--pwfile",
            pwfile,
            "-A",
            "scram-sha-256",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        pwfile.unlink()
        options = (
            f"-h {self.host} -p {self.port} -k {self.base_dir} -c fsync=off -c full_page_writes=off "
            "-c synchronous_commit=off -c max_connections=200"
        )
        self._cmd(
            self.bindir / "pg_ctl", "-D", self.datadir, "-l", self.logfile, "-o", options, "-w", "-t", "60", "start"
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not start; see {self.logfile}")

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run `sql` as the superuser; its output, unaligned."""
        return self._psql(["-c", sql], dbname)

    def run_script(self, script: Path, dbname: str = "postgres", **variables: str) -> str:
        """Run a psql script as the superuser, with psql `variables` (:'name')."""
        options = [arg for name, value in variables.items() for arg in ("-v", f"{name}={value}")]
        return self._psql([*options, "-f", str(script)], dbname)

    def _psql(self, arguments: list[str], dbname: str) -> str:
        env = {**os.environ, "PGPASSWORD": self.password}
        result = subprocess.run(
            [
                str(self.bindir / "psql") if (self.bindir / "psql").exists() else "psql",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.superuser,
                "-d",
                dbname,
                "-v",
                "ON_ERROR_STOP=1",
                "--no-psqlrc",
                "-At",
                *arguments,
            ],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        return result.stdout

    def create_database(self, name: str) -> None:
        self.psql(f'CREATE DATABASE "{name}"')

    def create_app_database(self, name: str, migrator_password: str) -> None:
        """A database owned by the (non-superuser) migration role, made as the
        postgres container makes it: by deploy/postgres/migration-role.psql."""
        self.create_database(name)
        self.run_script(MIGRATION_ROLE_SCRIPT, migrator_password=migrator_password, app_db=name)

    def dsn(self, user: str | None = None, password: str | None = None, dbname: str = "postgres") -> str:
        return f"postgresql://{user or self.superuser}:{password or self.password}@{self.host}:{self.port}/{dbname}"

    def stop(self) -> None:
        if self.datadir.exists():
            try:
                self._cmd(self.bindir / "pg_ctl", "-D", self.datadir, "-m", "immediate", "-w", "stop")
            except subprocess.CalledProcessError:
                pass  # not running
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> "PostgresCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
