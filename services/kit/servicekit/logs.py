"""structlog configuration: JSON lines by default, console for development.

Every stdlib logger (gunicorn, uvicorn, sqlalchemy) is rendered through the
same structlog processors so one process writes one format. The request id is
bound with contextvars by the request-id middleware and lands on every line;
the service's name too (`service`), on every line of every process.
"""

import logging
import logging.config
from collections.abc import MutableMapping
from typing import Any

import structlog

from servicekit.tracing import add_trace_ids

_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    add_trace_ids,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
]


def _renderer(fmt: str) -> Any:
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(colors=False)
    return structlog.processors.JSONRenderer()


def _processors(service: str | None) -> list[Any]:
    """The shared processors, and the service's name on every line (a
    request's own, bound by the request-context middleware, wins)."""

    def add_service(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event.setdefault("service", service)
        return event

    return [*_SHARED_PROCESSORS, add_service] if service else _SHARED_PROCESSORS


def logging_dict_config(level: str = "INFO", fmt: str = "json", service: str | None = None) -> dict[str, Any]:
    """A logging.config dict; also handed to gunicorn as `logconfig_dict`."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": _processors(service),
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    _renderer(fmt),
                ],
            }
        },
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "structlog", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["default"], "level": level.upper()},
        "loggers": {
            # Our middleware writes the one access line per request.
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
            "gunicorn.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
            "uvicorn.error": {"handlers": ["default"], "propagate": False, "level": level.upper()},
            "gunicorn.error": {"handlers": ["default"], "propagate": False, "level": level.upper()},
        },
    }


def configure_logging(level: str = "INFO", fmt: str = "json", service: str | None = None) -> None:
    logging.config.dictConfig(logging_dict_config(level, fmt, service))
    structlog.configure(
        processors=[*_processors(service), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
