"""The monitoring component's PrometheusRule, generated from the plain rule
files compose's Prometheus loads (deploy/prometheus/rules/*.rules.yml), so
the rules have one source. `make rules` (python -m monitoring.prometheus_rule)
writes k8s/components/monitoring/prometheusrule.yaml;
tests/deploy/test_prometheus_rules.py fails when the two differ."""

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULE_FILES = ROOT / "deploy" / "prometheus" / "rules"
TARGET = ROOT / "k8s" / "components" / "monitoring" / "prometheusrule.yaml"
HEADER = (
    "# Generated from deploy/prometheus/rules/*.rules.yml by `make rules`\n"
    "# (python -m monitoring.prometheus_rule): edit those, never this.\n"
)


def groups() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(RULE_FILES.glob("*.rules.yml")):
        found += yaml.safe_load(path.read_text())["groups"]
    return found


def render() -> str:
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "svc-platform", "labels": {"app.kubernetes.io/part-of": "svc-platform"}},
        "spec": {"groups": groups()},
    }
    return HEADER + yaml.safe_dump(rule, sort_keys=False, width=1000, allow_unicode=True)


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}")
