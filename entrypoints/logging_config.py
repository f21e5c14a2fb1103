"""How every process that serves the API logs: the uvicorn (or Granian) supervisor, each
worker, and any other server that builds the app with ``create_app_from_env``.

One handler, on the root logger, writing to stderr; our loggers and uvicorn's (``uvicorn.error``
with its tracebacks, ``uvicorn.access``) or Granian's (``_granian``, ``granian.access``)
propagate to it, so every line has the same format and the request id (``RequestIdFilter``,
on the handler, so it sees every record that reaches it).

- ``text``: one readable line per record (tracebacks follow on their own lines).
- ``json``: one JSON object per line (python-json-logger): ``time`` (ISO 8601, UTC),
  ``level``, ``logger``, ``message``, ``request_id`` (null outside a request), ``pid`` (the
  worker: pool gauges are per process), ``exception`` (the traceback, when there is one), and
  whatever a call passes in ``extra``.

Levels: ``STOCKROOM_LOG_LEVEL`` applies to our loggers and uvicorn's; every other library
logs WARNING and above only, whatever the setting. At DEBUG, some drivers log each call with
its arguments (aiosqlite does), which would put bound parameters, emails and password hashes
in the log.
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any, Literal

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from entrypoints.api.request_id import NO_REQUEST, RequestIdFilter

LogFormat = Literal["text", "json"]

# "uvicorn" is the parent of uvicorn.error, uvicorn.access and uvicorn.asgi. Granian's are
# "_granian" (its server, Python and Rust) and "granian.access" (`stockroom serve --server`).
OWN_LOGGERS = (
    "domain",
    "adapters",
    "service_layer",
    "entrypoints",
    "uvicorn",
    "_granian",
    "granian",
)
# uvicorn's default configuration gives these handlers of their own, stops their propagation
# and sets their levels: here they are reset, so that they propagate to the one handler at the
# level of "uvicorn" (this configuration may be applied after uvicorn applied its default).
UVICORN_CHILDREN = ("uvicorn.error", "uvicorn.access", "uvicorn.asgi")
LIBRARIES_LEVEL = logging.WARNING

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [request %(request_id)s] %(message)s"
JSON_FIELDS = ["levelname", "name", "message", "request_id", "process"]
JSON_NAMES = {"levelname": "level", "name": "logger", "process": "pid", "exc_info": "exception"}
# uvicorn adds a copy of some messages with ANSI colour codes for its console: not for JSON.
NOT_IN_JSON = [*RESERVED_ATTRS, "color_message"]


def _formatter(log_format: LogFormat) -> dict[str, Any]:
    if log_format == "text":
        return {"format": TEXT_FORMAT}
    return {
        "()": JsonFormatter,
        "fmt": JSON_FIELDS,
        "rename_fields": JSON_NAMES,
        "timestamp": "time",
        "reserved_attrs": NOT_IN_JSON,
    }


def log_config(log_format: LogFormat = "text", level: str = "INFO") -> dict[str, Any]:
    """The ``logging.config.dictConfig`` dictionary (also what ``uvicorn.run`` takes as
    ``log_config``, which applies it in the supervisor and in each worker it starts)."""
    threshold = logging.getLevelNamesMapping()[level]
    return {
        "version": 1,
        # Module loggers exist before this runs (created at import): keep them working.
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {
                "()": RequestIdFilter,
                "outside_requests": NO_REQUEST if log_format == "text" else None,
            }
        },
        "formatters": {"stockroom": _formatter(log_format)},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "stockroom",
                "filters": ["request_id"],
            }
        },
        "loggers": {
            **{name: {"level": level, "handlers": [], "propagate": True} for name in OWN_LOGGERS},
            **{
                name: {"level": "NOTSET", "handlers": [], "propagate": True}
                for name in UVICORN_CHILDREN
            },
            # SQLAlchemy names a pool's logger after its class: ours live in adapters, and
            # would say "Pool disposed" at every shutdown (and a line per checkout at DEBUG).
            "adapters.database_metrics": {"level": "WARNING", "handlers": [], "propagate": True},
        },
        "root": {
            "level": logging.getLevelName(max(threshold, LIBRARIES_LEVEL)),
            "handlers": ["stderr"],
        },
    }


def configure_logging(log_format: LogFormat = "text", level: str = "INFO") -> None:
    """Apply ``log_config`` to this process (idempotent: it replaces the handlers it set).

    Python warnings raised from here on (a library's deprecation, SQLAlchemy's SAWarning)
    become log records too (logger ``py.warnings``), instead of bare text between JSON lines.
    """
    logging.config.dictConfig(log_config(log_format, level))
    logging.captureWarnings(True)
