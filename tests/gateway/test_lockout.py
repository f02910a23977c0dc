"""ASVS 6.3.1 on the host stack, through the gateway: a stranger guessing an
account's password from one address cannot keep its owner, on another
address, from signing in. Each client's sockets are bound to its own
loopback address (Linux routes all of 127/8), which the gateway forwards and
the auth service limits by. Through Docker's proxy every client would share
one address, so this runs on the host stack only."""

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from hoststack.stack import Stack
from tests.helpers.accounts import PASSWORD
from tests.helpers.gateway import GATEWAY_429_DETAIL, register_and_login, send


@contextmanager
def client_from(stack: Stack, address: str) -> Iterator[httpx.Client]:
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=stack.gateway_url, transport=transport, timeout=15.0) as client:
        yield client


def test_a_stranger_cannot_lock_the_owner_out(stack: Stack) -> None:
    with client_from(stack, "127.0.0.3") as owner:
        account = register_and_login(owner)
    with client_from(stack, "127.0.0.2") as attacker:
        answers = [
            send(attacker, "POST", "/auth/token", data={"username": account.email, "password": f"guess-{n}"})
            for n in range(14)
        ]
    statuses = [answer.status_code for answer in answers]
    assert statuses == [401] * 10 + [429] * 4, statuses
    # The service refused the stranger (not the gateway's own zone).
    assert answers[-1].json()["detail"] != GATEWAY_429_DETAIL
    with client_from(stack, "127.0.0.3") as owner:
        signed_in = send(owner, "POST", "/auth/token", data={"username": account.email, "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
