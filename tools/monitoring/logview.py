"""JSON log lines made readable by a person: `make logs` on a terminal.

Reads lines from standard input - compose's (`auth_1  | {...}`), or bare
JSON lines - and writes each JSON object as one line:

    12:04:31.207 info  resource_2 access     request  method=GET route=/items/{item_id} status=200 ...

time, level, where it came from (compose's prefix, else the line's
`service`), logger, event, then every other field as key=value. Lines that
are not JSON pass through unchanged. Colours only when writing to a terminal.
The standard library only: it runs with any python3, no virtualenv.

    docker-compose logs -f --no-color | python3 tools/monitoring/logview.py
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

# The fields the fixed columns show; the rest follow as key=value.
SHOWN = ("timestamp", "time", "level", "service", "logger", "event")
COLOURS = {"debug": "\033[2m", "info": "\033[32m", "warning": "\033[33m", "error": "\033[31m", "critical": "\033[1;31m"}
DIM, BOLD, RESET = "\033[2m", "\033[1m", "\033[0m"


def split_prefix(line: str) -> tuple[str, str]:
    """compose's `name  | rest` into (name, rest); ("", line) without one."""
    name, bar, rest = line.partition("|")
    if bar and name.strip() and " " not in name.strip() and rest.lstrip().startswith("{"):
        return name.strip(), rest.strip()
    return "", line.strip()


def render(line: str, colour: bool = False) -> str:
    source, text = split_prefix(line)
    try:
        entry: Any = json.loads(text)
    except ValueError:
        return line.rstrip("\n")
    if not isinstance(entry, dict):
        return line.rstrip("\n")
    stamp = str(entry.get("timestamp") or entry.get("time") or "")
    clock = stamp.partition("T")[2].rstrip("Z").split("+")[0][:12] or stamp
    level = str(entry.get("level", "")).lower()
    where = source or str(entry.get("service", ""))
    rest = " ".join(f"{key}={_value(value)}" for key, value in entry.items() if key not in SHOWN)
    columns = [clock, f"{level:<7}", f"{where:<12}", f"{entry.get('logger', '')!s:<16}", str(entry.get("event", ""))]
    if colour:
        columns[0] = DIM + columns[0] + RESET
        columns[1] = COLOURS.get(level, "") + columns[1] + RESET
        columns[4] = BOLD + columns[4] + RESET
        rest = DIM + rest + RESET if rest else rest
    return " ".join([*columns, rest]).rstrip()


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return json.dumps(text) if (not text or " " in text) else text


def main(lines: TextIO = sys.stdin, out: TextIO = sys.stdout) -> None:
    colour = out.isatty()
    try:
        for line in lines:
            out.write(render(line, colour) + "\n")
            out.flush()
    except (KeyboardInterrupt, BrokenPipeError):
        pass


if __name__ == "__main__":
    main()
