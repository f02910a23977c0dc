"""`make bench`: the deployed stack's throughput and latency, side by side
with a naive tutorial app and a bare floor app, measured in one run.

    python tools/bench/bench.py [--duration 10] [--runs 3] [--connections 32] [--quick]

Brings up the host stack (PostgreSQL, Redis, the migration job, both
services under gunicorn, the nginx gateway - tools/hoststack, as `make dev`
does) in production mode, seeds many users with thousands of rows, logs
every virtual user in through the gateway (a token each), then drives `wrk`
(tools/bench/wrk/scenario.lua) at every scenario: through the gateway,
straight at the resource service, and at the naive app
(tools/bench/naive_app.py, the frozen yardstick) and the floor app
(tools/bench/floor_app.py), each of those under gunicorn with one uvicorn
worker, on the same PostgreSQL. Every figure is the median of `--runs` runs
(min and max beside it); the ratios are computed within this run.

The bench's own traffic is exempt from the gateway's and the services' rate
limits through RATE_LIMIT_EXEMPT_SECRET (off unless set; see README,
"Benchmarks"): a random secret for this run only, sent as `X-RateLimit-Exempt`.

It prints one table and writes it, with the command, the machine and the
date, to docs/benchmarks.md, and a chart of it to docs/benchmarks.png.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import data_scale
import httpx
from compose_stack import compose_stack

from hoststack.postgres import MIGRATION_ROLE
from hoststack.procs import ManagedProcess, free_port, http_status, wait_until
from hoststack.stack import DB_NAME, Stack, StackConfig
from servicekit.etags import make_etag
from servicekit.ratelimit import EXEMPT_HEADER

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent.parent
SCRIPT = BENCH_DIR / "wrk" / "scenario.lua"
PASSWORD = "bench passphrase of some length"  # noqa: S105 - the seeded users' password
USERS = 512  # virtual users, a token each: 256 per wrk thread, so no PATCH overtakes another of its item
ISSUER = "http://auth.local"
SETTLE_SECONDS = 1.5
# The scenarios that send `If-Match` (tools/bench/wrk/scenario.lua).
ETAG_SCENARIOS = frozenset({"patch", "mixed"})
ROWS_PER_USER = 200  # bookmarks and items each

# scenario -> (label, wrk scenario name)
SCENARIOS = {
    "list": "GET /bookmarks/?limit=20",
    "item": "GET /items/{id}",
    "create": "POST /bookmarks/",
    "patch": "PATCH /items/{id} (If-Match)",
    "mixed": "mixed: 80 % reads, 15 % writes, 5 % logins",
}
PROFILED = ("list", "create", "patch")
# Scenarios only a whole stack answers (logins go to the auth service): the
# gateways only, neither the resource service alone nor the yardsticks.
STACK_ONLY = frozenset({"mixed"})
GATEWAYS = frozenset({"gateway (host stack)", "gateway (compose)"})


# data_scale.measure's rows: (case, median ms, p99 ms, X-Total-Count).
Scale = list[tuple[str, float, float, int]]


# What wrk counts as an error: an answer outside 2xx/3xx, or a socket error.
ERROR_KINDS = ("non_2xx", "connect", "read", "write", "timeout")


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int] = field(default_factory=dict)  # by kind (ERROR_KINDS)


@dataclass
class Figure:
    target: str
    scenario: str
    samples: list[Sample] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(sample, attr) for sample in self.samples)

    def spread(self, attr: str) -> tuple[float, float]:
        values = [getattr(sample, attr) for sample in self.samples]
        return min(values), max(values)

    @property
    def errors(self) -> str:
        """How many, and of which kinds: `0`, or e.g. `5 (read 5)`."""
        kinds = collections.Counter[str]()
        for sample in self.samples:
            kinds.update(sample.errors)
        total = sum(kinds.values())
        named = ", ".join(f"{kind} {count}" for kind, count in kinds.items() if count)
        return f"{total} ({named})" if total else "0"


def wrk(url: str, scenario: str, data: Path, args: argparse.Namespace, secret: str, duration: float) -> Sample:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{duration:g}s",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPT),
        url,
        "--",
        scenario,
        str(data),
        str(args.threads),
        secret,
        uuid.uuid4().hex[:12],  # the run id: POST bodies unique across runs
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or "BENCH " not in result.stdout:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    line = next(line for line in result.stdout.splitlines() if line.startswith("BENCH "))
    stats = json.loads(line.removeprefix("BENCH "))
    return Sample(
        rps=stats["requests"] / (stats["duration_us"] / 1e6),
        p50_ms=stats["p50_us"] / 1000,
        p99_ms=stats["p99_us"] / 1000,
        errors={kind: stats[kind] for kind in ERROR_KINDS},
    )


@contextmanager
def serving(label: str, app: str, env: dict[str, str], log_dir: Path) -> Iterator[str]:
    """`app` (module:attribute in tools/bench) under gunicorn, one uvicorn worker."""
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "-k", "uvicorn_worker.UvicornWorker", "-w", "1"]
    argv += ["--bind", f"127.0.0.1:{port}", "--log-level", "warning", app]
    process = ManagedProcess(label, argv, env={**os.environ, **env}, cwd=BENCH_DIR, log_path=log_dir / f"{label}.log")
    process.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_status(base + "/openapi.json") in (200, 404), timeout=30, process=process, what="up")
        yield base
    except Exception:
        print(f"--- {label}'s log:\n{(log_dir / f'{label}.log').read_text()[-3000:]}", file=sys.stderr)
        raise
    finally:
        process.stop()


# Runs SQL as the database's superuser, on the application's database; its
# output, unaligned.
Psql = Callable[[str], str]


def seed(psql: Psql) -> list[tuple[str, str]]:
    """USERS accounts with ROWS_PER_USER bookmarks and items each (as rows
    the services wrote would be); (email, one item id) per user."""
    from auth_service.passwords import _CONTEXT

    password_hash = _CONTEXT.hash(PASSWORD)
    run = uuid.uuid4().hex[:8]
    # Only our own constants are interpolated.
    psql(
        f"""
        INSERT INTO users (id, email, password_hash)
            SELECT gen_random_uuid(), 'bench-{run}-' || n || '@example.com', '{password_hash}'
            FROM generate_series(1, {USERS}) n;
        INSERT INTO bookmarks (id, owner_id, url, title, description, tags, version)
            SELECT gen_random_uuid(), u.id, 'https://example.com/' || u.id || '/' || n, 'Page ' || n,
                   'A page worth keeping, number ' || n, ARRAY['bench', 'tag-' || (n % 10)], 1
            FROM users u CROSS JOIN generate_series(1, {ROWS_PER_USER}) n WHERE u.email LIKE 'bench-{run}-%';
        INSERT INTO items (id, owner_id, title, description, price, is_available, version)
            SELECT gen_random_uuid(), u.id, 'Item ' || n, 'Something to sell, number ' || n, n + 0.5, true, 1
            FROM users u CROSS JOIN generate_series(1, {ROWS_PER_USER}) n WHERE u.email LIKE 'bench-{run}-%';
        """  # noqa: S608
    )
    # As autovacuum leaves them in steady state: statistics and the visibility map.
    psql("VACUUM ANALYZE")
    rows = psql(
        f"SELECT u.email, min(i.id::text) FROM users u JOIN items i ON i.owner_id = u.id"  # noqa: S608
        f" WHERE u.email LIKE 'bench-{run}-%' GROUP BY u.email ORDER BY u.email"
    )
    return [tuple(line.split("|")) for line in rows.split()]  # type: ignore[misc]


@dataclass
class VirtualUsers:
    """The bench's users: a token each (from the real auth service, through
    the gateway) and one item each to PATCH."""

    psql: Psql
    rows: list[tuple[str, str, str]]  # token, item id, email
    # Each item's version as last read; seeded at 1.
    versions: dict[str, int] = field(default_factory=dict)

    @classmethod
    def log_in(cls, gateway_url: str, psql: Psql, users: list[tuple[str, str]], secret: str) -> VirtualUsers:
        rows = []
        with httpx.Client(base_url=gateway_url, headers={EXEMPT_HEADER: secret}, timeout=30) as client:
            for email, item_id in users:
                answer = client.post("/auth/token", data={"username": email, "password": PASSWORD})
                answer.raise_for_status()
                rows.append((answer.json()["access_token"], item_id, email))
        return cls(psql, rows, {item: 1 for _, item, _ in rows})

    def data_file(self, path: Path, etag: Callable[[str, int], str], scenario: str) -> Path:
        """The wrk data file, each item with its ETag as `etag` spells it.
        For a scenario that sends ETags the versions are read again (every
        PATCH run changes them), a moment after the last run: wrk stops with
        requests in flight, and a PATCH the server finishes after the read
        would leave its item's ETag stale for the whole next run (every PATCH
        of it a 412). The other scenarios send none: no wait, no query."""
        if scenario in ETAG_SCENARIOS:
            time.sleep(SETTLE_SECONDS)
            ids = ",".join(f"'{item}'" for item in self.versions)
            for line in self.psql(f"SELECT id, version FROM items WHERE id IN ({ids})").split():  # noqa: S608
                item, version = line.split("|")
                self.versions[item] = int(version)
        lines = [
            "\t".join([token, item, etag(item, self.versions[item]), email, PASSWORD])
            for token, item, email in self.rows
        ]
        path.write_text("\n".join(lines) + "\n")
        return path


def naive_etag(item_id: str, version: int) -> str:
    return f'"{item_id}-{version}"'  # tools/bench/naive_app.py's


def livez_under_login_load(
    stack: Stack, users: VirtualUsers, work: Path, args: argparse.Namespace, secret: str
) -> Figure:
    """32 clients hammer login through the gateway while one client asks the
    auth service's /livez (its own port on 127.0.0.1) in a loop."""
    figure = Figure("auth /livez during login load", "livez")
    auth = stack.services["auth"].url
    for _ in range(args.runs):
        latencies: list[float] = []
        stop = threading.Event()

        def probe(stop: threading.Event = stop, latencies: list[float] = latencies) -> None:
            with httpx.Client(timeout=5) as client:
                while not stop.is_set():
                    started = time.perf_counter()
                    client.get(f"{auth}/livez").raise_for_status()
                    latencies.append(time.perf_counter() - started)
                    time.sleep(0.01)

        thread = threading.Thread(target=probe)
        thread.start()
        data = users.data_file(work / "users.tsv", make_etag, "login")
        login = wrk(stack.gateway_url, "login", data, args, secret, args.duration)
        stop.set()
        thread.join()
        figure.samples.append(
            Sample(
                rps=login.rps,
                p50_ms=data_scale.percentile(latencies, 0.5) * 1000,
                p99_ms=data_scale.percentile(latencies, 0.99) * 1000,
                errors=login.errors,
            )
        )
    return figure


