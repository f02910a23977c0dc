import uuid

import pytest

from tests.helpers.database import MIGRATOR_PASSWORD, Database


@pytest.fixture
def scratch_database(database: Database) -> Database:
    """An empty app database of its own, on the session's cluster."""
    name = f"scratch_{uuid.uuid4().hex[:8]}"
    database.cluster.create_app_database(name, MIGRATOR_PASSWORD)
    return Database(database.cluster, name)
