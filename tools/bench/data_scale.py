"""Scale with data: one user with a million bookmarks and a million items,
and what a list costs the resource service then.

    python tools/bench/data_scale.py postgresql://migrator:...@127.0.0.1:5432/app [--rows 1000000]

Seeds (once per database: a user already seeded is reused) one user with
`rows` bookmarks and `rows` items by INSERT ... SELECT generate_series, with
varied titles, URLs and descriptions: a rare word (`quokka`) in 1 row in
10 000, so `q=quokka` matches 100 of a million, and words every row holds
(`example`). Some other users get a few thousand rows each, so the owner is
one among others. Then it runs the resource app in-process (ASGI, against
that PostgreSQL) and reads each request's `duration_ms` from the service's
own access log line, as `make bench` does for the deployed stack.

Token verification is left out: the caller's id is given to the app as its
`CurrentUserId` (verifying a token costs the same whatever the data).

`measure(url)` returns rows of (case, median ms, p99 ms, X-Total-Count);
the database must be migrated (`python -m migrations`) and `url` a role
that may insert rows (the migration role).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from resource_service.config import ResourceSettings
from resource_service.main import create_app
from servicekit.auth import current_user_id
from servicekit.tokens import StaticKeys

OWNER_EMAIL = "data-scale-owner@bench.example"
OTHER_USERS = 20
OTHER_ROWS = 5_000
RARE = "quokka"  # in 1 row in 10 000
COMMON = "example"  # in every row

# Words the titles and descriptions are made of: n picks them, so texts vary.
WORDS = [
    *"alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november".split(),
    *"oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu python".split(),
    *"postgres index cursor trigram gateway kernel network recipe garden travel music history science".split(),
]
# The owners (this user with :rows rows, the others with :other_rows each) and n, their rows.
SEED = [
    """INSERT INTO users (id, email, password_hash) VALUES (CAST(:owner AS uuid), :email, 'x')""",
    """INSERT INTO users (id, email, password_hash)
       SELECT gen_random_uuid(), 'data-scale-' || n || '@bench.example', 'x'
       FROM generate_series(1, CAST(:others AS int)) n""",
    """INSERT INTO bookmarks (id, owner_id, url, title, description, tags, created_at, updated_at, version)
       SELECT gen_random_uuid(), o.id,
              'https://' || w[1 + n % 40] || '.' || CAST(:common AS text) || '.org/'
                  || w[1 + (n / 40) % 40] || '/' || n,
              initcap(w[1 + n % 37]) || ' ' || w[1 + (n / 37) % 39] || ' ' || w[1 + (n / 1443) % 40]
                  || CASE WHEN n % 10000 = 0 THEN ' ' || CAST(:rare AS text) ELSE '' END,
              CASE WHEN n % 3 = 0 THEN NULL
                   ELSE 'Notes on ' || w[1 + (n / 7) % 40] || ' and ' || w[1 + (n / 11) % 40] || ', item ' || n END,
              ARRAY['tag-' || n % 100] || CASE WHEN n % 20000 = 0 THEN ARRAY['rare-tag'] ELSE '{}' END,
              now() - n * interval '1 second', now(), 1
       FROM (SELECT id, CASE WHEN id = CAST(:owner AS uuid) THEN CAST(:rows AS int) ELSE CAST(:other_rows AS int) END
              AS rows FROM users WHERE id = CAST(:owner AS uuid) OR email LIKE 'data-scale-%') o,
            LATERAL generate_series(1, o.rows) n, (SELECT CAST(:words AS text[]) AS w) words""",
    """INSERT INTO items (id, owner_id, title, description, price, is_available, created_at, updated_at, version)
       SELECT gen_random_uuid(), o.id,
              initcap(w[1 + n % 39]) || ' ' || w[1 + (n / 39) % 37] || ' no. ' || n
                  || CASE WHEN n % 10000 = 0 THEN ' ' || CAST(:rare AS text) ELSE '' END,
              'An ' || CAST(:common AS text) || ' of ' || w[1 + (n / 13) % 40],
              CASE WHEN n % 10 = 0 THEN NULL ELSE (n % 5000) + 0.99 END, n % 4 > 0,
              now() - n * interval '1 second', now(), 1
       FROM (SELECT id, CASE WHEN id = CAST(:owner AS uuid) THEN CAST(:rows AS int) ELSE CAST(:other_rows AS int) END
              AS rows FROM users WHERE id = CAST(:owner AS uuid) OR email LIKE 'data-scale-%') o,
            LATERAL generate_series(1, o.rows) n, (SELECT CAST(:words AS text[]) AS w) words""",
]


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    params: dict[str, Any]
    repeats: int
    follow: int = 0  # how many `Link` pages to follow from this one, each timed once


CASES = [
    Case("bookmarks: page 1 (default sort)", "/bookmarks/", {}, 50),
    Case("bookmarks: Link next pages (20 followed)", "/bookmarks/", {}, 3, follow=20),
    Case("bookmarks: title sort, Link next pages", "/bookmarks/", {"sort": "title"}, 3, follow=20),
    Case("bookmarks: offset 500 000 (deep)", "/bookmarks/", {"offset": 500_000}, 5),
    Case(f"bookmarks: q={RARE} (selective)", "/bookmarks/", {"q": RARE}, 30),
    Case(f"bookmarks: q={COMMON} (every row)", "/bookmarks/", {"q": COMMON}, 5),
    Case("bookmarks: q=python (1 in 40 rows)", "/bookmarks/", {"q": "python"}, 5),
    Case("bookmarks: tag=rare-tag (selective)", "/bookmarks/", {"tag": "rare-tag"}, 30),
    Case("bookmarks: tag=tag-7 (1 in 100 rows)", "/bookmarks/", {"tag": "tag-7"}, 10),
    Case("items: page 1 (default sort)", "/items/", {}, 50),
    Case("items: Link next pages (20 followed)", "/items/", {}, 3, follow=20),
    Case("items: -price sort, Link next pages", "/items/", {"sort": "-price"}, 3, follow=20),
    Case("items: price sort, Link next pages", "/items/", {"sort": "price"}, 3, follow=20),
    Case(f"items: q={RARE} (selective)", "/items/", {"q": RARE}, 30),
    Case("items: is_available=false", "/items/", {"is_available": "false"}, 5),
]


class _Durations(logging.Handler):
    """Collects `duration_ms` from the service's access log records."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, dict) and "duration_ms" in record.msg:
            self.values.append(record.msg["duration_ms"])


