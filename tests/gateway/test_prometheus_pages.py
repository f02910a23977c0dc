"""Prometheus' own pages on the compose stack, in headless Chromium: the
targets page shows every target up (both services' replicas, the gateway,
PostgreSQL, Redis, Prometheus itself) and the alerts page every rule group;
the screenshots the README shows are these pages, taken here
(docs/images/prometheus-*.png). Prometheus 2.42 serves its classic pages
under /classic/ (the newer UI from 2.44 on: /targets, /alerts)."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.helpers import ROOT
from tests.helpers.platforms import ComposePlatform, Platform
from tests.helpers.prometheus import COMPOSE_JOBS, compose_targets, targets_up

pytestmark = pytest.mark.compose

IMAGES = ROOT / "docs" / "images"
GROUPS = ("services.alerts", "dependencies.alerts")


@pytest.fixture(scope="module")
def prometheus(platform: Platform) -> str:
    if not isinstance(platform, ComposePlatform):
        pytest.fail("the Prometheus pages need E2E_TARGET=compose and a stack from `make up` (run: make e2e)")
    url = platform.prometheus_url
    # the page as it settles: every replica and exporter scraped and up
    expected = compose_targets(platform)
    assert targets_up(url, expected) == expected
    classic = httpx.get(f"{url}/classic/targets", timeout=10).status_code == 200
    return f"{url}/classic" if classic else url


def page_text(browser: Browser, url: str) -> tuple[Page, str]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(url, wait_until="networkidle")
    return page, page.inner_text("body")


def test_the_targets_page_shows_every_target_up(browser: Browser, prometheus: str) -> None:
    page, text = page_text(browser, f"{prometheus}/targets")
    for job in COMPOSE_JOBS:
        assert re.search(rf"^{job} \((\d+)/\1 up\)", text, re.MULTILINE), job  # "auth (2/2 up)"
    assert "DOWN" not in text  # a target's state
    page.screenshot(path=str(IMAGES / "prometheus-targets.png"), full_page=True)


def test_the_alerts_page_lists_every_rule_group_and_nothing_firing(browser: Browser, prometheus: str) -> None:
    page, text = page_text(browser, f"{prometheus}/alerts")
    for group in GROUPS:
        assert group in text, group
    assert "ServiceTargetDown" in text and "PostgresDown" in text
    assert "firing (" not in text.lower().replace("firing (0)", "")
    page.screenshot(path=str(IMAGES / "prometheus-alerts.png"), full_page=True)
