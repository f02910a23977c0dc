"""Run the pods of rendered manifests on Docker the way a kubelet would.

For each workload (one replica), a pod: a pause container that owns the
network namespace and carries the names of the Services that select the pod
(`<svc>` and `<svc>.<namespace>.svc.cluster.local`, on one Docker network),
and the pod's containers joined to it, each with the manifest's image,
command and args, environment (`env`, `envFrom`, `configMapKeyRef`,
`secretKeyRef` resolved from the rendered objects), volumes (ConfigMaps and
Secrets as files at their paths and modes, group-owned by `fsGroup`;
emptyDirs as tmpfs; a claim as a Docker volume group-owned by `fsGroup`),
user, group and `fsGroup`, read-only root, dropped capabilities,
no-new-privileges and memory and CPU limits. A Job's pod runs to completion;
a workload is Ready when its startup and readiness probes pass within their
budgets (`periodSeconds` x `failureThreshold`). httpGet and tcpSocket probes
run from the pause container (the pod's own network namespace, as the kubelet
reaches a pod's IP), exec probes inside the container. A container that exits
while its pod starts is started again (restartPolicy Always), up to
MAX_RESTARTS times within its probe's budget.

What it cannot show, a real cluster's: scheduling, NetworkPolicy enforcement
(Docker's bridge enforces none), autoscaling, rolling updates, restarts.
Nothing here talks to a container's address: ports are published on
127.0.0.1 and everything else goes through `docker exec`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Manifest = dict[str, Any]
# Any image with Python runs the pause process and the httpGet and tcpSocket
# probes: `python -c <probe> <url or port> <timeout>`.
PAUSE_IMAGE = "python:3.11-slim"
PAUSE_COMMAND = ["python", "-c", "import signal; signal.pause()"]
_HTTP_PROBE = (
    "import sys, urllib.request\n"
    "try:\n"
    "    urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2]))\n"
    "except Exception as exc:\n"
    "    sys.exit(str(exc))\n"
)
_TCP_PROBE = (
    "import socket, sys\n"
    "try:\n"
    "    socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=float(sys.argv[2])).close()\n"
    "except OSError as exc:\n"
    "    sys.exit(str(exc))\n"
)
# Restarts of an exited container while its pod starts, as the kubelet's
# restartPolicy Always does (with its back-off, here the probe's period).
MAX_RESTARTS = 5
_QUANTITY = re.compile(r"([0-9.]+)(m|Ki|Mi|Gi|k|M|G)?")
_BYTES = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


class PodFailed(RuntimeError):
    """A pod did not become Ready, or a Job's pod did not succeed; the
    message carries its logs."""


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])}...: {result.stderr.strip()}")
    return result.stdout


@dataclass
class Pod:
    name: str
    workload: Manifest
    pause: str
    containers: dict[str, str] = field(default_factory=dict)  # container name in the manifest -> docker name
    ready_after: float | None = None
    restarts: dict[str, int] = field(default_factory=dict)  # container name -> restarts while starting

    @property
    def spec(self) -> Manifest:
        spec: Manifest = self.workload["spec"]["template"]["spec"]
        return spec

    def container(self, name: str | None = None) -> str:
        """The named container, by default the one named after the pod (a
        sidecar beside it, which kustomize may list first, has its own name)."""
        default = self.name if self.name in self.containers else next(iter(self.containers))
        return self.containers[name or default]


class Kubelet:
    """Pods of `objects` on Docker, under `run_id` (every container, volume
    and network carries it, and `down()` removes them all)."""

    def __init__(
        self,
        objects: Iterable[Manifest],
        *,
        run_id: str,
        workdir: Path,
        publish: Mapping[str, int] | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.objects = list(objects)
        self.run_id = run_id
        self.workdir = workdir
        self.publish = dict(publish or {})  # Service name -> port on 127.0.0.1
        self.extra_env = dict(extra_env or {})  # added to containers that take app-config
        self.network = f"podrun-{run_id}"
        self.pods: dict[str, Pod] = {}
        self._volumes: list[str] = []

    # --- the rendered objects ------------------------------------------------------------
    def _named(self, kind: str, name: str) -> Manifest:
        """A ConfigMap or Secret by the name the workload uses (kustomize has
        already added the hash suffix to both)."""
        (found,) = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        return found

    def _data(self, kind: str, name: str) -> dict[str, bytes]:
        obj = self._named(kind, name)
        if kind == "Secret":
            return {key: base64.b64decode(value) for key, value in obj.get("data", {}).items()}
        return {key: value.encode() for key, value in obj.get("data", {}).items()}

    def workload(self, name: str) -> Manifest:
        (found,) = [
            o
            for o in self.objects
            if o["kind"] in ("Deployment", "StatefulSet", "Job") and o["metadata"]["name"] == name
        ]
        return found

    def _services_of(self, labels: Mapping[str, str]) -> list[Manifest]:
        return [
            s
            for s in self.objects
            if s["kind"] == "Service" and all(labels.get(k) == v for k, v in s["spec"]["selector"].items())
        ]

    # --- lifecycle ------------------------------------------------------------------------
    def up(self, phases: Iterable[Iterable[str]]) -> None:
        """Start the workloads phase by phase (a Job runs to completion before
        the next phase; the other workloads are Ready before it)."""
        docker("network", "create", "--label", f"podrun={self.run_id}", self.network)
        for phase in phases:
            names = list(phase)
            for name in names:
                self.start_pod(self.workload(name))
            for name in names:
                pod = self.pods[name]
                if pod.workload["kind"] == "Job":
                    self.wait_job(pod)
                else:
                    self.wait_ready(pod)

    def down(self) -> None:
        ids = docker("ps", "-aq", "--filter", f"label=podrun={self.run_id}", check=False).split()
        if ids:
            docker("rm", "-f", "-v", *ids, check=False)
        for volume in self._volumes:
            docker("volume", "rm", "-f", volume, check=False)
        docker("network", "rm", self.network, check=False)

    # --- one pod ---------------------------------------------------------------------------
    def start_pod(self, workload: Manifest) -> Pod:
        name = workload["metadata"]["name"]
        namespace = workload["metadata"].get("namespace", "default")
        spec = workload["spec"]["template"]["spec"]
        labels = workload["spec"]["template"]["metadata"]["labels"]
        pause = f"{self.run_id}-{name}-pause"
        aliases = [name]
        for service in self._services_of(labels):
            service_name = service["metadata"]["name"]
            aliases += [service_name, f"{service_name}.{namespace}", f"{service_name}.{namespace}.svc.cluster.local"]
        publish = []
        for service in self._services_of(labels):
            if service["metadata"]["name"] in self.publish:
                (port,) = service["spec"]["ports"]
                publish += ["-p", f"127.0.0.1:{self.publish[service['metadata']['name']]}:{port['port']}"]
        network_args = [arg for alias in dict.fromkeys(aliases) for arg in ("--network-alias", alias)]
        docker(
            "run", "-d", "--name", pause, "--label", f"podrun={self.run_id}", "--hostname", name,
            "--network", self.network, *network_args, *publish,
            "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--user", "65534:65534",
            "--entrypoint", PAUSE_COMMAND[0], PAUSE_IMAGE, *PAUSE_COMMAND[1:],
        )  # fmt: skip
        pod = Pod(name, workload, pause)
        self.pods[name] = pod
        volumes = self._prepare_volumes(pod)
        for container in spec["containers"]:
            pod.containers[container["name"]] = self._run_container(pod, container, volumes)
        return pod

    @staticmethod
    def _context(pod: Pod, container: Manifest) -> Manifest:
        """The container's security context over the pod's, as the kubelet merges them."""
        return {**pod.spec.get("securityContext", {}), **container.get("securityContext", {})}

    def _security(self, pod: Pod, container: Manifest) -> list[str]:
        context = self._context(pod, container)
        args = []
        if "runAsUser" in context:
            args += ["--user", f"{context['runAsUser']}:{context.get('runAsGroup', context['runAsUser'])}"]
        if "fsGroup" in context:
            args += ["--group-add", str(context["fsGroup"])]
        if context.get("readOnlyRootFilesystem"):
            args.append("--read-only")
        for capability in context.get("capabilities", {}).get("drop", []):
            args += ["--cap-drop", capability]
        if context.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        limits = container.get("resources", {}).get("limits", {})
        if "memory" in limits:
            args += ["--memory", str(_bytes(limits["memory"]))]
        if "cpu" in limits:
            args += ["--cpus", str(_cores(limits["cpu"]))]
        return args

    def _env(self, container: Manifest) -> list[str]:
        env: dict[str, str] = {}
        takes_config = False
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                takes_config = True
                env.update({k: v.decode() for k, v in self._data("ConfigMap", source["configMapRef"]["name"]).items()})
            if "secretRef" in source:
                env.update({k: v.decode() for k, v in self._data("Secret", source["secretRef"]["name"]).items()})
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = item["value"]
                continue
            ref = item["valueFrom"]
            kind, key = ("ConfigMap", "configMapKeyRef") if "configMapKeyRef" in ref else ("Secret", "secretKeyRef")
            env[item["name"]] = self._data(kind, ref[key]["name"])[ref[key]["key"]].decode()
        if takes_config:
            env.update(self.extra_env)
        return [arg for name, value in env.items() for arg in ("--env", f"{name}={value}")]

    def _prepare_volumes(self, pod: Pod) -> dict[str, tuple[str, Any]]:
        """Each pod volume: ("dir", host path) for files, ("tmpfs", size) for an
        emptyDir, ("volume", docker volume) for a claim."""
        context = pod.spec.get("securityContext", {})
        group = context.get("fsGroup")
        prepared: dict[str, tuple[str, Any]] = {}
        for volume in pod.spec.get("volumes", []):
            name = volume["name"]
            folder = self.workdir / pod.name / name
            if "emptyDir" in volume:
                prepared[name] = ("tmpfs", volume["emptyDir"].get("sizeLimit", "64Mi"))
            elif "configMap" in volume:
                data = self._data("ConfigMap", volume["configMap"]["name"])
                self._write(folder, data, volume["configMap"].get("defaultMode", 0o644), group)
                prepared[name] = ("dir", folder)
            elif "secret" in volume:
                data = self._data("Secret", volume["secret"]["secretName"])
                self._write(folder, data, volume["secret"].get("defaultMode", 0o644), group)
                prepared[name] = ("dir", folder)
            elif "projected" in volume:
                files: dict[str, bytes] = {}
                for source in volume["projected"]["sources"]:
                    kind, ref = (
                        ("Secret", source["secret"]) if "secret" in source else ("ConfigMap", source["configMap"])
                    )
                    data = self._data(kind, ref["name"])
                    for item in ref.get("items", [{"key": k, "path": k} for k in data]):
                        files[item["path"]] = data[item["key"]]
                self._write(folder, files, volume["projected"].get("defaultMode", 0o644), group)
                prepared[name] = ("dir", folder)
            else:
                # What the dev overlay never uses (hostPath, CSI, ...): refused
                # loudly rather than run as something it is not.
                raise PodFailed(
                    f"{pod.name}: volume {name} is of a kind the pod-run does not emulate: {sorted(volume)}"
                )
        for claim in pod.workload["spec"].get("volumeClaimTemplates", []):
            docker_volume = f"podrun-{self.run_id}-{claim['metadata']['name']}-{pod.name}"
            docker("volume", "create", "--label", f"podrun={self.run_id}", docker_volume)
            self._volumes.append(docker_volume)
            if group is not None:  # what the kubelet does for fsGroup: group-own, setgid
                docker(
                    "run", "--rm", "--label", f"podrun={self.run_id}", "-v", f"{docker_volume}:/volume",
                    "--entrypoint", "sh", PAUSE_IMAGE, "-c", f"chgrp {group} /volume && chmod 2775 /volume",
                )  # fmt: skip
            prepared[claim["metadata"]["name"]] = ("volume", docker_volume)
        return prepared

    @staticmethod
    def _write(folder: Path, files: Mapping[str, bytes], mode: int, group: int | None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for relative, content in files.items():
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            if group is not None and os.geteuid() == 0:
                os.chown(path, 0, group)
                path.chmod(mode)
            else:  # not root: the container's user must still read it
                path.chmod(mode | 0o444)

    def _mounts(self, container: Manifest, volumes: Mapping[str, tuple[str, Any]], pod: Pod) -> list[str]:
        context = self._context(pod, container)
        args: list[str] = []
        for mount in container.get("volumeMounts", []):
            kind, source = volumes[mount["name"]]
            target, readonly = mount["mountPath"], ",readonly" if mount.get("readOnly") else ""
            if kind == "tmpfs":
                # An emptyDir is writable by the pod's user (0777, group fsGroup).
                # Docker copies the mode of an image folder it mounts over, so
                # the tmpfs is owned by that user instead: the same effect.
                owner = "".join(
                    f",{option}={context[key]}"
                    for option, key in (("uid", "runAsUser"), ("gid", "fsGroup"))
                    if key in context
                )
                args += ["--tmpfs", f"{target}:size={_bytes(source)}{owner}"]
            elif kind == "dir":
                path = source / mount["subPath"] if "subPath" in mount else source
                args += ["--mount", f"type=bind,source={path},target={target}{readonly}"]
            else:
                args += ["--mount", f"type=volume,source={source},target={target}{readonly}"]
        return args

    def _run_container(self, pod: Pod, container: Manifest, volumes: Mapping[str, tuple[str, Any]]) -> str:
        name = f"{self.run_id}-{pod.name}-{container['name']}"
        command, args = container.get("command"), container.get("args")
        entrypoint = ["--entrypoint", command[0]] if command else []
        argv = [*(command[1:] if command else []), *(args or [])]
        docker(
            "run", "-d", "--name", name, "--label", f"podrun={self.run_id}", "--network", f"container:{pod.pause}",
            *self._security(pod, container), *self._env(container), *self._mounts(container, volumes, pod),
            *entrypoint, container["image"], *argv,
        )  # fmt: skip
        return name

    # --- probes and Jobs ------------------------------------------------------------------------
    def probe(self, pod: Pod, container: Manifest, probe: Manifest) -> bool:
        timeout = probe.get("timeoutSeconds", 1)
        if "exec" in probe:
            argv = ["exec", pod.containers[container["name"]], *probe["exec"]["command"]]
        else:  # from the pod's own network namespace, as the kubelet reaches the pod's IP
            if "httpGet" in probe:
                script = _HTTP_PROBE
                target = f"http://127.0.0.1:{_port(container, probe['httpGet'])}{probe['httpGet']['path']}"
            else:
                script, target = _TCP_PROBE, str(_port(container, probe["tcpSocket"]))
            argv = ["exec", pod.pause, "python", "-c", script, target, str(timeout)]
        result = subprocess.run(["docker", *argv], capture_output=True, text=True, timeout=timeout + 10, check=False)
        return result.returncode == 0

    def running(self, container: str) -> bool:
        state = docker("inspect", "-f", "{{.State.Running}}", container, check=False).strip()
        return state == "true"

    def wait_ready(self, pod: Pod) -> float:
        """Startup probe within its budget, then the readiness probe within
        its own; the seconds it took."""
        started = time.monotonic()
        for container in pod.spec["containers"]:
            for kind, default in (("startupProbe", None), ("readinessProbe", None)):
                probe = container.get(kind, default)
                if probe is None:
                    continue
                budget = probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3) + probe.get(
                    "initialDelaySeconds", 0
                )
                deadline = time.monotonic() + budget
                name = container["name"]
                while not self.probe(pod, container, probe):
                    docker_name = pod.containers[name]
                    running = self.running(docker_name)
                    restarts = pod.restarts.get(name, 0)
                    if time.monotonic() > deadline or (not running and restarts >= MAX_RESTARTS):
                        raise PodFailed(
                            f"{pod.name}: {kind} did not pass within {budget}s after {restarts} restarts of "
                            f"{name}\n{self.logs(docker_name, tail=60)}"
                        )
                    if not running:
                        # restartPolicy Always: the kubelet starts an exited
                        # container again (a sidecar that quit before its
                        # neighbour listened, say), within the probe's budget
                        docker("start", docker_name)
                        pod.restarts[name] = restarts + 1
                    time.sleep(min(1.0, probe.get("periodSeconds", 10)))
        pod.ready_after = time.monotonic() - started
        return pod.ready_after

    def wait_job(self, pod: Pod) -> None:
        """The Job's pod runs to completion within activeDeadlineSeconds."""
        deadline = pod.workload["spec"].get("activeDeadlineSeconds", 600)
        container = pod.container()
        started = time.monotonic()
        code = docker("wait", container, timeout=deadline).strip()
        pod.ready_after = time.monotonic() - started
        if code != "0":
            raise PodFailed(f"Job {pod.name} exited with {code}\n{self.logs(container, tail=80)}")

    # --- what tests use ------------------------------------------------------------------------
    def logs(self, container: str, tail: int | None = None) -> str:
        args = ["logs", *(["--tail", str(tail)] if tail else []), container]
        result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, check=False)
        return result.stdout + result.stderr

    def inspect(self, container: str) -> Manifest:
        (details,) = json.loads(docker("inspect", container))
        result: Manifest = details
        return result

    def stop(self, name: str) -> None:
        for container in self.pods[name].containers.values():
            docker("stop", "-t", str(self.pods[name].spec.get("terminationGracePeriodSeconds", 30)), container)

    def start(self, name: str) -> None:
        pod = self.pods[name]
        for container in pod.containers.values():
            docker("start", container)
        self.wait_ready(pod)

    def remove_workdir(self) -> None:
        with contextlib.suppress(OSError):
            shutil.rmtree(self.workdir)


def _port(container: Manifest, action: Manifest) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    port = action["port"]
    if isinstance(port, str):
        (port,) = [p["containerPort"] for p in container.get("ports", []) if p["name"] == port]
    return int(port)


def _bytes(quantity: str | int) -> int:
    match = _QUANTITY.fullmatch(str(quantity))
    if not match:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return int(float(match.group(1)) * _BYTES[match.group(2) or ""])


def _cores(quantity: str | int) -> float:
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)
