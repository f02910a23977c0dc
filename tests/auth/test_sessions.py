"""Logins as sessions (ASVS 7.3.2, 7.4.1): access tokens name theirs, the
owner lists and ends them, ending one stops its access tokens too, and none
outlives its absolute lifetime however often it is refreshed."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
from fastapi import FastAPI

from tests.helpers.accounts import Account, login
from tests.helpers.apps import client_for
from tests.helpers.database import Database


async def test_access_tokens_are_typed_and_name_their_session(auth_client: httpx.AsyncClient, account: Account) -> None:
    assert jwt.get_unverified_header(account.access_token)["typ"] == "at+jwt"
    sessions = await auth_client.get("/auth/sessions", headers=account.headers)
    assert sessions.status_code == 200, sessions.text
    [only] = sessions.json()
    assert only["current"] is True
    assert jwt.decode(account.access_token, options={"verify_signature": False})["sid"] == only["id"]


async def test_the_session_list_shows_every_active_login(auth_client: httpx.AsyncClient, account: Account) -> None:
    second = await auth_client.post(
        "/auth/token",
        data={"username": account.email, "password": account.password},
        headers={"User-Agent": "ph\x7fone/1"},
    )
    assert second.status_code == 200
    listed = (await auth_client.get("/auth/sessions", headers=account.headers)).json()
    assert len(listed) == 2
    assert [entry["current"] for entry in listed].count(True) == 1
    assert {"id", "created_at", "last_used_at", "expires_at", "user_agent", "current"} == set(listed[0])
    assert any(entry["user_agent"] == "ph\x7fone/1" for entry in listed)


async def test_logout_ends_the_access_token_too(auth_client: httpx.AsyncClient, account: Account) -> None:
    assert (await auth_client.post("/auth/logout", json={"refresh_token": account.refresh_token})).status_code == 204
    me = await auth_client.get("/users/me", headers=account.headers)
    assert me.status_code == 401 and "session has ended" in me.json()["detail"]


async def test_ending_one_session_leaves_the_others(auth_client: httpx.AsyncClient, account: Account) -> None:
    other = (await login(auth_client, account.email)).json()
    other_headers = {"Authorization": f"Bearer {other['access_token']}"}
    other_id = jwt.decode(other["access_token"], options={"verify_signature": False})["sid"]

    assert (await auth_client.delete(f"/auth/sessions/{other_id}", headers=account.headers)).status_code == 204
    assert (await auth_client.get("/users/me", headers=other_headers)).status_code == 401
    refused = await auth_client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert refused.status_code == 401
    assert (await auth_client.get("/users/me", headers=account.headers)).status_code == 200
    # Ended already, or never ours: the same 404.
    for session_id in (other_id, str(uuid.uuid4())):
        gone = await auth_client.delete(f"/auth/sessions/{session_id}", headers=account.headers)
        assert gone.status_code == 404 and gone.headers["content-type"] == "application/problem+json"


async def test_a_session_of_another_account_cannot_be_ended(
    auth_client: httpx.AsyncClient, account: Account, other: Account
) -> None:
    theirs = jwt.decode(other.access_token, options={"verify_signature": False})["sid"]
    assert (await auth_client.delete(f"/auth/sessions/{theirs}", headers=account.headers)).status_code == 404
    assert (await auth_client.get("/users/me", headers=other.headers)).status_code == 200


async def test_sign_out_everywhere(auth_client: httpx.AsyncClient, account: Account, other: Account) -> None:
    second = (await login(auth_client, account.email)).json()
    assert (await auth_client.delete("/auth/sessions", headers=account.headers)).status_code == 204
    for access in (account.access_token, second["access_token"]):
        assert (await auth_client.get("/users/me", headers={"Authorization": f"Bearer {access}"})).status_code == 401
    for refresh in (account.refresh_token, second["refresh_token"]):
        assert (await auth_client.post("/auth/refresh", json={"refresh_token": refresh})).status_code == 401
    # Another account is untouched; signing in again works.
    assert (await auth_client.get("/users/me", headers=other.headers)).status_code == 200
    assert (await login(auth_client, account.email)).status_code == 200


async def test_a_refreshed_login_still_ends_at_its_absolute_lifetime(
    auth_client: httpx.AsyncClient, account: Account, database: Database
) -> None:
    session_id = jwt.decode(account.access_token, options={"verify_signature": False})["sid"]
    refreshed = await auth_client.post("/auth/refresh", json={"refresh_token": account.refresh_token})
    assert refreshed.status_code == 200
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    database.cluster.psql(f"UPDATE sessions SET expires_at = '{past}' WHERE id = '{session_id}'", database.name)
    again = await auth_client.post("/auth/refresh", json={"refresh_token": refreshed.json()["refresh_token"]})
    assert again.status_code == 401
    access = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    assert (await auth_client.get("/users/me", headers=access)).status_code == 401


async def test_the_session_lifetime_caps_the_refresh_token(
    auth_app: FastAPI, account: Account, database: Database
) -> None:
    settings = auth_app.state.settings
    assert settings.session_max_lifetime_seconds == 30 * 86_400
    session_id = jwt.decode(account.access_token, options={"verify_signature": False})["sid"]
    database.cluster.psql(
        f"UPDATE sessions SET expires_at = now() + interval '1 hour' WHERE id = '{session_id}'", database.name
    )
    async with client_for(auth_app) as client:
        refreshed = await client.post("/auth/refresh", json={"refresh_token": account.refresh_token})
    assert refreshed.status_code == 200
    capped = database.cluster.psql(
        f"SELECT bool_and(t.expires_at <= s.expires_at) FROM refresh_tokens t JOIN sessions s ON s.id = t.family_id "
        f"WHERE s.id = '{session_id}' AND t.used_at IS NULL",
        database.name,
    )
    assert capped.strip() == "t"


async def test_session_routes_need_a_token(auth_client: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/auth/sessions"),
        ("DELETE", "/auth/sessions"),
        ("DELETE", f"/auth/sessions/{uuid.uuid4()}"),
    ):
        response = await auth_client.request(method, path)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
