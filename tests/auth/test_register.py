import uuid

import httpx
import pytest

from tests.helpers.accounts import PASSWORD, fullwidth, unique_email

ACUTE = "\u0301"  # COMBINING ACUTE ACCENT
CYRILLIC_A = "\u0430"


async def _register(client: httpx.AsyncClient, email: str, username: str | None = None) -> httpx.Response:
    body = {"email": email, "password": PASSWORD} | ({"username": username} if username is not None else {})
    return await client.post("/auth/register", json=body)


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


@pytest.mark.parametrize(
    "look_alike",
    [
        lambda local, domain: f"{fullwidth(local)}@{domain}",
        lambda local, domain: f"{fullwidth(local.upper())}@{domain.upper()}",
        lambda local, domain: f"{local}@{fullwidth(domain)}",
    ],
    ids=["full-width", "full-width upper-case", "full-width domain"],
)
async def test_look_alike_emails_are_one_account(auth_client: httpx.AsyncClient, look_alike) -> None:
    local, _, domain = unique_email().partition("@")
    assert (await _register(auth_client, f"{local}@{domain}")).status_code == 201
    again = await _register(auth_client, look_alike(local, domain))
    assert again.status_code == 409, again.text
    assert again.json()["detail"] == "An account with this email or username already exists."


async def test_an_accent_precomposed_or_combined_is_one_account(auth_client: httpx.AsyncClient) -> None:
    local = f"ren\u00e9-{uuid.uuid4().hex[:8]}"
    assert (await _register(auth_client, f"{local}@example.com")).status_code == 201
    decomposed = local.replace("\u00e9", "e" + ACUTE)
    assert (await _register(auth_client, f"{decomposed}@example.com")).status_code == 409


async def test_an_idn_domain_and_its_punycode_are_one_account(auth_client: httpx.AsyncClient) -> None:
    local = f"user-{uuid.uuid4().hex[:8]}"
    assert (await _register(auth_client, f"{local}@b\u00fccher.example")).status_code == 201
    assert (await _register(auth_client, f"{local}@xn--bcher-kva.example")).status_code == 409


@pytest.mark.parametrize(
    "variant",
    [str.upper, fullwidth, lambda name: fullwidth(name.upper())],
    ids=["upper-case", "full-width", "full-width upper-case"],
)
async def test_look_alike_usernames_are_409(auth_client: httpx.AsyncClient, variant) -> None:
    username = f"ada.{uuid.uuid4().hex[:8]}"
    assert (await _register(auth_client, unique_email(), username)).status_code == 201
    again = await _register(auth_client, unique_email(), variant(username))
    assert again.status_code == 409, again.text


async def test_a_username_is_shown_as_typed(auth_client: httpx.AsyncClient) -> None:
    username = f"Ada.{uuid.uuid4().hex[:8]}"
    created = await _register(auth_client, unique_email(), username)
    assert created.json()["username"] == username  # compared folded, shown as typed


@pytest.mark.parametrize(
    ("field", "email", "username", "reason"),
    [
        ("email", f"{CYRILLIC_A}lice-{{}}@example.com", None, "one script, not mixed (Cyrillic, Latin)"),
        ("email", f"alice-{{}}@ex{CYRILLIC_A}mple.com", None, "one script, not mixed (Cyrillic, Latin)"),
        ("email", "\U0001f600-{}@example.com", None, "U+1F600 GRINNING FACE: a symbol"),
        ("username", "", f"{CYRILLIC_A}lice-{{}}", "one script, not mixed (Cyrillic, Latin)"),
        ("username", "", "al\u0336ice-{}", "U+0336 COMBINING LONG STROKE OVERLAY"),
        ("username", "", "user\u200dname-{}", "U+200D ZERO WIDTH JOINER"),
    ],
    ids=["mixed-script email", "mixed-script domain", "emoji email", "mixed-script username", "overlay", "joiner"],
)
async def test_identities_the_rules_refuse_are_422_saying_why(
    auth_client: httpx.AsyncClient, field: str, email: str, username: str | None, reason: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    response = await _register(
        auth_client, email.format(tag) or unique_email(), username.format(tag) if username else None
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["loc"] == ["body", field]
    assert error["type"] == "identity_refused"
    assert reason in error["msg"]


async def test_a_name_in_one_other_script_is_its_own_account(auth_client: httpx.AsyncClient) -> None:
    # All Cyrillic (digits have no script): distinct from any Latin name,
    # however alike (README "Identity keys").
    tag = uuid.uuid4().int % 10**8
    created = await _register(auth_client, unique_email(), f"\u0430\u043b\u0438\u0441\u0430-{tag}")
    assert created.status_code == 201, created.text
