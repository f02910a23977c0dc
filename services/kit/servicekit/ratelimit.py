"""Application rate limits on `limits`' asyncio API (memory or Redis storage).

`limits` is the library under slowapi; slowapi itself is synchronous only
(its issues 3 and 130), so behind async handlers every Redis round trip
would block the event loop. Routes `await limiter.check(limit, *identity)`
for the limits they need - per client IP, per account - rather than
decorating endpoints, so the limits come from settings and a storage outage
never fails a request.

Redis is optional at run time. Its calls have short socket timeouts and go
through a circuit breaker (servicekit.breaker): once Redis is known to be
away, no request waits on it, and a PING in the background probes it every
`open_seconds` until it answers again. Meanwhile `RATE_LIMIT_STORAGE_FALLBACK` decides:
`memory` (the default) counts in each worker's own memory - limits per
process, looser by the number of processes, but a password guesser still
meets one - and `open` limits nothing. Each call decided without Redis is
counted in `rate_limit_fallback_total`.

A request carrying the `RATE_LIMIT_EXEMPT_SECRET` in `X-RateLimit-Exempt`
(off unless that setting is set; `make bench` uses it for its own traffic)
meets no limit: `limiter_for` hands it a disabled limiter.
"""

import functools
import hashlib
import hmac
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from fastapi import Request
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from prometheus_client import Counter

from servicekit.breaker import CircuitBreaker
from servicekit.errors import TooManyRequests
from servicekit.settings import RateLimitFallback

REJECTED = Counter(
    "rate_limit_rejections_total",
    "Requests refused (429) by an application rate limit, by the limit's scope (login-ip, write, ...).",
    ["scope"],
)
FALLBACKS = Counter(
    "rate_limit_fallback_total",
    "Rate-limit decisions made without the shared storage (away), by what was done instead.",
    ["mode"],
)

T = TypeVar("T")

EXEMPT_HEADER = "X-RateLimit-Exempt"

# Limits come from settings (validated at start-up): parse each string once.
_parse_limit = functools.cache(parse)


def client_ip(request: Request) -> str:
    """The peer address, which uvicorn's proxy-headers support replaces with
    the forwarded client address only when the peer is a trusted gateway."""
    return request.client.host if request.client else "127.0.0.1"


def account_key(identifier: str) -> str:
    """Accounts are limited by a digest, so the store never holds emails.
    Callers pass the name their domain compares accounts by (the auth
    service: the email's comparison key), so look-alike spellings of one
    account share one counter; the lower-casing here only covers the rest."""
    return hashlib.sha256(identifier.strip().lower().encode()).hexdigest()[:32]


def _async_storage(uri: str, options: Mapping[str, str | float]) -> Storage:
    """The asyncio storage for a `memory://` or `redis://...` URI (redis-py's
    asyncio client, which we already ship, rather than coredis)."""
    scheme = uri.split(":", 1)[0]
    extra = {"implementation": "redispy"} if scheme.startswith(("redis", "valkey")) else {}
    storage = storage_from_string(f"async+{uri}", **extra, **options)
    assert isinstance(storage, Storage)
    return storage


class RateLimiter:
    def __init__(
        self,
        storage_uri: str,
        *,
        enabled: bool = True,
        storage_options: Mapping[str, str | float] | None = None,
        exempt_secret: str | None = None,
        fallback: RateLimitFallback = "memory",
        breaker_open_seconds: float = 1.0,
    ) -> None:
        # A Redis password travels in `storage_options`, never in the URI.
        self.enabled = enabled
        self._storage = _async_storage(storage_uri, storage_options or {})
        self._strategy = MovingWindowRateLimiter(self._storage)
        self._exempt_secret = exempt_secret.encode() if exempt_secret else None
        # A storage in this process's memory cannot be away: no breaker.
        shared = not isinstance(self._storage, MemoryStorage)
        self._breaker = (
            CircuitBreaker("rate_limit_storage", open_seconds=breaker_open_seconds, probe=self._ping)
            if shared
            else None
        )
        self.fallback = fallback
        self._local = MovingWindowRateLimiter(MemoryStorage()) if fallback == "memory" else None

    def exempts(self, request: Request) -> bool:
        """Whether `request` proves it carries the exemption secret."""
        if self._exempt_secret is None:
            return False
        offered = request.headers.get(EXEMPT_HEADER)
        return offered is not None and hmac.compare_digest(offered.encode(), self._exempt_secret)

    async def check(self, limit: str, *identity: str) -> None:
        """Count one hit against `limit` for `identity`; raise 429 when over."""
        await self._guarded(_parse_limit(limit), identity, count=True)

    async def refuse_if_over(self, limit: str, *identity: str) -> None:
        """Raise 429 when `identity` has used up `limit`, counting nothing:
        for limits on outcomes (failed logins), counted with `count`."""
        await self._guarded(_parse_limit(limit), identity, count=False)

    async def count(self, limit: str, *identity: str) -> None:
        """Count one hit against `limit` for `identity`, never refusing."""
        if self.enabled:
            await self._decide(lambda strategy: strategy.hit(_parse_limit(limit), *identity), away=True)

    async def _guarded(self, item: RateLimitItem, identity: tuple[str, ...], *, count: bool) -> None:
        if not self.enabled:
            return

        async def decide(strategy: MovingWindowRateLimiter) -> float | None:
            """When the window resets if `identity` is over the limit, else None."""
            allowed = await (strategy.hit(item, *identity) if count else strategy.test(item, *identity))
            return None if allowed else (await strategy.get_window_stats(item, *identity)).reset_time

        reset_at = await self._decide(decide, away=None)
        if reset_at is not None:
            REJECTED.labels(identity[0]).inc()
            raise TooManyRequests(retry_after=max(1, math.ceil(reset_at - time.time())))

    async def _decide(self, call: Callable[[MovingWindowRateLimiter], Awaitable[T]], *, away: T) -> T:
        """`call` on the shared storage, through its breaker; while it is away,
        on this process's memory (`fallback` memory) or `away` (`open`)."""
        if self._breaker is None:
            return await call(self._strategy)
        try:
            async with self._breaker.call():
                return await call(self._strategy)
        except Exception:  # the storage is away (the breaker logged it): never fail the request for it
            FALLBACKS.labels(self.fallback).inc()
            return away if self._local is None else await call(self._local)

    async def _ping(self) -> None:
        """The breaker's probe, in the background: the storage answers."""
        if not await self._storage.check():
            raise ConnectionError("the rate-limit storage did not answer a ping")

    async def check_client_and_account(
        self, action: str, request: Request, account: str, *, per_client: str, per_account: str
    ) -> None:
        """`action` (a login, a registration) limited per client address and
        per account, each on its own counter; the account by its digest."""
        await self.check(per_client, f"{action}-ip", client_ip(request))
        await self.check(per_account, f"{action}-account", account_key(account))

    async def reset(self) -> None:
        await self._storage.reset()

    async def aclose(self) -> None:
        """Close the shared storage's connections (when the app stops). limits
        keeps the Redis client as its storage's `bridge.storage`; a memory
        storage has none."""
        if self._breaker is not None:
            await self._breaker.aclose()
        client = getattr(getattr(self._storage, "bridge", None), "storage", None)
        if client is not None:
            await client.aclose()


UNLIMITED = RateLimiter("memory://", enabled=False)


def limiter_for(request: Request, limiter: RateLimiter) -> RateLimiter:
    """`limiter`, or one that limits nothing for a request carrying the
    exemption secret."""
    return UNLIMITED if limiter.exempts(request) else limiter
