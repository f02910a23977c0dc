"""End to end through the real nginx gateway, on whichever platform
`E2E_TARGET` names: the host stack (PostgreSQL, Redis, the migration job,
both services under gunicorn, nginx - started by tools/hoststack, the
launcher behind `make dev`), or the compose stack `make up` started
(`.ci/run`). The same tests, through a small control object per platform."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest

from servicekit.docs import DOCS_CSP
from servicekit.ratelimit import account_key
from tests.helpers.accounts import PASSWORD, unique_email
from tests.helpers.gateway import GATEWAY_429_DETAIL, assert_problem, register_and_login, send, wait_for_log
from tests.helpers.platforms import Platform

pytestmark = pytest.mark.e2e


def test_register_token_crud_refresh_logout(gw: httpx.Client):
    email = unique_email()
    # usernames are unique too: one of its own, so the suite runs again on the same stack
    username = "e2e-" + email.split("@")[0].removeprefix("user-")
    created = send(gw, "POST", "/auth/register", json={"email": email, "password": PASSWORD, "username": username})
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]

    tokens = send(gw, "POST", "/auth/token", data={"username": email, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    # /auth/login is the same grant
    assert send(gw, "POST", "/auth/login", data={"username": email, "password": PASSWORD}).status_code == 200

    me = gw.get("/users/me", headers=auth)
    assert me.status_code == 200 and me.json()["id"] == user_id and me.json()["email"] == email

    # --- items -----------------------------------------------------------------
    item = gw.post("/items/", json={"title": "Lamp", "description": "brass", "price": "12.5"}, headers=auth)
    assert item.status_code == 201, item.text
    item_id = item.json()["id"]
    assert item.json()["price"] == "12.50" and item.json()["owner_id"] == user_id
    assert item.headers["location"].endswith(f"/items/{item_id}")
    listed = gw.get("/items/", params={"limit": 10}, headers=auth)
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()] == [item_id]
    fetched = gw.get(f"/items/{item_id}", headers=auth)
    assert fetched.status_code == 200 and fetched.json()["title"] == "Lamp"
    patched = gw.patch(f"/items/{item_id}", json={"is_available": False}, headers=auth)
    assert patched.status_code == 200, patched.text
    assert patched.json()["is_available"] is False and patched.json()["title"] == "Lamp"
    assert gw.delete(f"/items/{item_id}", headers=auth).status_code == 204
    assert_problem(gw.get(f"/items/{item_id}", headers=auth), 404)

    # --- bookmarks ------------------------------------------------------------------
    bookmark = gw.post("/bookmarks/", json={"url": "https://example.com/a", "title": "A", "tags": ["x"]}, headers=auth)
    assert bookmark.status_code == 201, bookmark.text
    bookmark_id = bookmark.json()["id"]
    duplicate = gw.post("/bookmarks/", json={"url": "https://example.com/a", "title": "again"}, headers=auth)
    assert_problem(duplicate, 409)
    assert [row["id"] for row in gw.get("/bookmarks/", headers=auth).json()] == [bookmark_id]
    patched = gw.patch(f"/bookmarks/{bookmark_id}", json={"title": "B"}, headers=auth)
    assert patched.status_code == 200 and patched.json()["title"] == "B"
    assert gw.get(f"/bookmarks/{bookmark_id}", headers=auth).json()["url"] == "https://example.com/a"
    assert gw.delete(f"/bookmarks/{bookmark_id}", headers=auth).status_code == 204
    assert gw.get("/bookmarks/", headers=auth).json() == []

    # --- refresh, then logout -----------------------------------------------------
    refreshed = gw.post("/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    rotated = refreshed.json()
    assert rotated["refresh_token"] != body["refresh_token"]
    new_auth = {"Authorization": f"Bearer {rotated['access_token']}"}
    assert gw.get("/items/", headers=new_auth).status_code == 200  # the resource service accepts the new token
    assert gw.post("/auth/logout", json={"refresh_token": rotated["refresh_token"]}).status_code == 204
    assert_problem(gw.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]}), 401)


# SESSION_CACHE_SECONDS: the most a revoked login keeps working.
SESSION_CACHE_SECONDS = 5.0


def test_sign_out_everywhere_ends_access_tokens_within_the_stated_bound(gw: httpx.Client):
    account = register_and_login(gw)
    second = send(gw, "POST", "/auth/token", data={"username": account.email, "password": PASSWORD}).json()
    others = {"Authorization": f"Bearer {second['access_token']}"}
    assert gw.get("/items/", headers=others).status_code == 200  # now cached as active by some worker
    signed_out = time.monotonic()
    assert gw.delete("/auth/sessions", headers=account.headers).status_code == 204
    statuses: set[int] = set()
    while time.monotonic() - signed_out < SESSION_CACHE_SECONDS + 5:
        answers = [gw.get(path, headers=others) for path in ("/items/", "/users/me")]
        statuses |= {answer.status_code for answer in answers}
        if all(answer.status_code == 401 for answer in answers):
            break
        time.sleep(0.25)
    took = time.monotonic() - signed_out
    print(f"access tokens of ended sessions refused everywhere after {took:.2f} s")
    assert statuses <= {200, 401}
    assert all(gw.get(path, headers=others).status_code == 401 for path in ("/items/", "/users/me"))
    assert took <= SESSION_CACHE_SECONDS + 1
    assert send(gw, "POST", "/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code == 401


def test_another_users_rows_are_404_through_the_gateway(gw: httpx.Client):
    owner, other = register_and_login(gw), register_and_login(gw)
    item = gw.post("/items/", json={"title": "mine"}, headers=owner.headers)
    assert item.status_code == 201
    assert_problem(gw.get(f"/items/{item.json()['id']}", headers=other.headers), 404)
    assert gw.get("/items/", headers=other.headers).json() == []


def test_no_token_is_a_401_problem(gw: httpx.Client):
    assert_problem(gw.get("/items/"), 401)
    assert_problem(gw.get("/users/me"), 401)


def test_the_login_zone_answers_429_json_with_retry_after(gw: httpx.Client, platform: Platform):
    time.sleep(2.5)  # start from an empty bucket (5 r/s, burst 10)
    form = {"username": unique_email(), "password": "wrong password"}
    responses = [gw.post("/auth/login", data=form) for _ in range(25)]
    limited = [response for response in responses if response.status_code == 429]
    assert len(limited) >= 10, [response.status_code for response in responses]
    assert all(response.status_code in (401, 429) for response in responses)
    rejected = limited[-1]
    body = assert_problem(rejected, 429)
    assert body["detail"] == GATEWAY_429_DETAIL
    assert rejected.headers["retry-after"] == "1"
    # nginx itself answered: no upstream in its access log line
    (entry,) = wait_for_log(lambda: platform.logs("gateway"), lambda e: e.get("request_id") == body["request_id"])
    assert entry["status"] == 429 and entry["upstream_status"] == ""
    # the general zone is separate: the rest of the API is unaffected
    assert gw.get("/auth/health").status_code == 200
    time.sleep(2.5)  # leave an empty bucket for whoever comes next


def test_the_services_count_in_redis_behind_its_password(gw: httpx.Client, platform: Platform):
    # Anything else on the backend network cannot read or reset the counters.
    assert platform.redis("ping", authenticated=False).startswith("NOAUTH")
    assert platform.redis("ping") == "PONG"
    email = unique_email()
    assert send(gw, "POST", "/auth/login", data={"username": email, "password": "wrong password"}).status_code == 401
    # The failed login's account-wide counter (by the email's digest),
    # written by the auth service with the password it was given.
    keys = platform.redis("--scan", "--pattern", f"LIMITS:*{account_key(email)}*")
    assert f"login-failed-account/{account_key(email)}/" in keys, keys
    # Even with the password, no command the limiter does not need.
    assert platform.redis("config", "get", "*").startswith("NOPERM")
    assert platform.redis("flushall").startswith("NOPERM")


def test_request_id_round_trip(gw: httpx.Client, platform: Platform):
    account = register_and_login(gw)
    request_id = f"e2e-{uuid.uuid4().hex}"
    response = gw.get("/users/me", headers={**account.headers, "X-Request-ID": request_id})
    assert response.status_code == 200
    assert response.headers.get_list("x-request-id") == [request_id]

    (gateway_line,) = wait_for_log(lambda: platform.logs("gateway"), lambda e: e.get("request_id") == request_id)
    assert gateway_line["path"] == "/users/me" and gateway_line["status"] == 200
    assert gateway_line["upstream_status"] == "200" and gateway_line["upstream_response_time"]
    service_lines = wait_for_log(
        lambda: platform.logs("auth"), lambda e: e.get("request_id") == request_id and e.get("event") == "request"
    )
    assert len(service_lines) == 1 and service_lines[0]["status"] == 200

    # the resource service too, with an id the gateway made up
    response = gw.post("/items/", json={"title": "traced"}, headers={**account.headers, "X-Request-ID": "bad id!"})
    assert response.status_code == 201
    generated = response.headers["x-request-id"]
    assert generated != "bad id!" and len(generated) == 32
    assert wait_for_log(lambda: platform.logs("gateway"), lambda e: e.get("request_id") == generated)
    assert wait_for_log(lambda: platform.logs("resource"), lambda e: e.get("request_id") == generated)


def test_client_ip_comes_from_the_gateway_not_from_the_client(gw: httpx.Client, platform: Platform):
    request_id = f"e2e-{uuid.uuid4().hex}"
    gw.get("/auth/health", headers={"X-Request-ID": request_id, "X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6"})
    (gateway_line,) = wait_for_log(lambda: platform.logs("gateway"), lambda e: e.get("request_id") == request_id)
    (line,) = wait_for_log(
        lambda: platform.logs("auth"), lambda e: e.get("request_id") == request_id and e.get("event") == "request"
    )
    # The address the gateway saw (127.0.0.1 on the host, Docker's bridge
    # behind compose's published port), never what the client claimed.
    assert line["client_ip"] == gateway_line["remote_addr"] != "6.6.6.6"


@pytest.mark.parametrize("path", ["/metrics", "/livez", "/readyz", "/health", "/nope", "/auth/metrics", "/"])
def test_metrics_and_unknown_paths_are_json_404(gw: httpx.Client, path: str):
    body = assert_problem(gw.get(path), 404)
    assert "python_info" not in str(body)


def test_metrics_exist_on_the_services_own_ports(platform: Platform):
    for service in ("auth", "resource"):
        assert "# TYPE http_requests_total counter" in platform.metrics(service)


def test_health_routes(gw: httpx.Client):
    assert gw.get("/healthz").json() == {"status": "ok"}
    for path in ("/auth/health", "/resource/health"):
        response = gw.get(path)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["status"] == "ok"
        assert "127.0.0.1" not in response.text and "postgres" not in response.text.lower()


def test_body_limit_is_enforced_at_the_gateway(gw: httpx.Client, platform: Platform):
    account = register_and_login(gw)
    big = {"title": "x", "description": "y" * (2 * 1024 * 1024)}
    assert_problem(gw.post("/items/", json=big, headers=account.headers), 413)
    # 60 000 unknown members (649 KB): refused before the service parses them
    members = {f"k{n}": 0 for n in range(60_000)}
    assert_problem(gw.post("/items/", json={**members, "title": "x"}, headers=account.headers), 413)


def test_swagger_ui_and_openapi_through_the_gateway(gw: httpx.Client):
    for prefix in ("/auth", "/resource"):
        docs = gw.get(f"{prefix}/docs")
        assert docs.status_code == 200 and "swagger-ui" in docs.text
        assert f'data-openapi-url="{prefix}/openapi.json"' in docs.text
        # the service's policy, and only it (the browser test shows it is enough)
        assert docs.headers.get_list("content-security-policy") == [DOCS_CSP]
        # the OAuth2 redirect page Swagger UI is configured with is reachable too
        redirect = re.search(r'data-oauth2-redirect-url="([^"]+)"', docs.text)
        assert redirect, "Swagger UI has no oauth2RedirectUrl"
        assert gw.get(redirect.group(1)).status_code == 200, f"{redirect.group(1)} is not reachable"
        # its assets come from the service, through the gateway, compressed
        for asset in re.findall(r'(?:src|href)="([^"]+)"', docs.text):
            loaded = gw.get(asset, headers={"Accept-Encoding": "gzip"})
            assert loaded.status_code == 200, asset
            if asset.endswith((".js", ".css")):
                assert loaded.headers["content-encoding"] == "gzip", asset
        schema = gw.get(f"{prefix}/openapi.json")
        assert schema.status_code == 200
        flows = [s["flows"] for s in schema.json()["components"]["securitySchemes"].values() if s["type"] == "oauth2"]
        # "Authorize" posts the password form to this URL - through the gateway
        assert flows and flows[0]["password"]["tokenUrl"] == "/auth/token"
    paths = gw.get("/resource/openapi.json").json()["paths"]
    assert "/items/" in paths and "/bookmarks/" in paths


def test_resource_outage_is_a_json_problem_and_recovers(gw: httpx.Client, platform: Platform):
    account = register_and_login(gw)
    assert gw.get("/items/", headers=account.headers).status_code == 200
    others = {piece: platform.instance(piece) for piece in ("gateway", "auth")}
    platform.stop("resource")
    try:
        # Refused (host) or unreachable (a stopped container): 502, or 503
        # while Docker still routes to the container that is going away.
        outage = gw.get("/items/", headers=account.headers)
        body = assert_problem(outage, outage.status_code)
        assert outage.status_code in (502, 503), outage.text
        assert "unavailable" in body["detail"]
        assert gw.post("/bookmarks/", json={"url": "https://a.example", "title": "t"}).status_code in (502, 503)
        assert gw.get("/resource/health").status_code in (502, 503)
        # the auth service is unaffected
        assert gw.get("/auth/health").status_code == 200
        assert gw.get("/users/me", headers=account.headers).status_code == 200
        login = send(gw, "POST", "/auth/token", data={"username": account.email, "password": PASSWORD})
        assert login.status_code == 200
    finally:
        platform.start("resource")
    # back, with nothing else restarted (same gateway, same auth instance)
    response = gw.get("/items/", headers=account.headers)
    assert response.status_code == 200, response.text
    assert gw.get("/resource/health").json()["status"] == "ok"
    assert {piece: platform.instance(piece) for piece in others} == others


def test_gateway_access_log_is_json_lines(platform: Platform):
    entries = [entry for entry in platform.logs("gateway") if "request_time" in entry]
    assert entries
    for entry in entries:
        assert {"request_id", "status", "request_time", "upstream_response_time", "method", "path"} <= entry.keys()


def test_no_redirect_is_ever_built_from_the_host(gw: httpx.Client):
    """A trailing slash once earned `307 Location: http://<Host>/auth/token`,
    and a 307 makes a client re-send the password there."""
    form = {"username": unique_email(), "password": "whatever-it-is"}
    foreign = gw.post("/auth/token/", data=form, headers={"Host": "evil.example"})
    assert_problem(foreign, 421)
    for path in ("/auth/token/", "/auth/register/", "/users/me/", "/items/00000000-0000-0000-0000-000000000000/"):
        response = gw.post(path, data=form) if path.startswith("/auth") else gw.get(path)
        assert response.status_code in (401, 404, 405), (path, response.status_code)
        assert "location" not in response.headers, path


def test_the_longest_paging_link_passes_the_gateway(gw: httpx.Client):
    """A `url`-sorted page's `Link` carries a cursor made of the last URL
    and the validated query (`q`, every `tag`): with the longest of each it
    is several KB, and the gateway must pass it (nginx's default buffer for
    a response's headers is 4 KB: a 502 past it)."""
    user = register_and_login(gw)
    text = "€" * 200  # the longest `q`, 1800 bytes once percent-encoded
    tags = [f"{n:02d}{'t' * 30}" for n in range(20)]
    urls = [f"https://example.com/{n}{'a' * 2027}" for n in range(3)]
    for url in urls:
        body = {"url": url, "title": text, "tags": tags}
        assert gw.post("/bookmarks/", json=body, headers=user.headers).status_code == 201
    query = httpx.QueryParams({"sort": "url", "limit": 1, "q": text, "tag": tags})
    seen, path = [], f"/bookmarks/?{query}"
    while path:
        page = gw.get(path, headers=user.headers)
        assert page.status_code == 200, page.text
        seen += [row["url"] for row in page.json()]
        link = page.headers.get("link")
        assert link is None or len(link) > 4096
        path = link[1 : link.index(">")] if link else ""
    assert seen == sorted(urls)
