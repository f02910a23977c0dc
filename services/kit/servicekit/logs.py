"""structlog configuration: JSON lines by default, console for development.

Every stdlib logger (gunicorn, uvicorn, sqlalchemy) is rendered through the
same structlog processors so one process writes one format. The request id is
bound with contextvars by the request-id middleware and lands on every line.
"""

import logging
import logging.config
from typing import Any

import structlog

_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
]


def _renderer(fmt: str) -> Any:
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(colors=False)
    return structlog.processors.JSONRenderer()


def logging_dict_config(level: str = "INFO", fmt: str = "json") -> dict[str, Any]:
    """A logging.config dict; also handed to gunicorn as `logconfig_dict`."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": _SHARED_PROCESSORS,
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


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    logging.config.dictConfig(logging_dict_config(level, fmt))
    structlog.configure(
        processors=[*_SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
