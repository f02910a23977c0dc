"""Users as every suite makes them: a fresh email each time (tests isolate
themselves by their own data), one password, and the tokens a login gives."""

import uuid
from dataclasses import dataclass

import httpx

PASSWORD = "correct horse battery staple"


def unique_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


def fullwidth(text: str) -> str:
    """`text` with its ASCII letters and digits in their full-width forms
    (U+FF21...): a look-alike that is the same identity."""
    return "".join(chr(ord(char) + 0xFEE0) if char.isascii() and char.isalnum() else char for char in text)


@dataclass(frozen=True)
class Account:
    email: str
    id: str
    access_token: str
    refresh_token: str
    password: str = PASSWORD

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/auth/token", data={"username": email, "password": password})


async def register_and_login(client: httpx.AsyncClient) -> Account:
    """A new user, registered and logged in through the auth app `client` talks to."""
    email = unique_email()
    created = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    tokens = await login(client, email)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    return Account(email, created.json()["id"], body["access_token"], body["refresh_token"])
