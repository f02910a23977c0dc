"""The Grafana dashboard (deploy/grafana/dashboards/services.json) as data:
its panels, each query as Prometheus receives it once Grafana has filled in
the variables, and the metrics the queries read (METRICS, the one list of
what we assume the scrape targets export). tests/deploy/test_dashboard.py
runs every query through promtool over series made from METRICS; the compose
checks (tests/gateway/test_compose_stack.py) run them against the stack's
Prometheus and find every metric of METRICS there."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from tests.helpers import ROOT

DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "services.json"

# What Grafana puts in place of its built-in variables, as Prometheus then
# sees it: a rate window of four 15 s scrapes, a one-hour time range.
BUILT_IN_VALUES = {"__rate_interval": "1m", "__interval": "1m", "__range": "1h"}
# A value for each of the dashboard's query variables, as Grafana sends it
# when every choice is selected (a regex: the panels match with =~).
VARIABLE_VALUES = {"job": "auth|resource"}

SERVICES = ("auth", "resource")


@dataclass(frozen=True)
class Metric:
    """A metric a scrape target exports: the jobs whose targets export it,
    its kind (counter, gauge, or histogram: _bucket, _sum and _count), and
    label sets with the values the panels select on."""

    name: str
    jobs: tuple[str, ...]
    kind: str
    labels: tuple[dict[str, str], ...] = ({},)
    # prometheus-client exports a labelled counter from its first increment
    # only: on an idle stack these have no series at all.
    idle: bool = True

    def names(self) -> set[str]:
        """The names of its series, as Prometheus stores them."""
        if self.kind == "histogram":
            return {f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count"}
        return {self.name}


METRICS = [
    Metric("up", (*SERVICES, "prometheus", "postgres", "redis", "gateway"), "gauge"),
    # The services (servicekit/metrics.py, db.py, breaker.py, ratelimit.py, tokens.py; auth_service/metrics.py).
    Metric(
        "http_requests_total",
        SERVICES,
        "counter",
        ({"method": "GET", "route": "/livez", "status": "200"}, {"method": "POST", "route": "/items", "status": "503"}),
    ),
    Metric("http_request_duration_seconds", SERVICES, "histogram", ({"method": "GET", "route": "/livez"},)),
    Metric("http_requests_in_flight", SERVICES, "gauge"),
    Metric("build_info", SERVICES, "gauge", ({"version": "1.0.0", "revision": "abc1234"},)),
    Metric("db_pool_size", SERVICES, "gauge"),
    Metric("db_pool_checked_out", SERVICES, "gauge"),
    Metric("db_pool_overflow", SERVICES, "gauge"),
    Metric("db_pool_acquire_seconds", SERVICES, "histogram"),
    Metric(
        "circuit_breaker_state", SERVICES, "gauge", ({"dependency": "database"}, {"dependency": "rate_limit_storage"})
    ),
    Metric(
        "circuit_breaker_transitions_total",
        SERVICES,
        "counter",
        ({"dependency": "database", "state": "open"},),
        idle=False,
    ),
    Metric("rate_limit_rejections_total", SERVICES, "counter", ({"scope": "login-ip"},), idle=False),
    Metric("rate_limit_fallback_total", SERVICES, "counter", ({"mode": "memory"},), idle=False),
    Metric("auth_logins_total", ("auth",), "counter", ({"result": "success"}, {"result": "failure"}), idle=False),
    Metric("auth_tokens_issued_total", ("auth",), "counter", ({"grant": "password"},), idle=False),
    Metric("auth_refresh_token_reuse_total", ("auth",), "counter"),
    Metric("auth_password_rehashes_total", ("auth",), "counter"),
    # Fetched by every worker at its start.
    Metric("jwks_fetches_total", ("resource",), "counter", ({"result": "success"},)),
    # postgres_exporter 0.11, default collectors.
    Metric("pg_up", ("postgres",), "gauge"),
    Metric("pg_settings_max_connections", ("postgres",), "gauge"),
    Metric("pg_stat_database_numbackends", ("postgres",), "gauge", ({"datname": "app"},)),
    Metric("pg_stat_database_xact_commit", ("postgres",), "counter", ({"datname": "app"},)),
    Metric("pg_stat_database_xact_rollback", ("postgres",), "counter", ({"datname": "app"},)),
    Metric("pg_stat_database_deadlocks", ("postgres",), "counter", ({"datname": "app"},)),
    Metric("pg_database_size_bytes", ("postgres",), "gauge", ({"datname": "app"},)),
    Metric(
        "pg_stat_activity_count",
        ("postgres",),
        "gauge",
        ({"datname": "app", "state": "active"}, {"datname": "app", "state": "idle"}),
    ),
    # redis_exporter 1.45.
    Metric("redis_up", ("redis",), "gauge"),
    Metric("redis_connected_clients", ("redis",), "gauge"),
    Metric("redis_memory_used_bytes", ("redis",), "gauge"),
    Metric("redis_memory_max_bytes", ("redis",), "gauge"),
    Metric("redis_commands_processed_total", ("redis",), "counter"),
    Metric("redis_rejected_connections_total", ("redis",), "counter"),
    # nginx-prometheus-exporter 0.11, from the gateway's stub_status.
    Metric("nginx_up", ("gateway",), "gauge"),
    Metric("nginx_connections_active", ("gateway",), "gauge"),
    Metric("nginx_connections_reading", ("gateway",), "gauge"),
    Metric("nginx_connections_writing", ("gateway",), "gauge"),
    Metric("nginx_connections_waiting", ("gateway",), "gauge"),
    Metric("nginx_connections_accepted", ("gateway",), "counter"),
    Metric("nginx_connections_handled", ("gateway",), "counter"),
    Metric("nginx_http_requests_total", ("gateway",), "counter"),
]


@dataclass(frozen=True)
class Query:
    """One query of the dashboard, as Prometheus receives it."""

    panel: str  # the panel's title, or "$name" for a variable's choices
    ref_id: str
    expr: str


def load() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, the rows and those inside collapsed rows too."""
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def substitute(expr: str) -> str:
    """`expr` with Grafana's variables ($__rate_interval, ${job}, ...) given
    the values above; a variable without one is an error."""
    values = BUILT_IN_VALUES | VARIABLE_VALUES

    def value(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        if name not in values:
            raise KeyError(f"no test value for the variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(value, expr)


_LABEL_VALUES = re.compile(r"label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*(\w+)\s*\)")


def variable_query(variable: dict[str, Any]) -> str:
    """A query variable's `label_values(metric, label)` as PromQL: the
    series Grafana takes the choices from."""
    query = variable["query"]
    text = query if isinstance(query, str) else query["query"]
    match = _LABEL_VALUES.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"${variable['name']}: only label_values(metric, label) is supported, not {text!r}")
    return f"group by ({match[2]}) ({match[1]})"


def queries(dashboard: dict[str, Any]) -> list[Query]:
    """Every panel's queries and every query variable's, substituted."""
    found = [
        Query(f"${variable['name']}", "choices", variable_query(variable))
        for variable in dashboard["templating"]["list"]
        if variable["type"] == "query"
    ]
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            found.append(Query(panel["title"], target["refId"], substitute(target["expr"])))
    return found


# What a query holds besides the metric names it reads: strings, label
# matchers, range windows, label lists of by/without/on/ignoring/group_*.
_NOT_NAMES = [
    re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`'),
    re.compile(r"\{[^}]*\}"),
    re.compile(r"\[[^\]]*\]"),
    re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"),
]
# An identifier that is not a function call (no "(" after it).
_IDENTIFIER = re.compile(r"(?<![\w:.])[a-zA-Z_:][\w:]*(?![\w:]|\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names `expr` reads (those in an `or` branch too, which
    returning data does not prove right)."""
    for pattern in _NOT_NAMES:
        expr = pattern.sub(" ", expr)
    return {name for name in _IDENTIFIER.findall(expr) if name.lower() not in _KEYWORDS}
