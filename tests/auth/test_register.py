import httpx

from tests.helpers.accounts import PASSWORD, unique_email


async def test_register_returns_the_user_without_secrets(auth_client: httpx.AsyncClient) -> None:
    email = unique_email()
    response = await auth_client.post(
        "/auth/register", json={"email": email.upper(), "password": PASSWORD, "username": "ada.l"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == email  # stored lower-cased
    assert body["username"] == "ada.l"
    assert set(body) == {"id", "email", "username", "created_at"}


async def test_duplicate_email_in_any_case_is_409(auth_client: httpx.AsyncClient) -> None:
    email = unique_email()
    first = await auth_client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert first.status_code == 201
    again = await auth_client.post("/auth/register", json={"email": email.upper(), "password": PASSWORD})
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["status"] == 409


async def test_invalid_email_is_422_naming_the_field(auth_client: httpx.AsyncClient) -> None:
    response = await auth_client.post("/auth/register", json={"email": "not-an-email", "password": PASSWORD})
    assert response.status_code == 422
    body = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["loc"] for error in body["errors"]] == [["body", "email"]]
    assert body["request_id"] == response.headers["x-request-id"]


async def test_password_length_is_bounded(auth_client: httpx.AsyncClient) -> None:
    for password in ("short7!", "x" * 129):
        response = await auth_client.post("/auth/register", json={"email": unique_email(), "password": password})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "password"]


async def test_unknown_fields_and_bad_json_are_422(auth_client: httpx.AsyncClient) -> None:
    extra = await auth_client.post(
        "/auth/register", json={"email": unique_email(), "password": PASSWORD, "is_admin": True}
    )
    assert extra.status_code == 422
    broken = await auth_client.post(
        "/auth/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422


async def test_rejected_registration_writes_nothing(auth_client: httpx.AsyncClient) -> None:
    email = unique_email()
    rejected = await auth_client.post("/auth/register", json={"email": email, "password": "short"})
    assert rejected.status_code == 422
    login = await auth_client.post("/auth/token", data={"username": email, "password": "short"})
    assert login.status_code == 401
    created = await auth_client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201
