"""A steady load of reads and writes through the compose gateway, recording
every answer, for the fault suite: while it runs, a test stops, kills or
restarts something, then asks what failed and whether every acknowledged
write is still there.

Each client is a thread with a user of its own (the services' write limit is
per user) and a keep-alive connection, as a real client has. A cycle is a
list, a read of one item, a new bookmark, a conditional update of the item
and, with `logins`, a password login every fourth cycle. Cycles are paced (one
per `period` seconds per client) so the load stays under every limit it
would otherwise meet: the gateway's per address (50 requests/s and 5 logins/s,
with bursts: behind Docker's published port every client has one address)
and the resource service's writes per user (120/minute). With the defaults,
about 30 requests/s.

Logins are staggered (client n logs in when its cycle + n is a multiple of 4),
so at most two clients log in in any period even when a stall has lined
every client's cycles up: a CI run had all eight log in at once and met the
gateway's credential burst. Setting up (a registration and a login per
client) spends that burst, so a load with logins starts once the bucket has
refilled.

A request that fails on a reused keep-alive connection before any byte of
the answer is sent again once, on a new connection, as browsers do: a server
may close an idle connection at any time (RFC 9112, 9.6), and nginx's old
workers close theirs when the gateway reloads. Each one is recorded in
`resent`, with the request id of its first attempt, and
`assert_resent_never_reached` checks against the gateway's access log (which
has a line for every request nginx read) that none of them had been read:
nothing is ever carried out twice."""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType

import httpx

from tests.helpers.accounts import PASSWORD
from tests.helpers.gateway import register_and_login

# The gateway's credential zone (gateway.conf.template: rate=5r/s, burst=10).
CREDENTIAL_RATE = 5
CREDENTIAL_BURST = 10
LOGIN_EVERY = 4  # cycles between a client's logins


def p99_ms(seconds: list[float]) -> float:
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


@dataclass(frozen=True)
class Outcome:
    at: float  # time.monotonic() when it was sent
    kind: str  # "list", "read", "create", "update", "login"
    status: int | None  # None: no answer (connection refused, reset, timed out)
    seconds: float
    error: str = ""  # the body of a refusal, or what went wrong with no answer
    retry_after: str | None = None
    problem: bool = False  # an application/problem+json body

    @property
    def failed(self) -> bool:
        return self.status is None or self.status >= 400


@dataclass(frozen=True)
class Resent:
    kind: str
    request_id: str  # of the first attempt
    error: str


# A connection the server closed before the answer (reset, or closed at once).
_CLOSED_CONNECTION = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


@dataclass
class Client:
    headers: dict[str, str]
    email: str
    item: str
    etag: str
    created: list[str] = field(default_factory=list)  # bookmark ids the service acknowledged


