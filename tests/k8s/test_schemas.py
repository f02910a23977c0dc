"""Every rendered object against the Kubernetes OpenAPI schemas of the
versions we support, strictly (no unknown fields). kubernetes-validate only
warns about kinds it has no schema for; here an unknown kind fails, except
the ones listed below, whose shape tests/k8s/test_invariants.py checks."""

from __future__ import annotations

import kubernetes_validate
import pytest

from tests.helpers.kube import Render

KUBERNETES_VERSIONS = ("1.35.0", "1.37.0")
# Custom resources: no schema in kubernetes-validate.
WITHOUT_SCHEMA = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_is_valid_kubernetes(rendered: Render, version: str) -> None:
    validated, failures = 0, []
    for obj in rendered.objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            kubernetes_validate.validate(obj, version, strict=True)
            validated += 1
        except kubernetes_validate.SchemaNotFoundError:
            if (obj["apiVersion"], obj["kind"]) not in WITHOUT_SCHEMA:
                failures.append(f"{where}: no schema for {obj['apiVersion']} {obj['kind']}")
        except kubernetes_validate.ValidationError as exc:
            failures.append(f"{where}: {exc.message} at {'/'.join(map(str, exc.path))}")
    print(f"{rendered.name} on {version}: {validated} objects valid")
    assert not failures, "\n".join(failures)
    assert validated >= 20


def test_the_kinds_without_a_schema_are_only_the_listed_ones(renders: dict[str, Render]) -> None:
    kinds = {(obj["apiVersion"], obj["kind"]) for render in renders.values() for obj in render.objects}
    assert WITHOUT_SCHEMA <= kinds  # the list is not stale
