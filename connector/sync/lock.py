"""One sync per business at a time, across processes: `connector run` and a manual
`connector sync` share this lock, and the one that finds it held says who holds it.

The holder is written to a small file beside the lock (the lock file itself is truncated by
every process that tries it, so it cannot carry the name).
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import platformdirs
from filelock import FileLock, Timeout

from connector.config import Config, slug
from connector.errors import LockHeld


def lock_path(config: Config) -> Path:
    if config.state_path is not None:
        return config.state_path.with_name(config.state_path.name + ".lock")
    return (
        Path(platformdirs.user_data_dir("milestone-connector"))
        / "locks"
        / (slug(config.business.name) + ".lock")
    )


def _holder_path(path: Path) -> Path:
    return path.with_name(path.name + ".holder")


def _describe_self() -> str:
    command = " ".join(["connector", *sys.argv[1:2]]) if sys.argv[1:2] else "connector"
    started = datetime.now(UTC).isoformat(timespec="seconds")
    return f"{command} (pid {os.getpid()} on {socket.gethostname()}, since {started})"


def _holder(path: Path) -> str:
    with suppress(OSError):
        text = _holder_path(path).read_text().strip()
        if text:
            return text
    return "another process"


@contextmanager
def business_lock(config: Config) -> Iterator[None]:
    path = lock_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=0, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        raise LockHeld(
            f"{config.business.name!r} is being synced by {_holder(path)}; wait for it to "
            f"finish (lock {path})"
        ) from None
    holder = _holder_path(path)
    try:
        fd = os.open(holder, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(_describe_self() + "\n")
        yield
    finally:
        with suppress(OSError):
            holder.unlink()
        lock.release()