class Load:
    """`with Load(gateway) as load:` runs `clients` threads until the block
    ends; then `load.outcomes`, `load.failures()`, `load.summary()` and
    `load.lost_writes()`."""

    def __init__(self, gateway: str, clients: int = 8, period: float = 1.2, logins: bool = False) -> None:
        self.gateway = gateway
        self.period = period
        self.logins = logins
        self.outcomes: list[Outcome] = []
        self.resent: list[Resent] = []
        self._stop = threading.Event()
        self._clients = [self._new_client() for _ in range(clients)]
        self._threads = [
            threading.Thread(target=self._run, args=(client, n), daemon=True) for n, client in enumerate(self._clients)
        ]

    def _http(self) -> httpx.Client:
        return httpx.Client(base_url=self.gateway, timeout=30)

    def _new_client(self) -> Client:
        with self._http() as http:
            account = register_and_login(http)
            item = http.post("/items/", json={"title": "under load", "price": "1.00"}, headers=account.headers)
            assert item.status_code == 201, item.text
            return Client(account.headers, account.email, item.json()["id"], item.headers["ETag"])

    def __enter__(self) -> Load:
        if self.logins:
            time.sleep(CREDENTIAL_BURST / CREDENTIAL_RATE)
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        self.seconds = time.monotonic() - self.started

    def _send(
        self, http: httpx.Client, kind: str, method: str, url: str, headers: dict[str, str], **kwargs: object
    ) -> httpx.Response | None:
        for attempt in (1, 2):
            request_id = f"load-{uuid.uuid4().hex}"
            at = time.monotonic()
            try:
                response = http.request(
                    method,
                    url,
                    headers={**headers, "X-Request-ID": request_id},
                    **kwargs,  # type: ignore[arg-type]
                )
                break
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
                if attempt == 1 and isinstance(exc, _CLOSED_CONNECTION):
                    self.resent.append(Resent(kind, request_id, error))
                    continue
                self.outcomes.append(Outcome(at, kind, None, time.monotonic() - at, error))
                return None
        error = "" if response.status_code < 400 else response.text[:300]
        self.outcomes.append(
            Outcome(
                at,
                kind,
                response.status_code,
                time.monotonic() - at,
                error,
                response.headers.get("Retry-After"),
                response.headers.get("content-type") == "application/problem+json",
            )
        )
        return response

    def _run(self, client: Client, n: int) -> None:
        """Client n's cycles, its first n / clients of a period after the first client's."""
        next_cycle = time.monotonic() + n * self.period / len(self._clients)
        cycle = 0
        with self._http() as http:
            while not self._stop.wait(max(0.0, next_cycle - time.monotonic())):
                # a cycle that could not start on time (a stall) is skipped, not
                # made up for in a burst
                next_cycle = max(next_cycle + self.period, time.monotonic())
                cycle += 1
                self._send(http, "list", "GET", "/bookmarks/?limit=20", headers=client.headers)
                read = self._send(http, "read", "GET", f"/items/{client.item}", headers=client.headers)
                if read is not None and read.status_code == 200:
                    client.etag = read.headers["ETag"]
                body = {"url": f"https://load.example/{uuid.uuid4()}", "title": "written under load"}
                created = self._send(http, "create", "POST", "/bookmarks/", json=body, headers=client.headers)
                if created is not None and created.status_code == 201:
                    client.created.append(created.json()["id"])
                update = {"title": f"updated {uuid.uuid4().hex[:8]}"}
                headers = {**client.headers, "If-Match": client.etag}
                updated = self._send(http, "update", "PATCH", f"/items/{client.item}", json=update, headers=headers)
                if updated is not None and updated.status_code == 200:
                    client.etag = updated.headers["ETag"]
                if self.logins and (cycle + n) % LOGIN_EVERY == 0:
                    form = {"username": client.email, "password": PASSWORD}
                    self._send(http, "login", "POST", "/auth/token", {}, data=form)

    def assert_resent_never_reached(self, gateway_log: list[dict[str, object]]) -> None:
        """No first attempt of a resent request was read by the gateway."""
        first_attempts = {resent.request_id for resent in self.resent}
        reached = [line for line in gateway_log if line.get("request_id") in first_attempts]
        assert reached == [], f"resent requests the gateway had read: {reached}"

    def failures(self, since: float = 0.0) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.failed and outcome.at >= since]

    def acknowledged(self) -> int:
        return sum(len(client.created) for client in self._clients)

    def lost_writes(self) -> list[str]:
        """Acknowledged bookmarks the service no longer has: each client's
        whole list, page by page (`Link: rel="next"`), against what it was told."""
        lost = []
        with self._http() as http:
            for client in self._clients:
                found: set[str] = set()
                url: str | None = "/bookmarks/?limit=100"
                while url:
                    page = http.get(url, headers=client.headers)
                    assert page.status_code == 200, page.text
                    found |= {bookmark["id"] for bookmark in page.json()}
                    url = page.links.get("next", {}).get("url")
                lost += [bookmark for bookmark in client.created if bookmark not in found]
        return lost

    def summary(self, label: str) -> str:
        statuses = Counter("no answer" if o.status is None else str(o.status) for o in self.outcomes)
        seconds = [outcome.seconds for outcome in self.outcomes]
        p99 = p99_ms(seconds) if seconds else 0.0
        median = statistics.median(seconds) * 1000 if seconds else 0.0
        return (
            f"{label}: {len(self.outcomes)} requests in {self.seconds:.1f} s "
            f"({len(self.outcomes) / self.seconds:.0f}/s), {len(self.failures())} failed, "
            f"statuses {dict(sorted(statuses.items()))}, p50 {median:.1f} ms, p99 {p99:.1f} ms, "
            f"{self.acknowledged()} writes acknowledged, {len(self.resent)} sent again after a closed keep-alive "
            f"connection"
        )
