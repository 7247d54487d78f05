"""Log lines for people (default) or for log shippers (`--log-format json`).

Every line logged while a business is syncing carries the business and the run id, whoever logs
it (the engine, an adapter, a library), because they ride in a context variable that a filter
copies onto each record. Threads each have their own, so concurrent businesses never mix.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_RUN: contextvars.ContextVar[tuple[str, int | None] | None] = contextvars.ContextVar(
    "connector_run", default=None
)


@contextmanager
def run_context(business: str, run_id: int | None = None) -> Iterator[None]:
    """Tag the log lines of this thread with a business (and, once it has one, a run id)."""
    token = _RUN.set((business, run_id))
    try:
        yield
    finally:
        _RUN.reset(token)


class RunContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        current = _RUN.get()
        record.business, record.run_id = current if current else (None, None)
        record.where = ""
        if current:
            record.where = f"[{current[0]}" + (f" run {current[1]}]" if current[1] else "]") + " "
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "business": getattr(record, "business", None),
            "run_id": getattr(record, "run_id", None),
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


def setup_logging(kind: str = "human", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RunContextFilter())
    handler.setFormatter(
        JsonFormatter()
        if kind == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(where)s%(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