def check(url: str, scenario: str, data: Path, secret: str) -> None:
    """One request of `scenario` as wrk will send it, which must succeed:
    a bench of error answers measures nothing."""
    token, item = data.read_text().splitlines()[0].split("\t")[:2]
    headers = {"Authorization": f"Bearer {token}", EXEMPT_HEADER: secret}
    requests: dict[str, tuple[str, str, dict[str, str] | None]] = {
        "list": ("GET", "/bookmarks/?limit=20", None),
        "item": ("GET", f"/items/{item}", None),
        "create": ("POST", "/bookmarks/", {"url": f"https://check.example/{uuid.uuid4()}", "title": "x"}),
        "patch": ("PATCH", f"/items/{item}", {"title": "Checked"}),
        "mixed": ("GET", "/bookmarks/?limit=20", None),
    }
    method, path, body = requests[scenario]
    answer = httpx.request(method, url + path, headers=headers, timeout=10, json=body)
    if answer.status_code >= 300:
        raise RuntimeError(f"{method} {url}{path}: {answer.status_code} {answer.text[:300]}")


def measure(
    targets: dict[str, tuple[str, Callable[[str, int], str]]],
    scenarios: list[str],
    users: VirtualUsers,
    work: Path,
    args: argparse.Namespace,
    secret: str,
) -> list[Figure]:
    figures = []
    data = work / "users.tsv"
    for scenario in scenarios:
        for target, (url, etag) in targets.items():
            if scenario in STACK_ONLY and target not in GATEWAYS:
                continue
            figure = Figure(target, scenario)
            check(url, scenario, users.data_file(data, etag, scenario), secret)
            wrk(url, scenario, users.data_file(data, etag, scenario), args, secret, 2)  # warm-up: pools, caches
            for _ in range(args.runs):
                sample = wrk(url, scenario, users.data_file(data, etag, scenario), args, secret, args.duration)
                figure.samples.append(sample)
            print(
                f"  {SCENARIOS.get(scenario, scenario):<30} {target:<22} {figure.median('rps'):>8.0f} req/s"
                f"  p99 {figure.median('p99_ms'):.1f} ms  errors {figure.errors}",
                flush=True,
            )
            figures.append(figure)
    return figures


