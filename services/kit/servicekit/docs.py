"""Swagger UI, served by each service itself under its docs prefix.

Nothing on the docs pages comes from a third party: Swagger UI's build is the
pinned `swagger-ui-bundle-v2` package's (swagger-ui-dist, unchanged), the
script that starts it is ours (`docs_assets/docs-init.js`, package data), and
the pages run no inline script. So their Content-Security-Policy refuses
everything else, and the API's origin runs only code this wheel's locks pin.

The assets live at `{prefix}/docs/static/{digest}/{name}`: the digest is of
the file's bytes, so a URL always means the same bytes and may be cached for
good; the pages also name each file's SRI hash.
"""

import base64
import functools
import hashlib
from dataclasses import dataclass
from html import escape
from importlib import resources

import swagger_ui_bundle
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, Response

from servicekit.errors import NotFound

# One header, set here beside the pages it describes (the gateway adds its
# strict default to every other answer, and none to these: two policies
# would both apply).
DOCS_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        # swagger-ui.css draws its icons as data: SVGs.
        "img-src 'self' data:",
        # The OpenAPI document, "Authorize" (the token endpoint) and "Try it out".
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
# A URL names its bytes (the digest), so they never change under it.
IMMUTABLE = "public, max-age=31536000, immutable"

_BUNDLE_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
    # Swagger UI's redirect logic, which its own page runs from this file
    # (not inline); the page around it is ours, naming the file's SRI hash.
    "oauth2-redirect.js": "text/javascript",
}
_OWN_FILES = {"docs-init.js": "text/javascript"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    digest: str  # of the bytes, in the URL
    integrity: str  # of the bytes, for the page's integrity= (SRI)


def _asset(body: bytes, media_type: str) -> Asset:
    sri = base64.b64encode(hashlib.sha384(body).digest()).decode()
    return Asset(body, media_type, hashlib.sha256(body).hexdigest()[:16], f"sha384-{sri}")


@functools.cache
def assets() -> dict[str, Asset]:
    """Every file the docs pages load, read once per process (about 1.7 MB):
    nothing else from either folder is served."""
    bundle = swagger_ui_bundle.swagger_ui_path
    own = resources.files("servicekit") / "docs_assets"
    found = {name: _asset((bundle / name).read_bytes(), kind) for name, kind in _BUNDLE_FILES.items()}
    found |= {name: _asset((own / name).read_bytes(), kind) for name, kind in _OWN_FILES.items()}
    return found


def _page(title: str, head: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n{head}</head>\n<body>\n{body}</body>\n</html>\n"
    )


def install_docs(app: FastAPI, *, prefix: str, openapi_url: str) -> None:
    """Swagger UI at `{prefix}/docs`, its OAuth2 redirect page at
    `{prefix}/docs/oauth2-redirect` and their assets under
    `{prefix}/docs/static/`; `openapi_url` is the document it shows."""
    files = assets()
    base = f"{prefix}/docs"

    def url(name: str) -> str:
        return f"{base}/static/{files[name].digest}/{name}"

    def script(name: str, **data: str) -> str:
        attributes = "".join(f' data-{key.replace("_", "-")}="{escape(value)}"' for key, value in data.items())
        return f'<script src="{url(name)}" integrity="{files[name].integrity}"{attributes}></script>\n'

    # The pages differ only per service, not per request: built once.
    docs_page = _page(
        f"{app.title} - Swagger UI",
        f'<link rel="stylesheet" href="{url("swagger-ui.css")}" integrity="{files["swagger-ui.css"].integrity}">\n'
        f'<link rel="icon" type="image/png" href="{url("favicon-32x32.png")}">\n',
        '<div id="swagger-ui"></div>\n'
        + script("swagger-ui-bundle.js")
        + script("docs-init.js", openapi_url=openapi_url, oauth2_redirect_url=f"{base}/oauth2-redirect"),
    )
    redirect_page = _page("Swagger UI: OAuth2 Redirect", "", script("oauth2-redirect.js"))
    page_headers = {"Content-Security-Policy": DOCS_CSP}

    router = APIRouter(include_in_schema=False)

    @router.get(base)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(docs_page, headers=page_headers)

    @router.get(f"{base}/oauth2-redirect")
    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return HTMLResponse(redirect_page, headers=page_headers)

    @router.get(f"{base}/static/{{digest}}/{{name}}")
    async def swagger_ui_asset(digest: str, name: str) -> Response:
        asset = files.get(name)
        if asset is None or digest != asset.digest:
            raise NotFound("No such file.")
        return Response(asset.body, media_type=asset.media_type, headers={"Cache-Control": IMMUTABLE})

    app.include_router(router)
