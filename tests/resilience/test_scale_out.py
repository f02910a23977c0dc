"""Scale out and restart without loss, on the compose stack `make up` started
(two replicas of each service): the gateway spreads requests over every
replica, a replica added with `--scale` takes traffic once it is ready,
`make restart SERVICE=...` replaces each service's replicas, and scales
them up and down, under a steady load of reads and writes without failing a
request, and a gunicorn worker killed
under load is replaced, losing no acknowledged write. Every figure is
printed; the stack is left as it was found (two replicas of each)."""

import time
import uuid
from collections import Counter

import httpx
import pytest
from podrun.kubelet import docker

from tests.helpers.platforms import ComposePlatform
from tests.resilience.load import Load
from tests.resilience.stack import make

pytestmark = pytest.mark.resilience

HEALTH = {"auth": "/auth/health", "resource": "/resource/health"}


def upstreams_used(compose: ComposePlatform, gateway: str, service: str, requests: int = 30) -> Counter[str]:
    """Which replicas answered `requests` health checks through the gateway:
    the `upstream` of each one's access-log line, found by its request id
    (read from the log, never connected to)."""
    marker = f"spread-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=gateway, timeout=10) as client:
        for n in range(requests):
            answer = client.get(HEALTH[service], headers={"X-Request-ID": f"{marker}-{n}"})
            assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in compose.logs("gateway") if str(line.get("request_id", "")).startswith(marker)]
        if len(lines) == requests or time.monotonic() > deadline:
            return Counter(line["upstream"] for line in lines)
        time.sleep(0.2)


def gateway_servers(compose: ComposePlatform, service: str) -> int:
    """How many server lines the gateway's upstream for `service` has now."""
    conf = compose.exec("gateway", "cat", "/etc/nginx/conf.d/gateway.conf")
    return sum(1 for line in conf.splitlines() if line.strip().startswith("server ") and f"# {service}:" in line)


def scale(compose: ComposePlatform, service: str, replicas: int) -> None:
    compose.run("up", "-d", "--no-recreate", "--scale", f"{service}={replicas}", service, timeout=300)


@pytest.mark.parametrize("service", ["auth", "resource"])
def test_the_gateway_spreads_requests_over_every_replica(compose: ComposePlatform, gateway: str, service: str):
    replicas = len(compose.containers(service))
    assert replicas >= 2  # make up runs two of each
    used = upstreams_used(compose, gateway, service)
    print(f"{service}: {dict(used)} over {replicas} replicas")
    assert len(used) == replicas
    assert min(used.values()) >= 5  # round robin, not one replica and a straggler


def test_a_replica_added_under_load_takes_traffic_once_ready_and_nothing_fails(compose: ComposePlatform, gateway: str):
    before = len(compose.containers("resource"))
    with Load(gateway) as load:
        time.sleep(2)
        started = time.monotonic()
        scale(compose, "resource", before + 1)
        deadline = time.monotonic() + 90
        while gateway_servers(compose, "resource") < before + 1:
            assert time.monotonic() < deadline, "the gateway never took the new replica in"
            time.sleep(0.2)
        joined = time.monotonic() - started
        time.sleep(2)
    print(load.summary(f"scale resource {before} -> {before + 1} (in the gateway {joined:.1f} s after `up`)"))
    try:
        assert load.failures() == []
        assert len(upstreams_used(compose, gateway, "resource")) == before + 1
        assert load.lost_writes() == []
        load.assert_resent_never_reached(compose.logs("gateway"))
    finally:
        scale(compose, "resource", before)
    deadline = time.monotonic() + 30
    while gateway_servers(compose, "resource") != before:
        assert time.monotonic() < deadline, "the gateway kept a replica that was removed"
        time.sleep(0.2)


@pytest.mark.parametrize("service", ["resource", "auth"])
def test_make_restart_under_load_fails_no_request(compose: ComposePlatform, gateway: str, service: str):
    before = compose.containers(service)
    with Load(gateway, logins=service == "auth") as load:
        time.sleep(2)
        started = time.monotonic()
        restarted = make("restart", f"SERVICE={service}")
        restart_seconds = time.monotonic() - started
        time.sleep(2)
    print(restarted.stdout.strip())
    print(load.summary(f"make restart SERVICE={service} ({restart_seconds:.1f} s)"))
    after = compose.containers(service)
    assert len(after) == len(before) and not set(after) & set(before)  # every replica replaced
    assert load.failures() == []
    assert load.lost_writes() == []
    load.assert_resent_never_reached(compose.logs("gateway"))
    assert len(upstreams_used(compose, gateway, service)) == len(after)


def test_make_restart_scales_up_and_down_under_load_without_failing_a_request(compose: ComposePlatform, gateway: str):
    before = len(compose.containers("resource"))
    with Load(gateway) as load:
        time.sleep(2)
        make("restart", "SERVICE=resource", f"REPLICAS={before + 1}")
        scaled = len(compose.containers("resource"))
        used = len(upstreams_used(compose, gateway, "resource"))
        make("restart", "SERVICE=resource", f"REPLICAS={before}")
        time.sleep(2)
    print(load.summary(f"make restart REPLICAS={before + 1}, then REPLICAS={before}"))
    assert scaled == used == before + 1
    assert len(compose.containers("resource")) == before
    assert gateway_servers(compose, "resource") == before
    assert load.failures() == []
    assert load.lost_writes() == []
    load.assert_resent_never_reached(compose.logs("gateway"))


def worker_pids(container: str) -> list[int]:
    """gunicorn's workers in `container`: the children of its master (pid 1)."""
    script = (
        "import os\n"
        "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
        "    try:\n"
        "        fields = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()\n"
        "    except OSError:\n"
        "        continue\n"
        "    if fields[1] == '1':\n"
        "        print(pid)\n"
    )
    return [int(pid) for pid in docker("exec", container, "python", "-c", script).split()]


def test_a_worker_killed_under_load_is_replaced_and_no_acknowledged_write_is_lost(
    compose: ComposePlatform, gateway: str
):
    container = compose.containers("resource")[0]
    (victim, *_) = worker_pids(container)
    with Load(gateway) as load:
        time.sleep(3)
        killed_at = time.monotonic()
        docker("exec", container, "python", "-c", f"import os, signal; os.kill({victim}, signal.SIGKILL)")
        deadline = time.monotonic() + 60
        while not (pids := worker_pids(container)) or victim in pids:
            assert time.monotonic() < deadline, "the master never replaced the killed worker"
            time.sleep(0.05)
        replaced = time.monotonic() - killed_at
        time.sleep(3)
    failures = load.failures()
    print(load.summary(f"worker {victim} SIGKILLed; replaced in {replaced:.2f} s"))
    for failure in failures:
        print(f"  failed: {failure.kind} {failure.status} {failure.error[:120]} at +{failure.at - killed_at:.2f} s")
    # Reads are retried on the other replica by the gateway; a write that was
    # in flight on the killed worker may fail (never sent twice), at most one
    # per client, and only around the kill.
    assert [f for f in failures if f.kind in ("list", "read")] == []
    assert len(failures) <= 8  # clients
    assert all(-1 < failure.at - killed_at < replaced + 2 for failure in failures)
    assert all(failure.status in (None, 502) for failure in failures)
    assert load.lost_writes() == []
    load.assert_resent_never_reached(compose.logs("gateway"))