def table(figures: list[Figure]) -> list[str]:
    by = {(figure.target, figure.scenario): figure for figure in figures}
    rows = [
        "| scenario | target | req/s (median, min-max) | p50 ms | p99 ms | errors | x naive | x floor |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for figure in figures:
        naive, floor = by.get(("naive", figure.scenario)), by.get(("floor", figure.scenario))
        low, high = figure.spread("rps")
        ratio_naive = f"{figure.median('rps') / naive.median('rps'):.2f}" if naive else "-"
        ratio_floor = f"{figure.median('rps') / floor.median('rps'):.2f}" if floor else "-"
        rows.append(
            f"| {SCENARIOS.get(figure.scenario, figure.scenario)} | {figure.target} | {figure.median('rps'):.0f} "
            f"({low:.0f}-{high:.0f}) | {figure.median('p50_ms'):.1f} | {figure.median('p99_ms'):.1f} "
            f"| {figure.errors} | {ratio_naive} | {ratio_floor} |"
        )
    return rows


def chart(figures: list[Figure], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = [s for s in SCENARIOS if any(f.scenario == s for f in figures)]
    targets = list(dict.fromkeys(f.target for f in figures if f.scenario in scenarios))
    by = {(f.target, f.scenario): f.median("rps") for f in figures}
    fig, ax = plt.subplots(figsize=(10, 5))
    width = 0.8 / max(1, len(targets))
    for index, target in enumerate(targets):
        xs = [position + index * width for position in range(len(scenarios))]
        ax.bar(xs, [by.get((target, s), 0) for s in scenarios], width, label=target)
    ax.set_xticks([position + width * (len(targets) - 1) / 2 for position in range(len(scenarios))])
    ax.set_xticklabels([SCENARIOS[s] for s in scenarios], fontsize=8)
    ax.set_ylabel("requests/s (median)")
    ax.legend()
    ax.set_title("make bench")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per service (default 2)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"which of {','.join(SCENARIOS)} (default: all)"
    )
    parser.add_argument(
        "--data-rows",
        type=int,
        default=1_000_000,
        help="rows of one user for the data-scale figures (tools/bench/data_scale.py; 0 leaves them out)",
    )
    parser.add_argument(
        "--no-compose",
        dest="compose",
        action="store_false",
        help="leave out the compose stack's figures (needs a Docker engine: the stand-in tool's on these machines)",
    )
    parser.add_argument(
        "--profile",
        default=",".join(PROFILED),
        help=f"scenarios to profile a resource worker under, through the gateway (default {','.join(PROFILED)})",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: bash tools/install-host-deps.sh --bench")

    secret = secrets.token_urlsafe(32)
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    config = StackConfig(
        run_dir=work / "stack",
        environment="production",
        web_concurrency=args.workers,
        log_level="WARNING",
        # The issuer the naive app (frozen) expects.
        service_env={"RATE_LIMIT_EXEMPT_SECRET": secret, "JWT_ISSUER": ISSUER},
        gateway_tunables={"RATE_LIMIT_EXEMPT_SECRET": secret},
    )
    started = time.monotonic()
    with Stack(config) as stack:
        assert stack.postgres is not None
        print(
            f"stack up in {time.monotonic() - started:.0f} s; seeding {USERS} users x {ROWS_PER_USER} rows", flush=True
        )
        psql = partial(stack.postgres.psql, dbname=DB_NAME)
        users = VirtualUsers.log_in(stack.gateway_url, psql, seed(psql), secret)
        database_url = stack.postgres.dsn(dbname=DB_NAME)
        jwks = f"{stack.services['auth'].url}/.well-known/jwks.json"
        public_key = work / "public.pem"
        public_key.write_bytes(_public_pem(stack.private_key_file))
        yardsticks = {
            "naive": ("naive_app:app", {"DATABASE_URL": database_url.replace("postgresql://", "postgresql+asyncpg://"),
                                        "JWT_PUBLIC_KEY_FILE": str(public_key), "NAIVE_POOL": "1"}),
            "floor": ("floor_app:app", {"DATABASE_URL": database_url, "JWKS_URL": jwks,
                                        "JWT_ISSUER": ISSUER}),
        }  # fmt: skip
        targets: dict[str, tuple[str, Callable[[str, int], str]]] = {
            "gateway (host stack)": (stack.gateway_url, make_etag),
            "resource (direct)": (stack.services["resource"].url, make_etag),
        }
        with (
            serving("naive", *yardsticks["naive"], work) as naive,
            serving("floor", *yardsticks["floor"], work) as floor,
        ):
            targets |= {"naive": (naive, naive_etag), "floor": (floor, make_etag)}
            figures = measure(targets, args.scenarios.split(","), users, work, args, secret)
        figures.append(livez_under_login_load(stack, users, work, args, secret))
        profiles = {
            scenario: profile(stack, scenario, users, work, args, secret)
            for scenario in args.profile.split(",")
            if scenario
        }
        scale: Scale = []
        if args.data_rows:
            print(f"data scale: one user with {args.data_rows} bookmarks and items", flush=True)
            migrator = stack.postgres.dsn(MIGRATION_ROLE, stack.passwords["migrator"], DB_NAME)
            scale = data_scale.measure(migrator, args.data_rows)
    if args.compose:
        figures += compose_figures(args, secret, work)
    write_report(figures, profiles, scale, args)


def compose_figures(args: argparse.Namespace, secret: str, work: Path) -> list[Figure]:
    """The same scenarios through the gateway of `make up`'s compose stack
    (a project of the bench's own), beside the host stack's figures."""
    started = time.monotonic()
    with compose_stack({"RATE_LIMIT_EXEMPT_SECRET": secret}) as stack:
        print(f"compose stack up in {time.monotonic() - started:.0f} s; seeding", flush=True)
        users = VirtualUsers.log_in(stack.gateway_url, stack.psql, seed(stack.psql), secret)
        targets: dict[str, tuple[str, Callable[[str, int], str]]] = {
            "gateway (compose)": (stack.gateway_url, make_etag)
        }
        return measure(targets, args.scenarios.split(","), users, work, args, secret)


def _public_pem(private_key_file: Path) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_key_file.read_bytes(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


GENERATED_START = "<!-- make bench: generated from here -->"
GENERATED_END = "<!-- make bench: generated up to here -->"


def write_report(
    figures: list[Figure],
    profiles: dict[str, str],
    scale: list[tuple[str, float, float, int]],
    args: argparse.Namespace,
) -> None:
    """The tables (and the profiles) into `args.output` between the generated
    markers; what is written around them by hand stays."""
    rows = table(figures)
    print("\n".join(rows))
    scale_rows = []
    if scale:
        scale_rows = [
            "",
            f"Scale with data: one user with {args.data_rows} bookmarks and {args.data_rows} items among "
            f"{data_scale.OTHER_USERS} others (tools/bench/data_scale.py); the resource service's own "
            "`duration_ms` (its access log), in-process against the same PostgreSQL:",
            "",
            "| case | median ms | p99 ms | X-Total-Count |",
            "|---|---|---|---|",
            *(f"| {case} | {median:.2f} | {p99:.2f} | {total} |" for case, median, p99, total in scale),
        ]
        print("\n".join(scale_rows))
    described = []
    for scenario, summary in profiles.items():
        described += [
            "",
            f"Where a resource worker spends its time during `{SCENARIOS[scenario]}` through the gateway "
            "(py-spy, 10 s, share of samples):",
            "",
            "```",
            summary,
            "```",
        ]
    print("\n".join(described))
    command = "make bench" + (f" BENCH_ARGS={shlex.quote(' '.join(sys.argv[1:]))}" if sys.argv[1:] else "")
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    png = args.output.with_suffix(".png")
    chart(figures, png)
    generated = "\n".join(
        [
            GENERATED_START,
            f"`{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine}. wrk -t{args.threads} "
            f"-c{args.connections}, {args.duration:g} s per run, median of {args.runs} runs (min-max beside it); "
            f"{args.workers} gunicorn workers per service, one for each yardstick. Everything shares the same "
            "CPUs: PostgreSQL, Redis, the gateway, the services and wrk. The livez row: login req/s through the "
            "gateway, and the p50/p99 of the auth service's `/livez` meanwhile.",
            "",
            *rows,
            "",
            f"![chart]({png.name})",
            *scale_rows,
            *described,
            GENERATED_END,
        ]
    )
    text = args.output.read_text() if args.output.exists() else "# Benchmarks\n\n" + GENERATED_START + GENERATED_END
    if GENERATED_START in text and GENERATED_END in text:
        before, rest = text.split(GENERATED_START, 1)
        after = rest.split(GENERATED_END, 1)[1]
        text = before + generated + after
    else:
        text = text.rstrip() + "\n\n" + generated + "\n"
    args.output.write_text(text)
    print(f"wrote {args.output} and {png}")


def profile(stack: Stack, scenario: str, users: VirtualUsers, work: Path, args: argparse.Namespace, secret: str) -> str:
    """py-spy on one resource worker while wrk drives `scenario` through the
    gateway: the functions that take the most samples, by themselves and
    with what they call (our code, the frameworks)."""
    service = stack.services["resource"]
    assert service.process.pid is not None
    worker = int(subprocess.check_output(["pgrep", "-P", str(service.process.pid)]).split()[0])
    raw = work / "profile.txt"
    spy = subprocess.Popen(
        [sys.prefix + "/bin/py-spy", "record", "-p", str(worker), "-d", "10", "-r", "200", "-f", "raw", "-o", str(raw)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)  # attached
    wrk(stack.gateway_url, scenario, users.data_file(work / "users.tsv", make_etag, scenario), args, secret, 10)
    if spy.wait(timeout=60) != 0 or not raw.exists():
        raise RuntimeError(f"py-spy could not record the resource worker (pid {worker}): it needs ptrace (root)")
    return summarise_profile(raw.read_text())


def summarise_profile(raw: str, top: int = 15) -> str:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        if not line.strip():
            continue
        stack, count = line.rsplit(" ", 1)
        frames = [_frame_name(frame) for frame in stack.split(";")]
        if frames[0].startswith("Thread._bootstrap ("):
            continue  # a thread-pool thread (waiting, mostly), not the event loop
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    if not total:
        return "(no samples)"
    ours = re.compile(r"servicekit|resource_service|fastapi/|sqlalchemy/orm|pydantic|structlog|prometheus_client|jwt/")
    lines = [f"{total} samples of the event loop's thread; by themselves:"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in own.most_common(top)]
    lines.append("with what they call (application and framework code):")
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in inclusive.most_common(300) if ours.search(name)][
        : top * 2
    ]
    return "\n".join(lines)


def _frame_name(frame: str) -> str:
    match = re.match(r"(.*) \((.*?):\d+\)", frame)
    if not match:
        return frame
    function, path = match.groups()
    path = re.sub(r".*site-packages/", "", path)
    path = re.sub(r".*/services/[a-z]+/", "", path)
    return f"{function} ({path})"


if __name__ == "__main__":
    main()
