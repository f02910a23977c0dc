"""Talking to a running stack through its gateway, as any client would: the
end-to-end suite and the gateway tests share these. The users are the ones
every suite makes (tests/helpers/accounts.py, whose names this module
re-exports); `register_and_login` here makes one through the gateway."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.accounts import PASSWORD, Account, unique_email

__all__ = [
    "GATEWAY_429_DETAIL",
    "PASSWORD",
    "PROBLEM",
    "Account",
    "Entries",
    "assert_problem",
    "json_lines",
    "log_entries",
    "register_and_login",
    "send",
    "unique_email",
    "wait_for_log",
]

PROBLEM = "application/problem+json"
GATEWAY_429_DETAIL = "Rate limit exceeded at the gateway; retry later."


def send(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A request that waits out the gateway's strict credential zone (5 r/s)
    instead of failing on it: only the rate-limit test wants those 429s."""
    for _ in range(5):
        response = client.request(method, url, **kwargs)
        if not (response.status_code == 429 and _is_gateway_429(response)):
            return response
        time.sleep(float(response.headers.get("Retry-After", "1")))
    return response


def _is_gateway_429(response: httpx.Response) -> bool:
    try:
        return response.json().get("detail") == GATEWAY_429_DETAIL
    except ValueError:
        return False


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """A JSON problem body (RFC 9457) with this status and the request id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "about:blank"
    assert body["status"] == status
    assert body["title"] and body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def register_and_login(client: httpx.Client) -> Account:
    """A new user, registered and logged in through the gateway (sync)."""
    email = unique_email()
    created = send(client, "POST", "/auth/register", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    tokens = send(client, "POST", "/auth/token", data={"username": email, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    return Account(email, created.json()["id"], body["access_token"], body["refresh_token"])


def log_entries(path: Path) -> list[dict[str, Any]]:
    """JSON lines of a log file (lines that are not JSON are left out)."""
    return json_lines(path.read_text(errors="replace"))


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects among the lines of `text`."""
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


Entries = Callable[[], list[dict[str, Any]]]


def wait_for_log(
    source: Path | Entries, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0
) -> list[dict[str, Any]]:
    """Log lines are written after the response is sent: poll briefly. `source`
    is a log file or a function returning the entries (a platform's logs)."""
    read = (lambda: log_entries(source)) if isinstance(source, Path) else source
    deadline = time.monotonic() + timeout
    while True:
        found = [entry for entry in read() if predicate(entry)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
