"""Every table the migration history manages: each service's models, on the
one shared MetaData. `alembic check` compares these with the database."""

import auth_service.sessions.models
import auth_service.tokens.models
import auth_service.users.models  # noqa: F401
import resource_service.bookmarks.models
import resource_service.items.models  # noqa: F401
from migrations.lineage import schema_history  # noqa: F401  # the migrations' own bookkeeping
from servicekit.db import metadata

__all__ = ["metadata"]
