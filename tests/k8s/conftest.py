"""Every overlay x component combination, rendered once per session."""

from __future__ import annotations

import pytest

from tests.helpers.kube import Render, combinations, render

COMBINATIONS = list(combinations())


@pytest.fixture(scope="session")
def renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Render]:
    workdir = tmp_path_factory.mktemp("kustomize")
    rendered = [render(overlay, components, workdir) for overlay, components in COMBINATIONS]
    return {r.name: r for r in rendered}


@pytest.fixture(params=["+".join((overlay, *components)) for overlay, components in COMBINATIONS])
def rendered(request: pytest.FixtureRequest, renders: dict[str, Render]) -> Render:
    return renders[request.param]


@pytest.fixture
def dev(renders: dict[str, Render]) -> Render:
    return renders["dev"]


@pytest.fixture
def prod(renders: dict[str, Render]) -> Render:
    return renders["prod"]
