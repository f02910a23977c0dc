"""Data safety on the compose stack (`make test-resilience`, after `make up`):
`make down` keeps the data, `make wipe` asks before deleting it, and a
`make backup` restored with `make restore` brings back every user and row,
with logins working. It drives the Makefile as an operator would, through
the gateway on 127.0.0.1 and `docker exec` (inside the scripts), and leaves
the stack up, restored."""

import re
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.helpers import ROOT
from tests.helpers.accounts import PASSWORD
from tests.resilience.stack import make, wait_for_gateway

pytestmark = pytest.mark.resilience


class Owner:
    """A user with rows, written through the gateway, and what they read back."""

    def __init__(self, gateway: str) -> None:
        self.gateway = gateway
        self.email = f"safety-{uuid.uuid4().hex[:12]}@example.com"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.gateway, timeout=30)

    def register_and_write(self) -> None:
        with self.client() as client:
            registered = client.post("/auth/register", json={"email": self.email, "password": PASSWORD})
            assert registered.status_code == 201, registered.text
            headers = self.log_in(client)
            for n in range(3):
                body = {"url": f"https://safety.example/{uuid.uuid4()}", "title": f"kept {n}", "tags": ["safety"]}
                assert client.post("/bookmarks/", json=body, headers=headers).status_code == 201
            for n in range(2):
                body = {"title": f"item {n}", "price": f"{n}.50"}
                assert client.post("/items/", json=body, headers=headers).status_code == 201

    def log_in(self, client: httpx.Client) -> dict[str, str]:
        answer = client.post("/auth/token", data={"username": self.email, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def can_log_in(self) -> bool:
        with self.client() as client:
            answer = client.post("/auth/token", data={"username": self.email, "password": PASSWORD})
            assert answer.status_code in (200, 401), answer.text
            return answer.status_code == 200

    def rows(self) -> dict[str, object]:
        """Everything the owner reads back: each list's body and total."""
        with self.client() as client:
            headers = self.log_in(client)
            found: dict[str, object] = {}
            for kind in ("bookmarks", "items"):
                answer = client.get(f"/{kind}/?limit=100&sort=created_at", headers=headers)
                assert answer.status_code == 200, answer.text
                found[kind] = (answer.headers["X-Total-Count"], answer.json())
            return found


def test_make_down_keeps_the_data(gateway: str) -> None:
    owner = Owner(gateway)
    owner.register_and_write()
    before = owner.rows()
    make("down")
    make("up")
    wait_for_gateway(gateway)
    assert owner.can_log_in()
    assert owner.rows() == before


def test_make_wipe_asks_first(gateway: str) -> None:
    owner = Owner(gateway)
    owner.register_and_write()
    refused = make("wipe", stdin="no\n", check=False)
    assert refused.returncode != 0
    assert "nothing wiped" in refused.stdout + refused.stderr
    assert owner.can_log_in()  # still there


def test_backup_wipe_restore_brings_back_every_user_and_row(gateway: str) -> None:
    owner = Owner(gateway)
    owner.register_and_write()
    before = owner.rows()
    started = time.monotonic()
    backed_up = make("backup")
    match = re.search(r"backup: (\S+\.dump)", backed_up.stdout)
    assert match, backed_up.stdout
    dump = ROOT / match.group(1)
    assert dump.is_file() and dump.stat().st_mode & 0o077 == 0  # the owner's alone
    try:
        make("wipe", "FORCE=1")
        make("up")
        wait_for_gateway(gateway)
        assert not owner.can_log_in()  # the wipe really took everything
        restore_started = time.monotonic()
        restored = make("restore", f"FILE={match.group(1)}")
        wait_for_gateway(gateway)
        restore_seconds, round_trip = time.monotonic() - restore_started, time.monotonic() - started
        print(f"restore took {restore_seconds:.1f} s; the round trip {round_trip:.1f} s")
        print(restored.stdout[-600:])
        assert owner.can_log_in()
        assert owner.rows() == before
    finally:
        dump.unlink(missing_ok=True)


def test_restore_needs_a_dump() -> None:
    refused = make("restore", "FILE=backups/no-such.dump", check=False)
    assert refused.returncode != 0
    assert "name a dump" in refused.stdout + refused.stderr
    assert not Path(ROOT / "backups/no-such.dump").exists()
