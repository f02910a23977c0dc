"""Alerts end to end on the compose stack `make up` started: a replica that
stops answering and Redis stopped show up as ServiceTargetDown and RedisDown
through Prometheus' API (pending: their `for` is longer than a test should
wait), and go quiet again once both are back. Prometheus scrapes every 15 s
and evaluates every 15 s, so each takes up to about 30 s; the ceilings are
generous and the timings printed."""

from typing import Any

import pytest
from podrun.kubelet import docker

from tests.helpers.platforms import ComposePlatform
from tests.helpers.prometheus import api
from tests.resilience.stack import every_replica_ready, until

pytestmark = pytest.mark.resilience


def active(compose: ComposePlatform, name: str, **labels: str) -> list[dict[str, Any]]:
    return [
        alert
        for alert in api(compose.prometheus_url, "alerts")["alerts"]
        if alert["labels"]["alertname"] == name and all(alert["labels"].get(k) == v for k, v in labels.items())
    ]


def quiet(compose: ComposePlatform) -> bool:
    return not active(compose, "ServiceTargetDown") and not active(compose, "RedisDown")


def test_a_replica_that_stops_answering_and_redis_stopped_raise_their_alerts(compose: ComposePlatform):
    replica = compose.containers("resource")[0]
    address = docker(
        "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", replica
    ).split()  # read, never dialled: Prometheus names its targets by address
    until(lambda: quiet(compose), 90, "quiet", 1)
    docker("pause", replica)  # resolvable, but its scrape times out: up == 0
    compose.stop("redis")
    try:
        down = until(lambda: bool(active(compose, "ServiceTargetDown", job="resource")), 90, "ServiceTargetDown", 1)
        (target,) = active(compose, "ServiceTargetDown", job="resource")
        assert target["state"] in ("pending", "firing") and target["labels"]["severity"] == "page"
        assert target["labels"]["instance"].rpartition(":")[0] in address
        assert target["annotations"]["runbook_url"] == "docs/runbook.md#a-replica-is-down-or-restarts"
        redis_down = until(lambda: bool(active(compose, "RedisDown", job="redis")), 90, "RedisDown", 1)
        (redis,) = active(compose, "RedisDown", job="redis")
        assert redis["state"] in ("pending", "firing") and redis["labels"]["severity"] == "ticket"
    finally:
        docker("unpause", replica)
        compose.start("redis")
    print(f"pending after: ServiceTargetDown (a paused replica) {down:.0f} s, RedisDown {down + redis_down:.0f} s")
    calm = until(lambda: quiet(compose), 90, "alerts quiet", 1)
    print(f"both quiet {calm:.0f} s after the replica and Redis were back")
    until(lambda: every_replica_ready(compose), 60, "every replica ready", 0.5)
