# The kit is exercised through a real service: the auth app hosts it here.
from tests.auth.conftest import account, auth_app, auth_client

__all__ = ["account", "auth_app", "auth_client"]
