"""The Grafana dashboard (deploy/grafana/dashboards/services.json), its
provisioning (deploy/grafana/provisioning) and the optional Grafana of
deploy/compose/grafana.yml, without a Grafana: the JSON is one Grafana can
lay out (unique ids and titles, panels inside the 24-column grid, none over
another), every query goes to the data source the `datasource` variable
picks, and every query returns data - promtool runs each one over series
of the metrics the targets export (tests/helpers/dashboard.py's METRICS,
which the compose checks find on the running stack). A misspelled metric or
a query Prometheus cannot parse fails here."""

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT
from tests.helpers.dashboard import (
    METRICS,
    VARIABLE_VALUES,
    Metric,
    Query,
    load,
    metric_names,
    panels,
    queries,
    substitute,
)
from tests.helpers.prometheus import PROMETHEUS, promtool

GRAFANA = ROOT / "deploy" / "grafana"
OVERRIDE = ROOT / "deploy" / "compose" / "grafana.yml"
RULES = sorted((PROMETHEUS / "rules").glob("*.rules.yml"))  # what compose's Prometheus loads
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return load()


def test_the_dashboard_is_one_grafana_provisions(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "services-overview"
    assert dashboard["schemaVersion"] == 39
    assert dashboard.get("id") is None  # Grafana assigns it; a fixed one clashes on import


def test_panel_ids_and_titles_are_unique(dashboard: dict[str, Any]) -> None:
    every = panels(dashboard)
    assert len(every) > 30
    for key in ("id", "title"):
        repeated = [value for value, count in Counter(panel[key] for panel in every).items() if count > 1]
        assert repeated == [], f"repeated panel {key}s"


def _overlapping(group: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Pairs of panels in `group` whose rectangles share a cell."""
    pairs = []
    for i, a in enumerate(group):
        for b in group[i + 1 :]:
            ga, gb = a["gridPos"], b["gridPos"]
            apart = (
                ga["x"] + ga["w"] <= gb["x"]
                or gb["x"] + gb["w"] <= ga["x"]
                or ga["y"] + ga["h"] <= gb["y"]
                or gb["y"] + gb["h"] <= ga["y"]
            )
            if not apart:
                pairs.append((a["title"], b["title"]))
    return pairs


def test_panels_fit_the_grid_and_none_covers_another(dashboard: dict[str, Any]) -> None:
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["y"] >= 0 and grid["w"] > 0 and grid["h"] > 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, f"{panel['title']} goes past the 24 columns"
    # A collapsed row's panels are laid out below it when it opens: compared
    # among themselves, not with the rows that follow it while it is closed.
    groups = [dashboard["panels"]] + [row["panels"] for row in dashboard["panels"] if row.get("panels")]
    for group in groups:
        assert _overlapping(group) == []


def test_a_variable_picks_the_prometheus_data_source(dashboard: dict[str, Any]) -> None:
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


def test_every_query_goes_to_the_variable_data_source(dashboard: dict[str, Any]) -> None:
    """No hard-coded uid: the dashboard works in any Grafana with a Prometheus."""
    for panel in panels(dashboard):
        if panel["type"] == "row":
            assert not panel.get("targets"), panel["title"]
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, (panel["title"], target["refId"])
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE, variable["name"]


def test_every_query_has_an_expression_and_a_ref_id_of_its_own(dashboard: dict[str, Any]) -> None:
    for panel in panels(dashboard):
        targets = panel.get("targets", [])
        assert all(target.get("expr", "").strip() for target in targets), panel["title"]
        ref_ids = [target["refId"] for target in targets]
        assert all(ref_ids) and len(set(ref_ids)) == len(ref_ids), panel["title"]


def test_every_graph_says_its_unit(dashboard: dict[str, Any]) -> None:
    for panel in panels(dashboard):
        if panel["type"] != "row":
            assert panel["type"] in ("timeseries", "stat"), panel["title"]
            assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]


def test_every_query_variable_has_a_test_value(dashboard: dict[str, Any]) -> None:
    names = {variable["name"] for variable in dashboard["templating"]["list"] if variable["type"] == "query"}
    assert names == set(VARIABLE_VALUES)


def test_the_grafana_variables_are_filled_in() -> None:
    assert substitute('rate(x{job=~"$job"}[$__rate_interval])') == 'rate(x{job=~"auth|resource"}[1m])'
    assert substitute("increase(x[${__range}])") == "increase(x[1h])"
    with pytest.raises(KeyError):
        substitute("rate(x[$__unknown])")


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (job, le) (rate(a_bucket{job=~"x|y", le="+Inf"}[1m]))', {"a_bucket"}),
        ("(a:b:rate5m or 0 * c_total) / on (job) group_left (route) d", {"a:b:rate5m", "c_total", "d"}),
        ("histogram_quantile(0.99, sum(rate(e[5m])) by (le)) > bool 1 unless f offset 5m", {"e", "f"}),
    ],
)
def test_the_metric_names_a_query_reads_are_found(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def _recorded() -> set[str]:
    groups = [group for path in RULES for group in yaml.safe_load(path.read_text())["groups"]]
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


def test_queries_read_only_exported_or_recorded_metrics(dashboard: dict[str, Any]) -> None:
    """Checked by name, not by data: a name in an `or` branch (the 5xx
    ratio's `or 0 * ...`) returns data even when misspelled."""
    known = {name for metric in METRICS for name in metric.names()} | _recorded()
    read: set[str] = set()
    for query in queries(dashboard):
        names = metric_names(query.expr)
        assert names, (query.panel, query.ref_id)
        assert names <= known, (query.panel, query.ref_id, names - known)
        read |= names
    unread = [metric.name for metric in METRICS if not metric.names() & read]
    assert unread == [], "METRICS lists metrics no panel reads"


# Input series: 15 s apart (the scrape interval), 20 minutes of them;
# counters go up by one a second, gauges stay at 1.
VALUES = {"counter": "0+15x80", "gauge": "1x80"}
BUCKETS = {"0.1": "0+10x80", "0.5": "0+14x80", "+Inf": "0+15x80"}


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    matchers = ", ".join(f"{key}={json.dumps(value)}" for key, value in labels.items())
    return {"series": f"{name}{{{matchers}}}", "values": values}


def _input_series(metric: Metric) -> list[dict[str, str]]:
    series = []
    for job in metric.jobs:
        for own in metric.labels:
            labels = {"job": job, "instance": f"{job}:9100", **own}
            if metric.kind == "histogram":
                series += [_series(f"{metric.name}_bucket", labels | {"le": le}, v) for le, v in BUCKETS.items()]
                series.append(_series(f"{metric.name}_sum", labels, "0+1.5x80"))
                series.append(_series(f"{metric.name}_count", labels, "0+15x80"))
            else:
                series.append(_series(metric.name, labels, VALUES[metric.kind]))
    return series


def _alert_name(query: Query) -> str:
    return re.sub(r"\W+", "_", f"{query.panel} {query.ref_id}").strip("_")


def test_every_query_returns_data_from_the_metrics_the_targets_export(
    dashboard: dict[str, Any], tmp_path: Path
) -> None:
    """One alert per query, `count(<query>) > 0`, and a promtool unit test
    that expects each to fire over series of every metric in METRICS (and
    the recording rules of deploy/prometheus/rules): a query that does not
    parse fails `promtool test rules`; one reading a metric no target
    exports (or a label value none has) returns nothing, its alert stays
    quiet, and that fails it too."""
    alerts = {_alert_name(query): query for query in queries(dashboard)}
    assert len(alerts) == len(queries(dashboard))
    rules = [{"alert": name, "expr": f"count({query.expr}) > 0"} for name, query in alerts.items()]
    (tmp_path / "dashboard.rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    unit_test = {
        "rule_files": [*map(str, RULES), "dashboard.rules.yml"],
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": [series for metric in METRICS for series in _input_series(metric)],
                "alert_rule_test": [{"eval_time": "10m", "alertname": name, "exp_alerts": [{}]} for name in alerts],
            }
        ],
    }
    (tmp_path / "dashboard.test.yml").write_text(yaml.safe_dump(unit_test, sort_keys=False))
    assert "SUCCESS" in promtool("test", "rules", "dashboard.test.yml", cwd=tmp_path)


def test_the_data_source_is_compose_prometheus() -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert provisioned["apiVersion"] == 1
    (source,) = provisioned["datasources"]
    assert source["type"] == "prometheus" and source["uid"] and source["isDefault"] is True
    assert source["url"] == "http://prometheus:9090" and source["access"] == "proxy"


def _mounts() -> dict[str, str]:
    """What deploy/compose/grafana.yml mounts read-only: checkout path -> container path."""
    service = yaml.safe_load(OVERRIDE.read_text())["services"]["grafana"]
    mounts = {}
    for volume in service["volumes"]:
        source, target, *mode = volume.split(":")
        if source.startswith("./"):
            assert mode == ["ro"], volume
            mounts[source.removeprefix("./")] = target
    return mounts


def test_grafana_reads_the_provisioning_and_the_dashboards_where_compose_mounts_them() -> None:
    mounts = _mounts()
    assert mounts["deploy/grafana/provisioning"] == "/etc/grafana/provisioning"  # Grafana's default
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "services.yml").read_text())
    assert provisioned["apiVersion"] == 1
    (provider,) = provisioned["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == mounts["deploy/grafana/dashboards"]


def test_the_optional_grafana_is_locked_down_and_on_loopback() -> None:
    override = yaml.safe_load(OVERRIDE.read_text())
    service = override["services"]["grafana"]
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", service["image"])  # a fixed release
    assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]
    assert service["ports"] and all(port.startswith("127.0.0.1:") for port in service["ports"])
    environment = service["environment"]
    assert environment["GF_AUTH_ANONYMOUS_ENABLED"] == "false" and environment["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert environment["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in environment
    assert override["secrets"]["grafana_admin_password"]["file"] == "./secrets/grafana_admin_password"
    main = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert "grafana" not in main["services"]  # the default stack stays what CI builds
    assert "backend" in service["networks"] and "backend" in main["services"]["prometheus"]["networks"]
