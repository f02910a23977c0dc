"""The dev overlay's pods as a kubelet runs them (tools/podrun, `make
test-pods`): the Job completed, every workload became Ready through its own
probes, every container runs as the manifest says, and Services resolve by
their short and cluster names. The end-to-end suite then runs through the
gateway pod (E2E_TARGET=pods)."""

from __future__ import annotations

import pytest
from podrun.kubelet import Kubelet, docker

from tests.helpers.gateway import json_lines
from tests.helpers.kube import pod_spec
from tests.helpers.platforms import service_answer, service_get

pytestmark = pytest.mark.pods


def test_the_migration_job_completed_before_the_services_started(pod_run: Kubelet) -> None:
    job = pod_run.pods["migrate"]
    state = pod_run.inspect(job.container())["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 0
    assert [e for e in json_lines(pod_run.logs(job.container())) if e.get("event") == "migrated"]
    migrated_at = state["FinishedAt"]
    for name in ("auth", "resource", "gateway"):
        assert pod_run.inspect(pod_run.pods[name].container())["State"]["StartedAt"] > migrated_at


def test_every_workload_became_ready_through_its_probes(pod_run: Kubelet) -> None:
    for name, pod in pod_run.pods.items():
        assert pod.ready_after is not None, name
        if pod.workload["kind"] != "Job":
            for container in pod.spec["containers"]:
                assert pod_run.probe(pod, container, container["readinessProbe"]), name


def test_every_container_runs_as_its_manifest_says(pod_run: Kubelet) -> None:
    for name, pod in pod_run.pods.items():
        context = pod_spec(pod.workload)["securityContext"]
        for container in pod.spec["containers"]:
            docker_name = pod.containers[container["name"]]
            config = pod_run.inspect(docker_name)["HostConfig"]
            assert config["ReadonlyRootfs"] is True, name
            assert config["CapDrop"] == ["ALL"], name
            assert "no-new-privileges" in config["SecurityOpt"], name
            assert config["Memory"] > 0, name
            if pod.workload["kind"] != "Job":
                uid, gid = docker("exec", docker_name, "sh", "-c", "id -u; id -g").split()
                assert (int(uid), int(gid)) == (context["runAsUser"], context["runAsGroup"]), name
                groups = docker("exec", docker_name, "id", "-G").split()
                assert str(context["fsGroup"]) in groups, name


def test_services_resolve_by_short_and_cluster_names(pod_run: Kubelet) -> None:
    resolver = "import socket, sys; [socket.getaddrinfo(name, None) for name in sys.argv[1:]]"
    names = []
    for service in ("auth", "resource", "postgres", "redis", "gateway"):
        names += [service, f"{service}.svc-platform.svc.cluster.local"]
    docker("exec", pod_run.pods["resource"].pause, "python", "-c", resolver, *names)


def test_secrets_are_files_only_the_pod_group_reads(pod_run: Kubelet) -> None:
    auth = pod_run.pods["auth"]
    listing = docker("exec", auth.container(), "sh", "-c", "stat -L -c '%a %g %n' /run/secrets/*").splitlines()
    fs_group = str(pod_spec(auth.workload)["securityContext"]["fsGroup"])
    files = {line.split()[2] for line in listing}
    assert files == {"/run/secrets/db_password", "/run/secrets/jwt_private_key", "/run/secrets/redis_password"}
    assert all(line.split()[:2] == ["440", fs_group] for line in listing), listing


def test_redis_runs_on_its_acl_file_as_its_pod_user(pod_run: Kubelet) -> None:
    """The ACL file (the password's digest) and the password (for the probes)
    readable by Redis's non-root user; nothing else in the pod has them."""
    redis = pod_run.pods["redis"]
    listing = docker("exec", redis.container(), "sh", "-c", "stat -L -c '%a %g %n' /run/secrets/*").splitlines()
    fs_group = str(pod_spec(redis.workload)["securityContext"]["fsGroup"])
    assert {line.split()[2] for line in listing} == {"/run/secrets/redis_acl", "/run/secrets/redis_password"}
    assert all(line.split()[:2] == ["440", fs_group] for line in listing), listing
    ping = 'REDISCLI_AUTH="$(cat /run/secrets/redis_password)" redis-cli ping'
    assert docker("exec", redis.container(), "sh", "-c", ping).strip() == "PONG"
    assert docker("exec", redis.container(), "redis-cli", "ping").startswith("NOAUTH")


def test_the_exporters_read_what_they_watch(pod_run: Kubelet) -> None:
    """The monitoring component's pods: each exporter logs in (the monitor
    role the Job made, Redis' monitor user, the gateway's stub_status on the
    pod's loopback) and says its dependency is up."""
    for pod, port, up in (
        ("gateway", 9113, "nginx_up"),
        ("postgres-exporter", 9187, "pg_up"),
        ("redis-exporter", 9121, "redis_up"),
    ):
        status, text = service_answer(
            docker("exec", pod_run.pods[pod].pause, *service_get("/metrics", f"127.0.0.1:{port}"))
        )
        assert status == 200, (pod, text[:200])
        assert f"{up} 1" in text.splitlines(), (pod, [line for line in text.splitlines() if up in line])
