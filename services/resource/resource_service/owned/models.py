import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, MetaData, Table, Text, Uuid, func
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from servicekit.db import metadata

# The users table belongs to the auth service, whose models this process never
# imports. The resource service needs to know only its key: declared here, on
# a MetaData of its own (so it never clashes with the auth model where both
# are loaded, as in the migrations), and referenced by Column object rather
# than by the name "users.id", which SQLAlchemy could not resolve at flush
# time in a process where `users` is not mapped (NoReferencedTableError).
# The resource role may SELECT only this column (see migrations/roles.py).
users = Table("users", MetaData(), Column("id", Uuid, primary_key=True))

# How many rows each owner holds, per kind (the table's name): kept exact by
# the database itself - statement-level triggers on items and bookmarks
# (migrations/versions/..._row_counts_...) - so an unfiltered total and the
# quota check are a primary-key lookup, not a count over up to a million rows.
# An owner without a row here holds none. The resource role may only read it.
row_counts = Table(
    "row_counts",
    metadata,
    Column("owner_id", Uuid, ForeignKey(users.c.id, ondelete="CASCADE"), primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("rows", BigInteger, nullable=False),
)


def trigram_indexes(table: str, *columns: str) -> list[Index]:
    """A GIN trigram index (pg_trgm) on each column `q` searches."""
    return [
        Index(f"ix_{table}_{column}_trgm", column, postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"})
        for column in columns
    ]


class OwnedMixin:
    """A row one user owns. Deleting the user deletes the row (the foreign key
    cascades in the database), and `version` counts the row's updates: it
    backs the ETag, and a write under `If-Match` applies only while the row
    is still at the version checked (see owned.repository).

    The mapped classes declare the tables (the migrations are checked against
    them); the service reads and writes with statements of its own, never
    through ORM objects."""

    # sort_order: the key columns first in the table, the bookkeeping last.
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4, sort_order=-1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), sort_order=1)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), sort_order=1
    )
    version: Mapped[int] = mapped_column(default=1, sort_order=1)

    @declared_attr
    def owner_id(cls) -> Mapped[uuid.UUID]:
        # declared_attr, not a plain mixin column: declarative copies mixin
        # columns, and the copy of a ForeignKey names its target by string
        # ("users.id") again, which brings the NoReferencedTableError back.
        return mapped_column(Uuid, ForeignKey(users.c.id, ondelete="CASCADE"), sort_order=-1)
