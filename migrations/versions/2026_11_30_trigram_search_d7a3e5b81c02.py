"""trigram search: GIN pg_trgm indexes on the columns `q` searches

Revision ID: d7a3e5b81c02
Revises: c4f1a9d27e30
Create Date: 2026-11-30 09:00:00+00:00

`q` is an ILIKE '%text%' on each searched column: a B-tree cannot serve it,
so a search read every one of the owner's rows. A trigram index finds the
rows holding the text's trigrams (three characters or more), whoever owns
them; the owner filter then applies to those few.

pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner - the
migration role - may create it without being a superuser. It ships with
PostgreSQL's contrib (in the official image and Debian's packages). The
downgrade leaves it installed: an extension is the database's, and something
else may have come to use it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "d7a3e5b81c02"
down_revision: str | None = "c4f1a9d27e30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCHED = {"items": ("title", "description"), "bookmarks": ("title", "url", "description")}


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, columns in SEARCHED.items():
        for column in columns:
            op.create_index(
                f"ix_{table}_{column}_trgm",
                table,
                [column],
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
            )


def downgrade() -> None:
    for table, columns in SEARCHED.items():
        for column in columns:
            op.drop_index(f"ix_{table}_{column}_trgm", table_name=table)
