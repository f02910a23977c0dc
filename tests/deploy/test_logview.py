"""`make logs` on a terminal: tools/monitoring/logview.py turns compose's JSON
log lines into one readable line each, and leaves anything else alone."""

import io
import json
import subprocess
import sys

from monitoring import logview

from tests.helpers import ROOT

LINE = {
    "timestamp": "2026-11-30T12:04:31.207512Z",
    "level": "warning",
    "service": "resource",
    "logger": "access",
    "event": "request",
    "route": "/items/{item_id}",
    "status": 404,
    "user_agent": "curl 8",
}


def test_a_compose_line_becomes_columns_then_the_other_fields():
    shown = logview.render("resource_2  | " + json.dumps(LINE))
    columns = "12:04:31.207 warning resource_2   access           request"
    assert shown == f'{columns} route=/items/{{item_id}} status=404 user_agent="curl 8"'


def test_a_bare_json_line_names_its_service_and_other_lines_pass_unchanged():
    assert logview.render(json.dumps(LINE)).split()[2] == "resource"
    assert logview.render("nginx: [emerg] unknown directive\n") == "nginx: [emerg] unknown directive"
    assert logview.render("db_1  | LOG:  checkpoint starting: time") == "db_1  | LOG:  checkpoint starting: time"


def test_colours_only_on_a_terminal():
    out = io.StringIO()
    logview.main(io.StringIO(json.dumps(LINE) + "\n"), out)
    assert "\033[" not in out.getvalue()
    assert "\033[33m" in logview.render(json.dumps(LINE), colour=True)  # a warning in yellow


def test_it_runs_with_the_standard_library_alone():
    # make logs runs it with the system's python3, outside the virtualenv
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(ROOT / "tools" / "monitoring" / "logview.py")],
        input=json.dumps(LINE) + "\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout.startswith("12:04:31.207 warning resource")
