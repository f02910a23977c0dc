"""Requests/s of the resource service's two hottest reads, next to a naive
tutorial-style FastAPI app answering the same queries, in one run.

    python tools/bench/resource_bench.py [--duration 10] [--threads 2] [--connections 32]

Starts a throwaway PostgreSQL cluster, runs the real migration job, seeds one
user with rows among other users' rows, then serves each app under gunicorn
with ONE worker on a free port and drives it with `wrk` (Debian: `apt-get
install wrk`, or `bash tools/install-host-deps.sh --bench`):

- `GET /bookmarks/?limit=20` (a page of 20 and the total count)
- `GET /items/{id}`

The resource service runs with its production settings (JSON access log,
metrics, pooled connections as `resource_svc`); the naive app is
tools/bench/naive_app.py, once without a pool (as in many tutorials) and
once with SQLAlchemy's default pool. Everything it starts is stopped again.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hoststack.postgres import PostgresCluster
from hoststack.procs import ManagedProcess, free_port, http_status, wait_until
from servicekit.keys import public_jwk

# gunicorn imports from its working directory: the naive app is served
# from here as `naive_app:app`.
BENCH_DIR = Path(__file__).resolve().parent

DB_NAME = "bench"
OWNER_ROWS = 200  # the benchmarked user's bookmarks and items
OTHER_USERS = 50  # ... among this many other users with as many rows each


@dataclass(frozen=True)
class App:
    label: str
    command: list[str]
    env: dict[str, str]
    ready_path: str


def _seed_sql(owner: uuid.UUID) -> str:
    # Only a UUID and integer constants of ours are interpolated.
    return f"""
    INSERT INTO users (id, email, password_hash)
        SELECT '{owner}', 'bench@example.com', 'x'
        UNION ALL SELECT gen_random_uuid(), 'other-' || n || '@example.com', 'x'
        FROM generate_series(1, {OTHER_USERS}) n;
    INSERT INTO bookmarks (id, owner_id, url, title, description, tags, version)
        SELECT gen_random_uuid(), u.id, 'https://example.com/page/' || n, 'Page ' || n,
               'A page worth keeping, number ' || n, ARRAY['bench', 'tag-' || (n % 10)], 1
        FROM users u CROSS JOIN generate_series(1, {OWNER_ROWS}) n;
    INSERT INTO items (id, owner_id, title, description, price, is_available, version)
        SELECT gen_random_uuid(), u.id, 'Item ' || n, 'Something to sell, number ' || n, n + 0.5, true, 1
        FROM users u CROSS JOIN generate_series(1, {OWNER_ROWS}) n;
    """  # noqa: S608


def _token(key: Ed25519PrivateKey, subject: uuid.UUID) -> str:
    now = int(time.time())
    claims = {
        "iss": "http://auth.local",
        "aud": "api",
        "sub": str(subject),
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "jti": uuid.uuid4().hex,
    }
    kid = public_jwk(key.public_key())["kid"]
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


@contextmanager
def _serving(app: App, port: int, log_dir: Path) -> Iterator[str]:
    env = {**os.environ, **app.env, "PORT": str(port), "HOST": "127.0.0.1"}
    argv = [*app.command, "--bind", f"127.0.0.1:{port}"]
    process = ManagedProcess(app.label, argv, env=env, cwd=BENCH_DIR, log_path=log_dir / f"{app.label}.log").start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_status(base + app.ready_path) == 200, timeout=30, process=process, what="serving")
        yield base
    finally:
        process.stop()


def _wrk(url: str, token: str, args: argparse.Namespace, duration: int) -> tuple[float, str, int]:
    """(requests/s, mean latency, non-2xx responses)."""
    result = subprocess.run(
        [
            "wrk",
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{duration}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))  # type: ignore[union-attr]
    latency = re.search(r"Latency\s+(\S+)", result.stdout).group(1)  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", result.stdout)
    return rps, latency, int(errors.group(1)) if errors else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk (or bash tools/install-host-deps.sh --bench)")

    work = Path(tempfile.mkdtemp(prefix="resource-bench-"))
    key = Ed25519PrivateKey.generate()
    public_key_file = work / "public.pem"
    public_key_file.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    owner = uuid.uuid4()
    token = _token(key, owner)
    resource_password = uuid.uuid4().hex

    try:
        with PostgresCluster() as cluster:
            cluster.create_database(DB_NAME)
            database = {"DB_HOST": cluster.host, "DB_PORT": str(cluster.port), "DB_NAME": DB_NAME}
            migrator = {**database, "DB_USER": cluster.superuser, "DB_PASSWORD": cluster.password}
            subprocess.run(
                [sys.executable, "-m", "migrations"],
                cwd=work,
                check=True,
                capture_output=True,
                env={
                    **os.environ,
                    **migrator,
                    "RESOURCE_DB_PASSWORD": resource_password,
                    "AUTH_DB_PASSWORD": uuid.uuid4().hex,
                },
            )
            cluster.psql(_seed_sql(owner), DB_NAME)
            # As autovacuum leaves them in steady state: statistics and the
            # visibility map (index-only counts). Both apps get the same.
            cluster.psql("VACUUM ANALYZE", DB_NAME)
            item_id = cluster.psql(f"SELECT id FROM items WHERE owner_id = '{owner}' LIMIT 1", DB_NAME).strip()  # noqa: S608

            gunicorn = [sys.executable, "-m", "gunicorn"]
            ours = {
                **database,
                "DB_USER": "resource_svc",
                "DB_PASSWORD": resource_password,
                "ENVIRONMENT": "production",
                "JWT_PUBLIC_KEY_FILE": str(public_key_file),
                "WEB_CONCURRENCY": "1",
            }
            naive_url = cluster.dsn(dbname=DB_NAME).replace("postgresql://", "postgresql+asyncpg://")
            naive = {"DATABASE_URL": naive_url, "JWT_PUBLIC_KEY_FILE": str(public_key_file)}
            naive_command = [*gunicorn, "-k", "uvicorn_worker.UvicornWorker", "-w", "1", "naive_app:app"]
            apps = [
                App(
                    "resource service",
                    [*gunicorn, "-c", "python:servicekit.gunicorn_conf", "resource_service.main:app"],
                    ours,
                    "/readyz",
                ),
                App("naive, no pool", naive_command, naive, "/openapi.json"),
                App("naive, pooled", naive_command, {**naive, "NAIVE_POOL": "1"}, "/openapi.json"),
            ]
            paths = {"GET /bookmarks/?limit=20": "/bookmarks/?limit=20", "GET /items/{id}": f"/items/{item_id}"}
            results: dict[tuple[str, str], tuple[float, str, int]] = {}
            for app in apps:
                with _serving(app, free_port(), work) as base:
                    for name, path in paths.items():
                        check = httpx.get(base + path, headers={"Authorization": f"Bearer {token}"})
                        assert check.status_code == 200, (app.label, name, check.text)
                        _wrk(base + path, token, args, 2)  # warm-up: pools, caches, prepared statements
                        results[app.label, name] = _wrk(base + path, token, args, args.duration)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, one gunicorn worker each, "
        f"{os.cpu_count()} CPUs shared with PostgreSQL and wrk"
    )
    print(f"{'endpoint':<26} {'app':<18} {'req/s':>9} {'mean latency':>13} {'non-2xx':>8}")
    for (label, name), (rps, latency, errors) in sorted(results.items(), key=lambda item: item[0][1]):
        print(f"{name:<26} {label:<18} {rps:>9.0f} {latency:>13} {errors:>8}")


if __name__ == "__main__":
    main()
