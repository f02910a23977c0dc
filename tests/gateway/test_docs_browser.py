"""Swagger UI in a real browser, through the gateway: headless Chromium
(the system's, driven by Playwright) authorizes with the OAuth2 password
flow and runs an operation on each service's docs page - offline (every
request off the loopback is refused) and without a single Content-Security-
Policy violation, so the pages work with their assets served by the
services and under a policy that allows no inline script.

Chromium comes from the host (tools/install-host-deps.sh installs Debian's
`chromium`; CHROMIUM names another binary): `playwright install` downloads
its own builds, which this project never does."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    Response,
    Route,
)

from tests.helpers.gateway import PASSWORD, send, unique_email
from tests.helpers.platforms import Platform

# `chromium` first: a missing browser fails before the stack is started for it.
pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("chromium")]

LOOPBACK = frozenset({"127.0.0.1", "::1"})
# Generous for a shared machine; a docs page is ready in well under a second.
TIMEOUT_MS = 10_000

# Runs before any page script and is exempt from the page's policy (the
# browser injects it): every violation is reported, whatever the console says.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


@dataclass
class Observed:
    """What a browser context did that the test must account for."""

    console: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # by the test: not on the loopback
    failed: list[str] = field(default_factory=list)  # by the browser (its CSP): not on the loopback
    errors: list[str] = field(default_factory=list)  # local answers >= 400

    def problems(self) -> list[str]:
        csp = [line for line in self.console if "Content Security Policy" in line or "CSP violation" in line]
        errors = [line for line in self.console if line.startswith("error:")]
        return [
            *(f"CSP: {line}" for line in csp),
            *(f"console {line}" for line in errors if line not in csp),
            *(f"blocked (not loopback): {url}" for url in self.blocked),
            *(f"failed: {line}" for line in self.failed),
            *(f"HTTP error: {line}" for line in self.errors),
        ]


def watched_context(browser: Browser) -> tuple[BrowserContext, Observed]:
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    seen = Observed()

    def offline(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            seen.blocked.append(route.request.url)
            route.abort("internetdisconnected")

    def console(message: ConsoleMessage) -> None:
        seen.console.append(f"{message.type}: {message.text}")

    def failed(request: Request) -> None:
        # (a local request the page cancels, as a reload does, is no failure)
        if urlsplit(request.url).hostname not in LOOPBACK and request.url not in seen.blocked:
            seen.failed.append(f"{request.method} {request.url}: {request.failure}")

    def answered(response: Response) -> None:
        if response.status >= 400:
            seen.errors.append(f"{response.request.method} {response.url}: {response.status}")

    context.route("**/*", offline)
    context.add_init_script(REPORT_VIOLATIONS)
    context.on("console", console)
    context.on("requestfailed", failed)
    context.on("response", answered)
    return context, seen


def authorize(page: Page, email: str) -> None:
    """Swagger UI's "Authorize": the OAuth2 password flow, posting to the
    token URL the OpenAPI document names (/auth/token)."""
    page.click(".auth-wrapper .authorize")
    dialog = page.locator(".modal-ux")
    dialog.locator("#oauth_username").fill(email)
    dialog.locator("#oauth_password").fill(PASSWORD)
    dialog.locator(".auth-btn-wrapper .authorize").click()
    dialog.locator("button", has_text="Logout").wait_for()  # only shown once a token came back
    dialog.locator("button.btn-done").click()


def execute(page: Page, method: str, path: str, body: dict[str, object] | None = None) -> Locator:
    """Try it out + Execute on one operation; the status Swagger UI shows."""
    operation = page.locator(f".opblock-{method}").filter(has=page.locator(".opblock-summary-path", has_text=path))
    operation.locator(".opblock-summary").first.click()
    operation.locator(".try-out__btn").click()
    if body is not None:
        operation.locator(".body-param__text").fill(json.dumps(body))
    operation.locator(".execute").click()
    return operation.locator(".live-responses-table tr.response .response-col_status")


def open_docs(context: BrowserContext, url: str) -> Page:
    page = context.new_page()
    page.goto(url)
    page.locator(".opblock").first.wait_for()  # the OpenAPI document loaded and rendered
    return page


@pytest.mark.parametrize(
    ("prefix", "method", "path", "body", "status"),
    [
        ("/auth", "get", "/users/me", None, "200"),
        ("/resource", "post", "/items/", {"title": "From the docs", "price": "3.20"}, "201"),
    ],
)
def test_swagger_ui_authorizes_and_executes_offline_without_csp_violations(
    browser: Browser,
    platform: Platform,
    gw: httpx.Client,
    tmp_path: Path,
    prefix: str,
    method: str,
    path: str,
    body: dict[str, object] | None,
    status: str,
):
    email = unique_email()
    created = send(gw, "POST", "/auth/register", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    context, seen = watched_context(browser)
    try:
        page = open_docs(context, f"{platform.gateway_url}{prefix}/docs")
        authorize(page, email)
        shown = execute(page, method, path, body)
        assert shown.inner_text().strip() == status
        shown.scroll_into_view_if_needed()
        screenshot = tmp_path / f"swagger-ui{prefix.replace('/', '-')}.png"
        page.screenshot(path=screenshot)
        print(f"screenshot: {screenshot}")
        # persistAuthorization: a reload keeps the token (the lock stays shut)
        page.reload()
        page.locator(".auth-wrapper .authorize.locked").wait_for()
        assert seen.problems() == []
    finally:
        context.close()


def test_the_oauth2_redirect_page_hands_the_token_back_under_the_policy(browser: Browser, platform: Platform):
    # Swagger UI opens it for the implicit and code flows (this API's is the
    # password flow): it must run without an inline script too.
    context, seen = watched_context(browser)
    try:
        page = open_docs(context, f"{platform.gateway_url}/auth/docs")
        redirect_url = f"{platform.gateway_url}/auth/docs/oauth2-redirect"
        handed_back = page.evaluate(
            """(url) => new Promise((resolve) => {
                window.swaggerUIRedirectOauth2 = {
                    state: "s1",
                    redirectUrl: url,
                    auth: {name: "OAuth2PasswordBearer", schema: {get: () => "implicit"}},
                    callback: ({token, isValid}) => resolve({token, isValid}),
                    errCb: ({message}) => resolve({error: message}),
                };
                window.open(url + "#access_token=t0k%20en&token_type=bearer&state=s1");
            })""",
            redirect_url,
        )
        assert handed_back == {
            "token": {"access_token": "t0k en", "token_type": "bearer", "state": "s1"},
            "isValid": True,
        }
        assert seen.problems() == []
    finally:
        context.close()
