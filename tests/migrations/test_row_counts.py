"""The row counts revision: it counts the rows that exist when it runs, its
triggers keep counting (TRUNCATE too), and a downgrade takes it all away."""

import uuid

from tests.helpers.database import Database, run_alembic

BEFORE = "5b0e9d1c2a47"


def test_existing_rows_are_counted_and_truncate_forgets_them(scratch_database: Database) -> None:
    assert run_alembic(scratch_database, "upgrade", BEFORE).returncode == 0
    psql = scratch_database.cluster.psql
    one, two = uuid.uuid4(), uuid.uuid4()
    psql(
        f"""
        INSERT INTO users (id, email, password_hash) VALUES ('{one}', 'one@example.com', 'x'),
                                                            ('{two}', 'two@example.com', 'x');
        INSERT INTO items (id, owner_id, title, version)
        SELECT gen_random_uuid(), o, 'item', 1 FROM (VALUES ('{one}'::uuid, 3), ('{two}'::uuid, 2)) AS v (o, rows)
        CROSS JOIN LATERAL generate_series(1, rows);
        INSERT INTO bookmarks (id, owner_id, url, title, version)
        SELECT gen_random_uuid(), '{one}', 'https://example.com/' || n, 'page', 1 FROM generate_series(1, 4) n;
        """,
        scratch_database.name,
    )
    result = run_alembic(scratch_database, "upgrade", "head")
    assert result.returncode == 0, result.stderr

    def counts() -> list[str]:
        query = f"SELECT owner_id = '{one}', kind, rows FROM row_counts ORDER BY 1 DESC, 2"
        return psql(query, scratch_database.name).split()

    assert counts() == ["t|bookmarks|4", "t|items|3", "f|items|2"]
    psql(
        f"INSERT INTO items (id, owner_id, title, version) VALUES (gen_random_uuid(), '{two}', 'new', 1)",
        scratch_database.name,
    )
    assert counts() == ["t|bookmarks|4", "t|items|3", "f|items|3"]
    psql("TRUNCATE items", scratch_database.name)
    assert counts() == ["t|bookmarks|4"]
    psql(
        f"INSERT INTO items (id, owner_id, title, version) VALUES (gen_random_uuid(), '{one}', 'again', 1)",
        scratch_database.name,
    )
    assert counts() == ["t|bookmarks|4", "t|items|1"]

    result = run_alembic(scratch_database, "downgrade", BEFORE)
    assert result.returncode == 0, result.stderr
    leftovers = psql(
        "SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%counted%'"
        " UNION ALL SELECT count(*) FROM pg_proc WHERE proname LIKE 'row_counts%'"
        " UNION ALL SELECT count(*) FROM pg_tables WHERE tablename = 'row_counts'",
        scratch_database.name,
    ).split()
    assert leftovers == ["0", "0", "0"]
    # Writes work without the triggers.
    psql(f"DELETE FROM bookmarks WHERE owner_id = '{one}'", scratch_database.name)
