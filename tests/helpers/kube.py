"""The Kubernetes manifests as data: every overlay x component combination
rendered with kustomize (kubectl's built-in one), and small accessors the
checks share."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT

K8S = ROOT / "k8s"
OVERLAYS = ("dev", "prod")
COMPONENTS = ("monitoring", "network-policies")
# Components an overlay always includes itself.
BUILT_IN = {"dev": {"network-policies"}, "prod": {"network-policies"}}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "CronJob")
# Kinds whose pods run to completion: no probes, a restart policy that ends.
BATCH_KINDS = ("Job", "CronJob")

Manifest = dict[str, Any]


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail(
            "kubectl is not installed: the manifests are rendered with its built-in kustomize "
            "(https://kubernetes.io/docs/tasks/tools/; Debian: apt-get install kubernetes-client)"
        )
    return found


@dataclass(frozen=True)
class Render:
    overlay: str
    components: tuple[str, ...]
    objects: list[Manifest]
    text: str

    @property
    def name(self) -> str:
        return "+".join((self.overlay, *self.components))

    def __str__(self) -> str:
        return self.name

    def of_kind(self, *kinds: str) -> list[Manifest]:
        return [obj for obj in self.objects if obj["kind"] in kinds]

    def get(self, kind: str, name: str) -> Manifest:
        (found,) = [obj for obj in self.objects if obj["kind"] == kind and obj["metadata"]["name"] == name]
        return found

    def workloads(self) -> list[Manifest]:
        return self.of_kind(*WORKLOAD_KINDS)

    def config_map(self, prefix: str) -> dict[str, str]:
        """A generated ConfigMap's data, by the name before kustomize's hash."""
        (found,) = [obj for obj in self.of_kind("ConfigMap") if obj["metadata"]["name"].rsplit("-", 1)[0] == prefix]
        return found.get("data", {})


def combinations() -> Iterator[tuple[str, tuple[str, ...]]]:
    for overlay in OVERLAYS:
        optional = [name for name in COMPONENTS if name not in BUILT_IN[overlay]]
        for size in range(len(optional) + 1):
            for extra in itertools.combinations(optional, size):
                yield overlay, extra


def render(overlay: str, components: tuple[str, ...], workdir: Path) -> Render:
    """`kubectl kustomize` of the overlay with these components added, through
    a throwaway kustomization that names them by relative path (kustomize
    refuses absolute ones) and puts what they add in the overlays' namespace,
    as listing them in an overlay's own `components:` does."""
    folder = workdir / "+".join((overlay, *components))
    folder.mkdir(parents=True, exist_ok=True)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "svc-platform",
        "resources": [os.path.relpath(K8S / "overlays" / overlay, folder)],
        "components": [os.path.relpath(K8S / "components" / name, folder) for name in components],
    }
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    result = subprocess.run([kubectl(), "kustomize", str(folder)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"kustomize {folder.name}: {result.stderr}"
    objects = [obj for obj in yaml.safe_load_all(result.stdout) if obj]
    (folder / "rendered.yaml").write_text(result.stdout)
    return Render(overlay, components, objects, result.stdout)


def pod_template(workload: Manifest) -> Manifest:
    """A workload's pod template; a CronJob's is inside its Job template."""
    spec = workload["spec"]["jobTemplate"]["spec"] if workload["kind"] == "CronJob" else workload["spec"]
    template: Manifest = spec["template"]
    return template


def job_spec(workload: Manifest) -> Manifest:
    """The Job spec of a Job or a CronJob."""
    spec: Manifest = workload["spec"]["jobTemplate"]["spec"] if workload["kind"] == "CronJob" else workload["spec"]
    return spec


def pod_spec(workload: Manifest) -> Manifest:
    spec: Manifest = pod_template(workload)["spec"]
    return spec


def containers(workload: Manifest) -> list[Manifest]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def main_container(workload: Manifest) -> Manifest:
    """The container named after its workload (a sidecar beside it has a name of its own)."""
    (container,) = [c for c in pod_spec(workload)["containers"] if c["name"] == workload["metadata"]["name"]]
    return container


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())
