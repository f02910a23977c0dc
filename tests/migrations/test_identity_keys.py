"""The identity-keys revision on a database that already holds look-alike
accounts: every account gets keys, the oldest of a colliding group keeps its
key, the others (and identities the rules refuse) get `<key>#<id>`, and the
report names ids, never addresses."""

import pytest

from tests.helpers.database import Database, run_alembic

BEFORE = "778b776fc121"  # the head before identity keys
REVISION = "35ad13f4bf80"

FULLWIDTH_ALICE = "\uff41\uff4c\uff49\uff43\uff45"


def _id(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


# id: (stored email - lower-cased, as every release stored it - username, created_at)
ACCOUNTS = {
    _id(1): ("alice@example.com", "Alice", "2026-01-01"),
    _id(2): (f"{FULLWIDTH_ALICE}@example.com", "ALICE", "2026-02-01"),
    # Smaller id, later account: age decides, not the id.
    _id(0): ("\uff41lice@example.com", None, "2026-04-01"),
    # The same instant: the id breaks the tie. Decomposed and precomposed accents.
    _id(3): ("alice\u0301@example.com", None, "2026-03-01"),
    _id(4): ("alic\u00e9@example.com", None, "2026-03-01"),
    _id(5): ("\U0001f600@example.com", None, "2026-01-02"),  # the rules refuse emoji
    _id(6): ("bob@example.com", "\u0430lice", "2026-01-03"),  # a Cyrillic a: mixed scripts
    _id(7): ("carol@example.com", "carol", "2026-01-04"),
}

EXPECTED = {
    _id(1): ("alice@example.com", "alice"),
    _id(2): (f"alice@example.com#{_id(2)}", f"alice#{_id(2)}"),
    _id(0): (f"alice@example.com#{_id(0)}", None),
    _id(3): ("alic\u00e9@example.com", None),
    _id(4): (f"alic\u00e9@example.com#{_id(4)}", None),
    _id(5): (f"\U0001f600@example.com#{_id(5)}", None),
    _id(6): ("bob@example.com", f"\u0430lice#{_id(6)}"),
    _id(7): ("carol@example.com", "carol"),
}


def _literal(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def _keys(database: Database) -> dict[str, tuple[str | None, str | None]]:
    out = database.cluster.psql(
        "SELECT id, email_key, coalesce(username_key, '<null>') FROM users ORDER BY id", database.name
    )
    keys: dict[str, tuple[str | None, str | None]] = {}
    for line in out.splitlines():
        user_id, email_key, username_key = line.split("|")
        keys[user_id] = (email_key, None if username_key == "<null>" else username_key)
    return keys


@pytest.fixture
def migrated(scratch_database: Database) -> tuple[Database, str]:
    """A database at the head before identity keys, holding ACCOUNTS, then
    upgraded; with the upgrade's output."""
    before = run_alembic(scratch_database, "upgrade", BEFORE)
    assert before.returncode == 0, before.stderr
    rows = ", ".join(
        f"('{user_id}', {_literal(email)}, {_literal(username)}, 'x', '{created} 00:00:00+00')"
        for user_id, (email, username, created) in ACCOUNTS.items()
    )
    scratch_database.cluster.psql(
        f"INSERT INTO users (id, email, username, password_hash, created_at) VALUES {rows}", scratch_database.name
    )
    upgrade = run_alembic(scratch_database, "upgrade", REVISION)
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    return scratch_database, upgrade.stdout + upgrade.stderr


def test_every_account_gets_keys_and_the_oldest_keeps_a_shared_one(migrated: tuple[Database, str]) -> None:
    database, _ = migrated
    assert _keys(database) == EXPECTED


def test_the_report_names_ids_and_never_addresses_or_names(migrated: tuple[Database, str]) -> None:
    _, report = migrated
    collisions = [line for line in report.splitlines() if "identity_collision" in line]
    # Emails: alice kept against two look-alikes, the precomposed accent against
    # the decomposed one; usernames: Alice against ALICE.
    assert len(collisions) == 3
    email_alice = next(line for line in collisions if _id(0) in line)
    assert _id(1) in email_alice
    assert _id(2) in email_alice
    assert email_alice.index(_id(2)) < email_alice.index(_id(0))  # in the order they were made
    assert any(_id(3) in line and _id(4) in line for line in collisions)
    refused = [line for line in report.splitlines() if "identity_refused" in line]
    assert len(refused) == 2
    assert any(_id(5) in line and "email" in line for line in refused)
    assert any(_id(6) in line and "username" in line for line in refused)
    summary = next(line for line in report.splitlines() if "identity_keys_computed" in line)
    for count in ("accounts=8", "colliding_emails=3", "colliding_usernames=1", "refused_emails=1"):
        assert count in summary
    assert "example.com" not in report
    assert "lice" not in report.replace("colliding", "")  # no username either


def test_keys_are_unique_from_now_on(migrated: tuple[Database, str]) -> None:
    database, _ = migrated
    unique = database.cluster.psql(
        "SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint "
        "WHERE conrelid = 'users'::regclass AND contype = 'u'",
        database.name,
    )
    assert unique.strip().split(",") == [
        "uq_users_email",
        "uq_users_email_key",
        "uq_users_username",
        "uq_users_username_key",
    ]


def test_downgrade_drops_the_keys_and_keeps_the_accounts(migrated: tuple[Database, str]) -> None:
    database, _ = migrated
    down = run_alembic(database, "downgrade", BEFORE)
    assert down.returncode == 0, down.stderr
    columns = database.cluster.psql(
        "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns "
        "WHERE table_name = 'users'",
        database.name,
    )
    assert "_key" not in columns
    assert database.cluster.psql("SELECT count(*) FROM users", database.name).strip() == str(len(ACCOUNTS))
    again = run_alembic(database, "upgrade", REVISION)
    assert again.returncode == 0, again.stderr
    assert _keys(database) == EXPECTED
