"""What the services log, as their handler renders it: every app in the test
process logs through the root logger's one structlog handler."""

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog


@contextmanager
def log_output() -> Iterator[io.StringIO]:
    """The rendered text the service's log handler writes meanwhile."""
    (handler,) = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.StreamHandler)
        and isinstance(handler.formatter, structlog.stdlib.ProcessorFormatter)
    ]
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)


@contextmanager
def log_lines() -> Iterator[list[dict[str, Any]]]:
    """The lines the service logs meanwhile, parsed (filled in at the end)."""
    lines: list[dict[str, Any]] = []
    with log_output() as buffer:
        try:
            yield lines
        finally:
            lines.extend(json.loads(line) for line in buffer.getvalue().splitlines())
