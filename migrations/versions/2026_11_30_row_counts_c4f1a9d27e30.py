"""row counts: how many items and bookmarks each owner holds, kept by the database

Revision ID: c4f1a9d27e30
Revises: 5b0e9d1c2a47
Create Date: 2026-11-30 08:50:00+00:00

An unfiltered list's exact `X-Total-Count` and the quota check become a
primary-key lookup instead of a count over all of an owner's rows.

Statement-level triggers with transition tables keep the counts exact: one
upsert per statement and owner, so a bulk INSERT ... SELECT of a million rows
pays one aggregate, not a million row triggers. The delete trigger only
updates counts that exist: when a user is deleted, the cascade deletes their
rows and their counts row in an order we do not choose, and inserting a count
for that user would violate the foreign key. A TRUNCATE forgets the kind's
counts. Rows never change owner (no route writes `owner_id`), so UPDATE needs
no trigger.

The trigger function is SECURITY DEFINER, owned by the migration role, with a
pinned search_path: the resource role writes rows but may only read counts.

The triggers are created before the backfill: CREATE TRIGGER holds a lock
that waits for writers in flight and blocks new ones until this migration
commits, so no row is counted twice or missed while the old release serves.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4f1a9d27e30"
down_revision: str | None = "5b0e9d1c2a47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTED = ("items", "bookmarks")

FUNCTIONS = {
    "row_counts_add": """
        INSERT INTO public.row_counts AS counts (owner_id, kind, rows)
        SELECT owner_id, TG_TABLE_NAME, count(*) FROM new_rows GROUP BY owner_id
        ON CONFLICT (owner_id, kind) DO UPDATE SET rows = counts.rows + excluded.rows;
    """,
    "row_counts_subtract": """
        UPDATE public.row_counts AS counts SET rows = counts.rows - gone.rows
        FROM (SELECT owner_id, count(*) AS rows FROM old_rows GROUP BY owner_id) AS gone
        WHERE counts.owner_id = gone.owner_id AND counts.kind = TG_TABLE_NAME;
    """,
    "row_counts_forget": """
        DELETE FROM public.row_counts WHERE kind = TG_TABLE_NAME;
    """,
}

# On each counted table: (the trigger's name after the table's, its event,
# what it sees, the function it runs).
TRIGGERS = (
    ("counted_insert", "INSERT", "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT", "row_counts_add"),
    ("counted_delete", "DELETE", "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT", "row_counts_subtract"),
    ("counted_truncate", "TRUNCATE", "FOR EACH STATEMENT", "row_counts_forget"),
)


def upgrade() -> None:
    op.create_table(
        "row_counts",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_row_counts_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("owner_id", "kind", name=op.f("pk_row_counts")),
    )
    for name, body in FUNCTIONS.items():
        op.execute(
            f"CREATE FUNCTION public.{name}() RETURNS trigger LANGUAGE plpgsql"
            f" SECURITY DEFINER SET search_path = pg_catalog, pg_temp"
            f" AS $$ BEGIN {body} RETURN NULL; END $$"
        )
        # A trigger function cannot be called directly anyway; nobody needs to.
        op.execute(f"REVOKE ALL ON FUNCTION public.{name}() FROM PUBLIC")
    for table in COUNTED:
        for suffix, event, clause, function in TRIGGERS:
            op.execute(
                f"CREATE TRIGGER {table}_{suffix} AFTER {event} ON {table} {clause} EXECUTE FUNCTION {function}()"
            )
    for table in COUNTED:
        op.execute(
            f"INSERT INTO row_counts (owner_id, kind, rows)"
            f" SELECT owner_id, '{table}', count(*) FROM {table} GROUP BY owner_id"
        )


def downgrade() -> None:
    for table in COUNTED:
        for suffix, _, _, _ in TRIGGERS:
            op.execute(f"DROP TRIGGER {table}_{suffix} ON {table}")
    for name in FUNCTIONS:
        op.execute(f"DROP FUNCTION public.{name}()")
    op.drop_table("row_counts")
