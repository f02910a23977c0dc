"""Circuit breakers: once a dependency is known to be away, say so at once.

Without one, every request waits out the dependency's timeout on its own
(the database's connect timeout, 5 s), holding its connection from the
gateway all that time while nothing can succeed. A breaker counts the
dependency's failures; at `failures` in a row it opens, and for
`open_seconds` every call is refused at once (`BreakerOpen`). Then one call
at a time is let through to probe: its success closes the breaker, its
failure opens it again for another `open_seconds`. A breaker given a
`probe` probes by itself, in the background, every `open_seconds` while
open: no call ever waits on a probe (a database whose name no longer
resolves takes the whole connect timeout to fail, and a client's request
must not be the one that waits it out each time), and a process that gets
no request meanwhile has closed its breaker before the next one arrives.

Each transition is logged once and shown as `circuit_breaker_state`
(0 closed, 1 half-open, 2 open; the highest of a service's workers) and
counted in `circuit_breaker_transitions_total`.
"""

import asyncio
import contextvars
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from enum import IntEnum

from prometheus_client import Counter, Gauge

from servicekit.logs import get_logger

log = get_logger(__name__)

STATE = Gauge(
    "circuit_breaker_state",
    "Each dependency's circuit breaker: 0 closed, 1 half-open (probing), 2 open (calls refused at once).",
    ["dependency"],
    multiprocess_mode="livemax",
)
TRANSITIONS = Counter(
    "circuit_breaker_transitions_total", "Circuit breaker transitions, by the state entered.", ["dependency", "state"]
)


class State(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class BreakerOpen(ConnectionRefusedError):
    """Refused without trying: the dependency is known to be away. An OSError,
    like the refusal it stands for, so whatever handles the dependency being
    unreachable handles this too."""

    def __init__(self, dependency: str, retry_after: float) -> None:
        super().__init__(f"{dependency} is unavailable (circuit open); retry in {retry_after:.1f} s")
        self.dependency = dependency
        self.retry_after = retry_after


class CircuitBreaker:
    def __init__(
        self,
        dependency: str,
        *,
        failures: int = 1,
        open_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        probe: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.dependency = dependency
        self._probe_call = probe
        self.failures = failures
        self.open_seconds = open_seconds
        self._clock = clock
        self._state = State.CLOSED
        self._failed = 0  # in a row
        self._opened_at = 0.0
        self._probing = False
        self._probe: asyncio.Task[None] | None = None  # the background probe, referenced while it runs
        self._timer: asyncio.TimerHandle | None = None
        STATE.labels(dependency).set(State.CLOSED)

    @property
    def state(self) -> State:
        if self._state is State.OPEN and self._clock() - self._opened_at >= self.open_seconds:
            return State.HALF_OPEN
        return self._state

    def allow(self) -> None:
        """Return if a call may go ahead; raise BreakerOpen otherwise. While
        half-open, one call at a time goes ahead: the probe."""
        state = self.state
        if state is State.CLOSED:
            return
        if state is State.HALF_OPEN and not self._probing:
            self._probing = True
            self._enter(State.HALF_OPEN)
            return
        remaining = self._opened_at + self.open_seconds - self._clock()
        raise BreakerOpen(self.dependency, max(remaining, 0.0))

    def succeeded(self) -> None:
        self._failed = 0
        self._probing = False
        if self._state is not State.CLOSED:
            self._enter(State.CLOSED)

    def failed(self, error: BaseException | None = None) -> None:
        self._failed += 1
        probe_failed, self._probing = self._probing, False
        if probe_failed or (self._state is State.CLOSED and self._failed >= self.failures):
            self._opened_at = self._clock()
            self._enter(State.OPEN, error)
            self._schedule_probe()

    @asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        """Guard a call: refused at once while open; its outcome recorded.
        With a `probe`, a probe that is due starts in the background and this
        call is refused like the others."""
        if self._probe_call is not None:
            self._start_probe()
        self.allow()
        try:
            yield
        except BaseException as exc:
            self.failed(exc)
            raise
        self.succeeded()

    def _schedule_probe(self) -> None:
        if self._probe_call is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a synchronous caller): the next call starts it
            return
        # A context of its own: the probe's log lines carry no request's id.
        self._timer = loop.call_later(self.open_seconds, self._start_probe, context=contextvars.Context())

    def _start_probe(self) -> None:
        """The background probe, if one is due and none runs."""
        probe = self._probe_call
        if probe is None or self._probing or self.state is not State.HALF_OPEN:
            return
        self._probing = True
        self._enter(State.HALF_OPEN)

        async def run() -> None:
            try:
                await probe()
            except Exception as exc:
                self.failed(exc)
            else:
                self.succeeded()

        self._probe = asyncio.get_running_loop().create_task(run(), context=contextvars.Context())

    async def aclose(self) -> None:
        """Stop probing (the app is stopping)."""
        self._probe_call = None
        if self._timer is not None:
            self._timer.cancel()
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)

    def _enter(self, state: State, error: BaseException | None = None) -> None:
        if state is self._state:
            return
        self._state = state
        STATE.labels(self.dependency).set(state)
        TRANSITIONS.labels(self.dependency, state.name.lower()).inc()
        if state is State.OPEN:
            cause = type(error).__name__ if error is not None else None
            log.warning("circuit_open", dependency=self.dependency, error=cause, retry_in_seconds=self.open_seconds)
        elif state is State.HALF_OPEN:
            log.info("circuit_half_open", dependency=self.dependency)
        else:
            log.info("circuit_closed", dependency=self.dependency)