async def seed(url: str, rows: int) -> uuid.UUID:
    """The owner's id, seeding the owner and the others first if needed."""
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with engine.begin() as connection:
            owner = await connection.scalar(text("SELECT id FROM users WHERE email = :email"), {"email": OWNER_EMAIL})
            if owner is not None:
                return uuid.UUID(str(owner))
            owner = uuid.uuid4()
            values = {"owner": str(owner), "email": OWNER_EMAIL, "others": OTHER_USERS}
            values |= {"rows": rows, "other_rows": OTHER_ROWS, "words": WORDS, "rare": RARE, "common": COMMON}
            for statement in SEED:
                started = time.perf_counter()
                await connection.execute(text(statement), values)
                print(f"seeded in {time.perf_counter() - started:6.1f} s: {statement.split()[2]}", flush=True)
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("VACUUM ANALYZE users, items, bookmarks, row_counts"))
        return owner
    finally:
        await engine.dispose()


def _app_settings(url: str) -> ResourceSettings:
    parsed = make_url(url)
    return ResourceSettings(
        environment="test",
        db_host=parsed.host,
        db_port=parsed.port or 5432,
        db_name=parsed.database,
        db_user=parsed.username,
        db_password=parsed.password,
        jwks_url="http://unused.invalid/jwks.json",
        session_cache_listening_seconds=0,  # no token, no session to check
        log_level="INFO",
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _run_cases(url: str, owner: uuid.UUID, report: Callable[[str], None]) -> list[tuple[str, float, float, int]]:
    app = create_app(_app_settings(url), key_source=StaticKeys([]))

    async def the_owner() -> uuid.UUID:
        return owner

    app.dependency_overrides[current_user_id] = the_owner
    durations = _Durations()
    access = logging.getLogger("access")
    access.addHandler(durations)
    results = []
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://data-scale") as client:
                # Warm: the pool's first connection, the statements' first build.
                for path in {case.path for case in CASES}:
                    (await client.get(path)).raise_for_status()
                for case in CASES:
                    durations.values.clear()
                    total = 0
                    for _ in range(case.repeats):
                        response = await client.get(case.path, params=case.params)
                        response.raise_for_status()
                        total = int(response.headers["x-total-count"])
                        if case.follow:
                            durations.values.pop()  # the first page is another case
                        for _ in range(case.follow):
                            response = await client.get(response.links["next"]["url"])
                            response.raise_for_status()
                            assert int(response.headers["x-total-count"]) == total
                    timings = durations.values
                    row = (case.name, statistics.median(timings), percentile(timings, 0.99), total)
                    report(f"{row[0]:45} median {row[1]:8.2f} ms   p99 {row[2]:8.2f} ms   X-Total-Count {row[3]}")
                    results.append(row)
    finally:
        access.removeHandler(durations)
    return results


async def measure_async(
    url: str, rows: int = 1_000_000, report: Callable[[str], None] = print
) -> list[tuple[str, float, float, int]]:
    owner = await seed(url, rows)
    return await _run_cases(url, owner, report)


def measure(url: str, rows: int = 1_000_000) -> list[tuple[str, float, float, int]]:
    """Seed (if not yet) and measure: rows of (case, median ms, p99 ms, X-Total-Count)."""
    # The access log's lines go to our handler, not the terminal; nor do the client's.
    logging.getLogger("access").propagate = False
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return asyncio.run(measure_async(url, rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="postgresql://<migration role>:<password>@host:port/db, migrated")
    parser.add_argument("--rows", type=int, default=1_000_000, help="the owner's bookmarks (and items)")
    arguments = parser.parse_args()
    measure(arguments.url, arguments.rows)


if __name__ == "__main__":
    main()
