"""Log lines for people (default), for systemd's journal, or for log shippers (`--log-format
json`).

Under systemd (stderr is the journal: `$JOURNAL_STREAM` names it) each entry is one line that
starts with its syslog priority as sd-daemon(3) defines it (`<3>` error, `<4>` warning, `<6>`
info, `<7>` debug), so `journalctl -p warning` finds the problems; journald cuts entries at
newlines, so a traceback or a list of problems has its newlines written as `\\n` and stays one
entry. JSON is one object per line everywhere (with the same prefix under the journal, which
journald takes off).

Every line logged while a business is syncing carries the business and the run id, whoever logs
it (the engine, an adapter, a library), because they ride in a context variable that a filter
copies onto each record. Threads each have their own, so concurrent businesses never mix.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

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


LOG_FORMATS = ("auto", "human", "journal", "json")
HUMAN = "%(asctime)s %(levelname)s %(where)s%(message)s"
JOURNAL = "%(levelname)s %(where)s%(message)s"  # journald stamps the time itself


def priority(levelno: int) -> int:
    """The syslog priority of a logging level (sd-daemon(3)'s SD_ERR, SD_WARNING, ...)."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    return 6 if levelno >= logging.INFO else 7


class JournalFormatter(logging.Formatter):
    """One journal entry per record: the priority prefix, and the record on one line."""

    def __init__(self, inner: logging.Formatter | None = None):
        super().__init__()
        self.inner = inner or logging.Formatter(JOURNAL)

    def format(self, record: logging.LogRecord) -> str:
        return journal_line(priority(record.levelno), self.inner.format(record))


def journal_line(level: int, text: str) -> str:
    """`text` as one journal entry of syslog priority `level`: newlines written as `\\n`."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")
    return f"<{level}>" + text.replace("\n", "\\n")


def stream_is_journal(stream: TextIO) -> bool:
    """Whether `stream` (stderr) is the journal: systemd sets $JOURNAL_STREAM to the device and
    inode of the stream it connected, and a stream redirected elsewhere no longer matches."""
    wanted = os.environ.get("JOURNAL_STREAM", "")
    try:
        info = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):  # a stream without a file (pytest's capture)
        return False
    return bool(wanted) and wanted == f"{info.st_dev}:{info.st_ino}"


def formatter(kind: str, journal: bool) -> logging.Formatter:
    """The formatter of `--log-format kind`; `journal`: stderr is the journal (for auto)."""
    if kind == "json":
        return JournalFormatter(JsonFormatter()) if journal else JsonFormatter()
    if kind == "journal" or (kind == "auto" and journal):
        return JournalFormatter()
    return logging.Formatter(HUMAN)


def setup_logging(kind: str = "auto", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RunContextFilter())
    handler.setFormatter(formatter(kind, stream_is_journal(sys.stderr)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
