"""Property-based abuse of both real services (gunicorn, PostgreSQL, Redis on
the host stack): schemathesis generates requests from each OpenAPI document -
valid ones, and ones that break every declared constraint - and no request
may get a 5xx, nor an error that is not a problem+json body."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from schemathesis.openapi import from_url

from hoststack.stack import Stack
from tests.helpers.accounts import Account
from tests.helpers.gateway import register_and_login

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same cases every run: a failure is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module")
def fuzz_account(stack: Stack) -> Account:
    with httpx.Client(base_url=stack.gateway_url, timeout=15.0) as client:
        return register_and_login(client)


def _fuzz(base_url: str, schema, headers: dict[str, str]) -> int:
    """Runs every operation's strategy; returns how many cases were sent."""
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @FUZZ
        @given(case=operation.as_strategy())
        def check(case) -> None:
            nonlocal sent
            sent += 1
            response = case.call(base_url=base_url, headers=headers, timeout=15)
            _assert_handled(case, response)

        check()
    return sent


def _assert_handled(case, response) -> None:
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    if response.status_code >= 400:
        assert response.headers["content-type"] == ["application/problem+json"], response.text
        assert response.json()["status"] == response.status_code


def test_no_request_to_auth_is_a_server_error(stack: Stack, fuzz_account: Account) -> None:
    url = stack.services["auth"].url
    # DELETE /users/me would end the account the other cases use.
    schema = from_url(f"{url}/auth/openapi.json").exclude(method="DELETE", path="/users/me")
    assert _fuzz(url, schema, fuzz_account.headers) > 100


def test_no_request_to_resource_is_a_server_error(stack: Stack, fuzz_account: Account) -> None:
    url = stack.services["resource"].url
    schema = from_url(f"{url}/resource/openapi.json")
    assert _fuzz(url, schema, fuzz_account.headers) > 200
