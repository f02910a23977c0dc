"""The schema's lineage: every revision the database has passed through on
its way to its current head, in `schema_history`. The migration job records
it after each upgrade; readiness reads it (servicekit.health), so a pod
whose code is older than the database can tell that the database is a
descendant of its own head."""

from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, DateTime, String, Table, func, select, text
from sqlalchemy.dialects.postgresql import insert

from servicekit.db import metadata

schema_history = Table(
    "schema_history",
    metadata,
    Column("revision", String(32), primary_key=True),
    Column("applied_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)


def record_lineage(connection: Connection, script: ScriptDirectory) -> int:
    """Record the database's current head(s) and all their ancestors (those
    already there stay, with their first time); how many are recorded."""
    heads = connection.scalars(text("SELECT version_num FROM alembic_version")).all()
    revisions = sorted({revision.revision for head in heads for revision in script.iterate_revisions(head, "base")})
    if revisions:
        rows = [{"revision": revision} for revision in revisions]
        connection.execute(insert(schema_history).values(rows).on_conflict_do_nothing())
    return len(connection.scalars(select(schema_history.c.revision)).all())
