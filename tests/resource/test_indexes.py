"""Every list and filter query is served by an index. No planner switches
are touched: the tables get enough rows (one owner among fifty, as in real
life), are ANALYZEd, and the exact statements the repositories build are
EXPLAINed."""

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from migrations.roles import RESOURCE_ROLE
from resource_service.bookmarks.repository import BookmarkRepository
from resource_service.bookmarks.schemas import BookmarkQuery
from resource_service.items.repository import ItemRepository
from resource_service.items.schemas import ItemQuery
from resource_service.owned.repository import OwnedRepository
from resource_service.owned.schemas import make_cursor
from servicekit.db import database_url
from tests.helpers.apps import make_resource_settings
from tests.helpers.database import RESOURCE_DB_PASSWORD, Database

OTHER_USERS = 50
ROWS_PER_USER = 100
OWNER_ROWS = 300
# Users with one bookmark each: the kept counts (row_counts) hold a row per
# user and kind, and a table of one page is read whole, rightly, however it
# is asked; as many users as a real service has make it several pages.
SPARSE_USERS = 2000

# :owner is the user whose rows are listed; :batch tags this run's other users.
SEED = [
    """INSERT INTO users (id, email, password_hash)
       SELECT CAST(:owner AS uuid), CAST(:owner AS text) || '@seed.example', 'x'
       UNION ALL
       SELECT gen_random_uuid(), CAST(:batch AS text) || '-' || n || '@seed.example', 'x'
       FROM generate_series(1, CAST(:others AS int)) n""",
    """INSERT INTO items (id, owner_id, title, description, price, is_available, created_at, updated_at, version)
       SELECT gen_random_uuid(), owner_id, 'item ' || n, 'about ' || n, (n % 500) + 0.99, n % 3 > 0,
              now() - n * interval '1 minute', now(), 1
       FROM (SELECT CAST(:owner AS uuid) AS owner_id, CAST(:owner_rows AS int) AS rows
             UNION ALL
             SELECT id, CAST(:rows AS int) FROM users WHERE email LIKE CAST(:batch AS text) || '-%') owners
       CROSS JOIN LATERAL generate_series(1, rows) n""",
    """INSERT INTO bookmarks (id, owner_id, url, title, description, tags, created_at, updated_at, version)
       SELECT gen_random_uuid(), owner_id, 'https://example.com/' || n, 'page ' || n, NULL,
              CASE WHEN owner_id = CAST(:owner AS uuid) AND n <= 3 THEN ARRAY['rare', 'common']
                   ELSE ARRAY['common', 'tag-' || (n % 20)] END,
              now() - n * interval '1 minute', now(), 1
       FROM (SELECT CAST(:owner AS uuid) AS owner_id, CAST(:owner_rows AS int) AS rows
             UNION ALL
             SELECT id, CAST(:rows AS int) FROM users WHERE email LIKE CAST(:batch AS text) || '-%') owners
       CROSS JOIN LATERAL generate_series(1, rows) n""",
    """INSERT INTO users (id, email, password_hash)
       SELECT gen_random_uuid(), CAST(:batch AS text) || '-sparse-' || n || '@seed.example', 'x'
       FROM generate_series(1, CAST(:sparse AS int)) n""",
    """INSERT INTO bookmarks (id, owner_id, url, title, created_at, updated_at, version)
       SELECT gen_random_uuid(), id, 'https://example.com/one', 'one', now(), now(), 1
       FROM users WHERE email LIKE CAST(:batch AS text) || '-sparse-%'""",
]


@pytest.fixture(scope="module")
def owner_id() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture(scope="module")
async def engine(database: Database, owner_id: uuid.UUID) -> AsyncIterator[AsyncEngine]:
    migrator = create_async_engine(
        database_url(
            make_resource_settings(database, db_user=database.cluster.superuser, db_password=database.cluster.password)
        )
    )
    async with migrator.begin() as connection:
        params = {
            "owner": str(owner_id),
            "batch": uuid.uuid4().hex,
            "others": OTHER_USERS,
            "rows": ROWS_PER_USER,
            "owner_rows": OWNER_ROWS,
            "sparse": SPARSE_USERS,
        }
        for statement in SEED:
            await connection.execute(text(statement), params)
    async with migrator.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        # Every table the statements read, row_counts too: left to autovacuum,
        # its statistics depend on what ran before (a few rows: a Seq Scan).
        await connection.execute(text("ANALYZE users, items, bookmarks, row_counts"))
    await migrator.dispose()
    # The plans are asked for as the service asks its queries: as its own role.
    service = create_async_engine(
        database_url(make_resource_settings(database, db_user=RESOURCE_ROLE, db_password=RESOURCE_DB_PASSWORD))
    )
    yield service
    await service.dispose()


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


async def _plan(engine: AsyncEngine, statement: Any, values: dict[str, Any]) -> list[dict[str, Any]]:
    compiled = statement.compile(dialect=engine.dialect)
    bound = compiled.construct_params(values)
    parameters = tuple(bound[name] for name in compiled.positiontup)
    async with engine.connect() as connection:
        result = await connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", parameters)
        return list(_nodes(result.scalar_one()[0]["Plan"]))


