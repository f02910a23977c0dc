"""The one Alembic history of the shared database, and the migration job."""
