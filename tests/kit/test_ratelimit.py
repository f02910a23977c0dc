"""The limiter's asyncio storage and the bench's exemption: a request with
the configured secret meets no limit, any other request meets every limit,
and with no secret configured the header means nothing."""

import pytest
from pydantic import ValidationError
from starlette.requests import Request

from servicekit.errors import TooManyRequests
from servicekit.ratelimit import EXEMPT_HEADER, UNLIMITED, RateLimiter, limiter_for
from servicekit.settings import ServiceSettings

SECRET = "s" * 40


def request(header: str | None) -> Request:
    headers = [(EXEMPT_HEADER.lower().encode(), header.encode())] if header is not None else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "client": ("127.0.0.1", 1)})


async def test_limits_count_per_identity_and_refuse_with_retry_after() -> None:
    limiter = RateLimiter("memory://")
    for _ in range(2):
        await limiter.check("2/minute", "a")
    with pytest.raises(TooManyRequests) as refused:
        await limiter.check("2/minute", "a")
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
    await limiter.check("2/minute", "b")  # another identity, its own window


async def test_outcome_limits_count_only_what_is_counted() -> None:
    limiter = RateLimiter("memory://")
    for _ in range(5):
        await limiter.refuse_if_over("2/minute", "failures")  # testing counts nothing
    await limiter.count("2/minute", "failures")
    await limiter.count("2/minute", "failures")
    with pytest.raises(TooManyRequests):
        await limiter.refuse_if_over("2/minute", "failures")


@pytest.mark.parametrize(
    ("configured", "offered", "exempt"),
    [
        (SECRET, SECRET, True),
        (SECRET, SECRET[:-1], False),
        (SECRET, None, False),
        (None, SECRET, False),
        (None, "", False),
    ],
)
async def test_only_the_configured_secret_exempts(configured: str | None, offered: str | None, exempt: bool) -> None:
    limiter = RateLimiter("memory://", exempt_secret=configured)
    assert (limiter_for(request(offered), limiter) is UNLIMITED) is exempt
    chosen = limiter_for(request(offered), limiter)
    for _ in range(3):
        try:
            await chosen.check("2/minute", "x")
        except TooManyRequests:
            assert not exempt
            return
    assert exempt


def test_a_short_exemption_secret_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        ServiceSettings(environment="test", rate_limit_exempt_secret="short")
    assert ServiceSettings(environment="test").rate_limit_exempt_secret.get_secret_value() == ""


async def test_an_unreachable_store_fails_open() -> None:
    # Nothing listens on port 1: every call errs, and no request is refused.
    limiter = RateLimiter("redis://127.0.0.1:1/0", storage_options={"socket_connect_timeout": "0.2"})
    for _ in range(3):
        await limiter.check("1/minute", "x")
        await limiter.refuse_if_over("1/minute", "x")
        await limiter.count("1/minute", "x")