# Where every owner row must be read anyway (a text search, a deep page),
# any index led by owner_id serves: the planner picks the cheapest.
ITEM_OWNER = {"ix_items_owner_created", "ix_items_owner_title", "ix_items_owner_price"}
BOOKMARK_OWNER = {"ix_bookmarks_owner_created", "ix_bookmarks_owner_title", "uq_bookmarks_owner_url"}
# A text search may instead find its rows by trigram (at scale, a selective
# one does: tools/bench/data_scale.py shows it on a million rows).
ITEM_SEARCH = ITEM_OWNER | {"ix_items_title_trgm", "ix_items_description_trgm"}
BOOKMARK_SEARCH = BOOKMARK_OWNER | {"ix_bookmarks_title_trgm", "ix_bookmarks_url_trgm", "ix_bookmarks_description_trgm"}


def case(repository: type[OwnedRepository], query: Any, indexes: set[str]) -> Any:
    values = query.model_dump(exclude_defaults=True)
    values.update({"cursor": query.after[0]} if query.after else {})
    label = ",".join(f"{key}={value}" for key, value in values.items())
    return pytest.param(repository, query, indexes, id=f"{repository.noun}s:{label or 'default'}")


def after(sort: str, key: Any) -> str:
    """A cursor in the middle of the owner's rows."""
    return make_cursor(sort, key, uuid.UUID(int=0))


MIDDLE = datetime.now(UTC) - timedelta(minutes=OWNER_ROWS // 2)

CASES = [
    case(ItemRepository, ItemQuery(), {"ix_items_owner_created"}),
    case(ItemRepository, ItemQuery(cursor=after("-created_at", MIDDLE)), {"ix_items_owner_created"}),
    case(ItemRepository, ItemQuery(sort="price", cursor=after("price", Decimal("250.99"))), {"ix_items_owner_price"}),
    case(ItemRepository, ItemQuery(sort="price", cursor=after("price", None)), {"ix_items_owner_price"}),
    case(ItemRepository, ItemQuery(sort="-price", cursor=after("-price", Decimal("250.99"))), {"ix_items_owner_price"}),
    case(ItemRepository, ItemQuery(sort="-price", cursor=after("-price", None)), {"ix_items_owner_price"}),
    case(ItemRepository, ItemQuery(sort="created_at"), {"ix_items_owner_created"}),
    case(ItemRepository, ItemQuery(sort="created_at", offset=280), ITEM_OWNER),
    case(ItemRepository, ItemQuery(sort="title"), {"ix_items_owner_title"}),
    case(ItemRepository, ItemQuery(sort="-title"), {"ix_items_owner_title"}),
    case(ItemRepository, ItemQuery(sort="price"), {"ix_items_owner_price"}),
    case(ItemRepository, ItemQuery(sort="-price", limit=100), {"ix_items_owner_price"}),
    case(ItemRepository, ItemQuery(q="item 1"), ITEM_SEARCH),
    case(ItemRepository, ItemQuery(is_available=False), {"ix_items_owner_created"}),
    case(
        ItemRepository,
        ItemQuery(min_price=Decimal("10"), max_price=Decimal("20"), sort="price"),
        {"ix_items_owner_price"},
    ),
    case(BookmarkRepository, BookmarkQuery(), {"ix_bookmarks_owner_created"}),
    case(BookmarkRepository, BookmarkQuery(sort="created_at"), {"ix_bookmarks_owner_created"}),
    case(BookmarkRepository, BookmarkQuery(sort="-title"), {"ix_bookmarks_owner_title"}),
    case(BookmarkRepository, BookmarkQuery(sort="url"), {"uq_bookmarks_owner_url"}),
    case(
        BookmarkRepository,
        BookmarkQuery(sort="url", cursor=after("url", "https://example.com/5")),
        {"uq_bookmarks_owner_url"},
    ),
    case(BookmarkRepository, BookmarkQuery(q="example.com/1"), BOOKMARK_SEARCH),
    case(BookmarkRepository, BookmarkQuery(tag=["rare"]), {"ix_bookmarks_tags"}),
]


@pytest.mark.parametrize(("repository", "query", "indexes"), CASES)
async def test_list_queries_use_their_index(
    engine: AsyncEngine, owner_id: uuid.UUID, repository: type[OwnedRepository], query: Any, indexes: set[str]
) -> None:
    async with AsyncSession(engine) as session:
        kind = repository(session)
        statements = (kind.page_statement(query), kind.count_statement(query))
        values = kind.list_parameters(owner_id, query)
    page, count = [await _plan(engine, statement, values) for statement in statements]
    table = repository.model.__tablename__

    assert not [node for node in page + count if node["Node Type"] == "Seq Scan"], (page, count)
    used = {node["Index Name"] for node in page if "Index Name" in node}
    assert used & indexes, (used, page)
    # The total is counted on an index too (an owner-led one or the filter's),
    # or, with no filter, read from the kept count by its primary key.
    counted = {node["Index Name"] for node in count if "Index Name" in node}
    unfiltered = set(query.model_dump(exclude_defaults=True)) <= {"sort", "limit", "offset", "cursor"}
    kept = {"pk_row_counts"} if unfiltered else set()
    assert counted and all(name.startswith((f"ix_{table}", f"uq_{table}")) or name in kept for name in counted), count


async def test_the_seed_is_large_enough_to_matter(engine: AsyncEngine) -> None:
    # Guards the test above: on a handful of rows any plan would do.
    async with engine.connect() as connection:
        estimate = await connection.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'items'"))
    assert estimate >= OTHER_USERS * ROWS_PER_USER
