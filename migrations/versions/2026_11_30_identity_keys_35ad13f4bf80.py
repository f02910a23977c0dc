"""identity keys: accounts are compared by users.email_key and users.username_key

Revision ID: 35ad13f4bf80
Revises: 778b776fc121
Create Date: 2026-11-30 07:00:00+00:00

Look-alike spellings (case, full-width forms, decomposed accents) made
separate accounts. The auth service now compares identities by key
(auth_service/users/identities.py); this step gives every existing account
its keys and settles the accounts that the rule makes collide, as the README
("Identity keys") tells the operator:

- the oldest account of a colliding group (created_at, then id) keeps the
  key; each later one gets `<key>#<its id>`, which nothing typed can equal,
  and logs in with its exact address only;
- an email or username that the rules refuse (mixed scripts, emoji, ...)
  gets `<what is stored>#<its id>` the same way;
- each of them is logged (`identity_collision`, `identity_refused`) by id
  and creation time, never by address or name: logs travel further than the
  database, where the operator finds the rest.

Expand only: the columns stay nullable because the release before this one
keeps inserting accounts without keys until its pods are gone (such an
account logs in by its exact address); a later release fills those and sets
NOT NULL. The keys are computed before the columns are added, under a lock
that lets the previous release go on serving, so the table is locked only
for the SQL that writes them.

The keys come from the service's own functions, as they are at this
revision's release: a later change of the rules takes its own revision.
"""

import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Connection

from auth_service.users import identities
from servicekit.logs import get_logger

revision: str = "35ad13f4bf80"
down_revision: str | None = "778b776fc121"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = get_logger("migrate")
Account = sa.Row[Any, Any, Any, Any]  # id, email, username, created_at

BATCH = 1000
KINDS = ("email", "username")
KEY_OF = {"email": identities.email_key, "username": identities.username_key}

users = sa.table(
    "users",
    sa.column("id", sa.Uuid()),
    sa.column("email", sa.String()),
    sa.column("username", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("email_key", sa.String()),
    sa.column("username_key", sa.String()),
)
computed = sa.table(
    "identity_keys",
    sa.column("id", sa.Uuid()),
    sa.column("email_key", sa.String()),
    sa.column("username_key", sa.String()),
)


def upgrade() -> None:
    connection = op.get_bind()
    connection.exec_driver_sql(
        "CREATE TEMPORARY TABLE identity_keys (id uuid PRIMARY KEY, email_key text, username_key text) ON COMMIT DROP"
    )
    # Outside the table lock: reading takes ACCESS SHARE, which inserts and
    # logins of the serving release do not wait for.
    counts = _compute(connection, sa.true())
    op.add_column("users", sa.Column("email_key", sa.String(length=identities.MAX_EMAIL_KEY_LENGTH), nullable=True))
    op.add_column(
        "users", sa.Column("username_key", sa.String(length=identities.MAX_USERNAME_KEY_LENGTH), nullable=True)
    )
    # From here the table is ours until commit. Accounts registered since the
    # read above are few: their keys too, now.
    counts += _compute(connection, sa.not_(sa.exists().where(computed.c.id == users.c.id)))
    connection.execute(
        users.update()
        .where(users.c.id == computed.c.id)
        .values(email_key=computed.c.email_key, username_key=computed.c.username_key)
    )
    for what in KINDS:
        counts[f"colliding_{what}s"] = _settle_collisions(connection, what)
    op.create_unique_constraint(op.f("uq_users_email_key"), "users", ["email_key"])
    op.create_unique_constraint(op.f("uq_users_username_key"), "users", ["username_key"])
    log.info("identity_keys_computed", **counts)


def downgrade() -> None:
    op.drop_constraint(op.f("uq_users_username_key"), "users", type_="unique")
    op.drop_constraint(op.f("uq_users_email_key"), "users", type_="unique")
    op.drop_column("users", "username_key")
    op.drop_column("users", "email_key")


def _compute(connection: Connection, which: sa.ColumnElement[bool]) -> Counter[str]:
    """Keys for the accounts `which` selects, into the temporary table, in
    batches of BATCH (by id, so memory stays flat however many there are);
    how many accounts, and how many had an identity the rules refuse."""
    counts: Counter[str] = Counter()
    for rows in _batches(connection, which):
        keyed = []
        for row in rows:
            keys: dict[str, Any] = {"id": row.id}
            for what in KINDS:
                keys[f"{what}_key"] = _key(row, what, counts)
            keyed.append(keys)
        connection.execute(computed.insert(), keyed)
        counts["accounts"] += len(keyed)
    return counts


def _batches(connection: Connection, which: sa.ColumnElement[bool]) -> Iterator[Sequence[Account]]:
    after: uuid.UUID | None = None
    while True:
        query = sa.select(users.c.id, users.c.email, users.c.username, users.c.created_at).where(which)
        if after is not None:
            query = query.where(users.c.id > after)
        rows = connection.execute(query.order_by(users.c.id).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        after = rows[-1].id


def _key(row: Account, what: str, counts: Counter[str]) -> str | None:
    value: str | None = getattr(row, what)
    if value is None:
        return None
    try:
        return KEY_OF[what](value)
    except identities.IdentityRefused:
        counts[f"refused_{what}s"] += 1
        log.warning("identity_refused", what=what, id=str(row.id), created_at=row.created_at.isoformat())
        return f"{value}{identities.RESERVED}{row.id}"


def _settle_collisions(connection: Connection, what: str) -> int:
    """The oldest account of each group sharing a key keeps it; the others
    get `<key>#<id>`. How many were re-keyed."""
    key = f"{what}_key"
    column = users.c[key]
    order = (users.c.created_at, users.c.id)
    ranked = (
        sa.select(
            users.c.id,
            users.c.created_at,
            sa.func.row_number().over(partition_by=column, order_by=order).label("rank"),
            sa.func.first_value(users.c.id).over(partition_by=column, order_by=order).label("kept_id"),
            sa.func.first_value(users.c.created_at).over(partition_by=column, order_by=order).label("kept_at"),
        )
        .where(column.is_not(None))
        .subquery()
    )
    later = connection.execute(
        sa.select(ranked).where(ranked.c.rank > 1).order_by(ranked.c.kept_id, ranked.c.rank)
    ).all()
    groups: dict[uuid.UUID, list[Any]] = {}
    for row in later:
        groups.setdefault(row.kept_id, []).append(row)
    for rows in groups.values():
        log.warning(
            "identity_collision",
            what=what,
            kept={"id": str(rows[0].kept_id), "created_at": rows[0].kept_at.isoformat()},
            rekeyed=[{"id": str(row.id), "created_at": row.created_at.isoformat()} for row in rows],
        )
    ids = [row.id for row in later]
    for start in range(0, len(ids), BATCH):
        connection.execute(
            users.update()
            .where(users.c.id.in_(ids[start : start + BATCH]))
            .values({key: column + identities.RESERVED + sa.cast(users.c.id, sa.String())})
        )
    return len(ids)
