"""The fault suite attaches to the compose stack `make up` started."""

import httpx
import pytest

from tests.helpers.platforms import ComposePlatform


@pytest.fixture(scope="module")
def compose() -> ComposePlatform:
    return ComposePlatform()


@pytest.fixture(scope="module")
def gateway(compose: ComposePlatform) -> str:
    url = compose.gateway_url
    try:
        httpx.get(f"{url}/healthz", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        pytest.fail(f"no compose gateway answers at {url} ({exc}): make up first")
    return url
