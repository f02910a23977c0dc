"""The alert and recording rules (deploy/prometheus/rules), with promtool from
Debian's prometheus (tools/install-host-deps.sh installs it; missing, these
fail - never skip): the config and rules check, the unit tests pass (each
alert firing and quiet, with exact labels and annotations), every alert
carries what an on-call engineer needs and points at a runbook section that
exists, and the Kubernetes PrometheusRule is the same rules."""

import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml
from monitoring import prometheus_rule

from tests.helpers import ROOT
from tests.helpers.prometheus import PROMETHEUS, promtool

RUNBOOK = ROOT / "docs" / "runbook.md"


def alerts() -> list[dict[str, Any]]:
    return [rule for group in prometheus_rule.groups() for rule in group["rules"] if "alert" in rule]


def test_promtool_accepts_the_config_and_the_rules() -> None:
    assert "SUCCESS" in promtool("check", "config", "prometheus.yml")
    files = sorted(str(path.relative_to(PROMETHEUS)) for path in (PROMETHEUS / "rules").glob("*.rules.yml"))
    assert files
    assert "SUCCESS" in promtool("check", "rules", *files)


def test_the_rules_unit_tests_pass() -> None:
    tests = sorted(str(path.name) for path in (PROMETHEUS / "rules").glob("*.test.yml"))
    assert tests
    print(promtool("test", "rules", *tests, cwd=PROMETHEUS / "rules"))


def test_every_alert_is_tested_firing_and_quiet() -> None:
    cases = [
        case
        for path in (PROMETHEUS / "rules").glob("*.test.yml")
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    for alert in alerts():
        mine = [case for case in cases if case["alertname"] == alert["alert"]]
        assert any(case["exp_alerts"] for case in mine), f"{alert['alert']} is never shown firing"
        assert any(not case["exp_alerts"] for case in mine), f"{alert['alert']} is never shown quiet"


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_says_how_bad_what_and_where_the_runbook_is() -> None:
    anchors = {_slug(line.lstrip("#")) for line in RUNBOOK.read_text().splitlines() if line.startswith("## ")}
    assert alerts()
    for alert in alerts():
        assert alert["labels"]["severity"] in ("page", "ticket"), alert["alert"]
        annotations = alert["annotations"]
        assert annotations["summary"] and annotations["description"], alert["alert"]
        path, _, anchor = annotations["runbook_url"].partition("#")
        assert path == "docs/runbook.md" and anchor in anchors, (alert["alert"], annotations["runbook_url"])


def test_recording_rules_follow_the_level_metric_operations_naming() -> None:
    for group in prometheus_rule.groups():
        for rule in group["rules"]:
            if "record" in rule:
                assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", rule["record"]), rule["record"]


def test_the_kubernetes_prometheus_rule_is_generated_from_the_rule_files() -> None:
    assert prometheus_rule.TARGET.read_text() == prometheus_rule.render(), "stale: run `make rules`"
    assert yaml.safe_load(prometheus_rule.TARGET.read_text())["spec"]["groups"] == prometheus_rule.groups()


ALERTMANAGER = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"


def amtool(*args: str) -> str:
    tool = shutil.which("amtool")
    if tool is None:
        pytest.fail("amtool is missing: run tools/install-host-deps.sh (Debian's prometheus-alertmanager package)")
    result = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_amtool_accepts_the_alertmanager_config_and_routes_by_severity() -> None:
    assert "SUCCESS" in amtool("check-config", str(ALERTMANAGER))
    for severity, receiver in (("page", "pages"), ("ticket", "tickets")):
        for alert in alerts():
            if alert["labels"]["severity"] == severity:
                routed = amtool(
                    "config",
                    "routes",
                    "test",
                    f"--config.file={ALERTMANAGER}",
                    f"alertname={alert['alert']}",
                    f"severity={severity}",
                    "job=auth",
                )
                assert routed.strip() == receiver, (alert["alert"], routed)


def test_the_optional_alertmanager_is_locked_down_and_on_loopback() -> None:
    override = yaml.safe_load((ROOT / "deploy" / "compose" / "alertmanager.yml").read_text())
    service = override["services"]["alertmanager"]
    assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
    assert all(port.startswith("127.0.0.1:") for port in service["ports"])
    main = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert "alertmanager" not in main["services"]  # the default stack stays what CI builds
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    (target,) = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert target == "alertmanager:9093"
