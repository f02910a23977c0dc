"""The fixtures every suite shares, registered once: the database
(tests/fixtures/database.py), the auth app with a client and an account
(tests/fixtures/apps.py) and the dev overlay's pods on Docker
(tests/fixtures/pods.py). A directory's conftest.py holds only the fixtures
of that directory; helpers are plain modules in tests/helpers/."""

import pytest

# Before any test module imports them: helpers' asserts explain themselves too.
pytest.register_assert_rewrite("tests.helpers")

pytest_plugins = ["tests.fixtures.database", "tests.fixtures.apps", "tests.fixtures.pods"]
