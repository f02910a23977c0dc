import io
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers.accounts import PASSWORD, Account, unique_email
from tests.helpers.logs import log_output as capture_log_output


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the service's log handler writes, exactly as rendered."""
    with capture_log_output() as buffer:
        yield buffer


async def test_no_password_or_token_reaches_the_logs(auth_client: httpx.AsyncClient, log_output: io.StringIO) -> None:
    email = unique_email()
    password = "Very-Secret-Passw0rd"
    await auth_client.post("/auth/register", json={"email": email, "password": password})
    tokens = (await auth_client.post("/auth/token", data={"username": email, "password": password})).json()
    refreshed = (await auth_client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).json()
    await auth_client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})  # reuse → warning

    output = log_output.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    assert sum(line["event"] == "request" for line in lines) == 4  # one access line per request
    assert any(line["event"] == "refresh_token_reuse" for line in lines)
    for secret in (
        password,
        tokens["access_token"],
        tokens["refresh_token"],
        refreshed["access_token"],
        refreshed["refresh_token"],
    ):
        assert secret not in output


async def test_access_line_carries_request_id_route_and_status(
    auth_client: httpx.AsyncClient, log_output: io.StringIO
) -> None:
    response = await auth_client.post(
        "/auth/register", json={"email": unique_email(), "password": PASSWORD}, headers={"X-Request-ID": "abc-123"}
    )
    assert response.headers["x-request-id"] == "abc-123"
    (line,) = [json.loads(line) for line in log_output.getvalue().splitlines() if '"request"' in line]
    assert line["request_id"] == "abc-123"
    assert line["route"] == "/auth/register"
    assert line["status"] == 201
    assert line["level"] == "info"
    assert line["service"] == "auth"
    assert "timestamp" in line
    assert "user_id" not in line  # nobody signed in


async def test_an_authenticated_request_says_whose_it_was_and_the_next_one_does_not(
    auth_client: httpx.AsyncClient, account: Account, log_output: io.StringIO
) -> None:
    assert (await auth_client.get("/users/me", headers={**account.headers, "X-Request-ID": "mine"})).status_code == 200
    assert (await auth_client.get("/users/me", headers={"X-Request-ID": "anonymous"})).status_code == 401
    lines = [json.loads(line) for line in log_output.getvalue().splitlines() if '"request"' in line]
    assert [(line["request_id"], line.get("user_id")) for line in lines] == [("mine", account.id), ("anonymous", None)]


async def test_successful_probes_stay_out_of_the_info_access_log(
    auth_client: httpx.AsyncClient, log_output: io.StringIO
) -> None:
    for path in ("/livez", "/readyz", "/metrics", "/health"):
        assert (await auth_client.get(path)).status_code == 200
    routes = [json.loads(line)["route"] for line in log_output.getvalue().splitlines() if '"request"' in line]
    assert routes == ["/health"]  # /health is what people and the gateway ask for
