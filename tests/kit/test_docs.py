"""Swagger UI as the services serve it (servicekit/docs.py): its pages, their
policy and their assets. The browser's view is tests/gateway/test_docs_browser.py."""

import base64
import hashlib
from html.parser import HTMLParser

import httpx
import pytest

from servicekit.docs import DOCS_CSP, IMMUTABLE, assets

# Written out, not imported: loosening the policy must change this test too.
EXPECTED_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# swagger-ui-dist 5.31.0 as the npm registry publishes it (`npm pack
# swagger-ui-dist@5.31.0`): the PyPI package we serve it from must not have
# changed a byte. A version bump checks the new files the same way.
UPSTREAM_SHA256 = {
    "swagger-ui-bundle.js": "93b7b0862a80e2786f85b560be7693c2344354ffa7e7e224f850a54349724c31",
    "swagger-ui.css": "9e576f8322132c76949da47f9bb53c891373c303ea3a761ff548ffc9de50a98c",
    "oauth2-redirect.js": "a5c8a34e09e49737382cc5019446eec7c3db3461963fc5bfe448361d3c5549e9",
}
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
}


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside <script>s."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.script_text.append(data)


def parse(html: str) -> Elements:
    elements = Elements()
    elements.feed(html)
    return elements


def sri(body: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


def test_the_policy_allows_no_inline_script_and_no_third_party() -> None:
    assert DOCS_CSP == EXPECTED_CSP


@pytest.mark.parametrize("page", ["/auth/docs", "/auth/docs/oauth2-redirect"])
async def test_the_pages_carry_the_policy_and_run_no_inline_code(auth_client: httpx.AsyncClient, page: str) -> None:
    response = await auth_client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers.get_list("content-security-policy") == [EXPECTED_CSP]
    elements = parse(response.text)
    scripts = [attrs for tag, attrs in elements.tags if tag == "script"]
    assert scripts and all(attrs.get("src") for attrs in scripts)
    assert elements.script_text == []  # no <script> with a body
    for tag, attrs in elements.tags:
        assert tag != "style"
        assert not [name for name in attrs if name == "style" or name.startswith("on")], (tag, attrs)
    assert "cdn" not in response.text.lower()


async def test_the_docs_page_names_its_document_and_redirect_page(auth_client: httpx.AsyncClient) -> None:
    elements = parse((await auth_client.get("/auth/docs")).text)
    (init,) = [attrs for tag, attrs in elements.tags if tag == "script" and "docs-init.js" in (attrs["src"] or "")]
    assert init["data-openapi-url"] == "/auth/openapi.json"
    assert init["data-oauth2-redirect-url"] == "/auth/docs/oauth2-redirect"
    assert (await auth_client.get("/auth/openapi.json")).status_code == 200
    # FastAPI's own pages (CDN assets, an inline script) are not there
    for path in ("/docs", "/docs/oauth2-redirect", "/redoc"):
        assert (await auth_client.get(path)).status_code == 404


@pytest.mark.parametrize("page", ["/auth/docs", "/auth/docs/oauth2-redirect"])
async def test_every_asset_a_page_loads_is_served_immutable_and_matches_its_hash(
    auth_client: httpx.AsyncClient, page: str
) -> None:
    elements = parse((await auth_client.get(page)).text)
    loaded = [(attrs.get("src") or attrs.get("href"), attrs.get("integrity")) for _, attrs in elements.tags]
    loaded = [(url, integrity) for url, integrity in loaded if url]
    assert loaded
    for url, integrity in loaded:
        assert url and url.startswith("/auth/docs/static/")
        response = await auth_client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"] == MEDIA_TYPES[url[url.rindex(".") :]]
        assert response.headers["cache-control"] == IMMUTABLE
        assert url.split("/")[-2] == hashlib.sha256(response.content).hexdigest()[:16]
        if not url.endswith(".png"):
            assert integrity == sri(response.content), url  # scripts and styles are SRI-checked


@pytest.mark.parametrize(
    "path",
    [
        "/auth/docs/static/0000000000000000/swagger-ui-bundle.js",  # not its digest
        f"/auth/docs/static/{assets()['swagger-ui.css'].digest}/swagger-ui-bundle.js",  # another file's
        "/auth/docs/static/0000000000000000/index.html",  # in the bundle, but not served
        "/auth/docs/static/0000000000000000/swagger-ui-bundle.js.map",
        "/auth/docs/static/x/..%2F..%2Fdocs.py",
        "/auth/docs/static/swagger-ui-bundle.js",
    ],
)
async def test_anything_else_under_static_is_a_404(auth_client: httpx.AsyncClient, path: str) -> None:
    response = await auth_client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"


def test_swagger_ui_is_upstream_s_release_unchanged() -> None:
    served = assets()
    for name, digest in UPSTREAM_SHA256.items():
        assert hashlib.sha256(served[name].body).hexdigest() == digest, name
