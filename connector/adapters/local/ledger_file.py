"""The practice ledger's file: JSON Lines a bookkeeper can read, written by appending.

Format 2 (since issue 14; the whole-object JSON of format 1 was read and rewritten in full on
every batch, which made a large practice ledger's nights slow and its memory large):

    {"ledger": "connector local ledger", "format": 2}
    {"customer": ["C1", "Acme Corporation", "USD"]}
    {"document": {"id": "1", "number": "INV-1001", ..., "payments": [...]}}
    {"key": ["<idempotency key>", "<fingerprint>", "1"]}
    {"seq": 7}

One JSON object a line. A write appends the records it changed, then a `seq` line: the commit
mark. A document's later line replaces its earlier ones; lines after the last mark (a write cut
short) are not part of the ledger and are cut off by the next write. The last mark is the
ledger's change counter, so "has anything changed since N?" reads the file's tail only. When the
superseded lines outnumber the live ones the file is written afresh (to a temporary file, then
renamed). A format 1 file is read as before and rewritten as format 2 by its first write.

This module knows lines, marks and the file; never what a document means.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from connector.errors import UserError

HEADER = {"ledger": "connector local ledger", "format": 2}
TAIL = 4096  # bytes read from the end to find the last mark


@dataclass
class Loaded:
    """What a file holds: format 1's whole object, or format 2's committed records."""

    legacy: dict[str, Any] | None = None  # format 1
    records: list[dict[str, Any]] = field(default_factory=list)  # format 2, committed, in order
    seq: int = 0
    size: int = 0  # bytes up to the end of the last mark
    lines: int = 0  # committed lines, marks too (not the header)


def _where(path: Path) -> str:
    return f"{path} (ledger.path)"


def _not_ours(path: Path) -> UserError:
    return UserError(
        f"the local ledger {_where(path)} is JSON but not a ledger this connector wrote (a key "
        "is missing or of the wrong kind); restore it from a backup, it was left as it is"
    )


def _bad_json(path: Path, exc: json.JSONDecodeError, line: int = 0) -> UserError:
    return UserError(
        f"the local ledger {_where(path)} is not valid JSON (line {exc.lineno + line}, column "
        f"{exc.colno}: {exc.msg}); restore it from a backup, it was left as it is"
    )


def _read_bytes(path: Path) -> bytes:
    if path.is_dir():
        raise UserError(f"{_where(path)} is a folder; ledger.path must name the ledger's JSON file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read the local ledger {_where(path)}: {exc.strerror}") from None


def is_format_2(path: Path) -> bool:
    """Whether the file starts with format 2's header line (a folder is left to `load`)."""
    try:
        with path.open("rb") as handle:
            first = handle.readline(200)
    except OSError:
        return False
    try:
        return bool(json.loads(first) == HEADER)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


def last_seq(path: Path) -> int | None:
    """The change counter of a format 2 file from its tail alone; None when it cannot tell."""
    try:
        with path.open("rb") as handle:
            end = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, end - TAIL))
            tail = handle.read()
    except OSError:
        return None
    for line in reversed(tail.split(b"\n")[1:] if end > TAIL else tail.split(b"\n")):
        if line.startswith(b'{"seq":'):
            try:
                return int(json.loads(line)["seq"])
            except (ValueError, KeyError, TypeError):
                return None
    return None


def load(path: Path) -> Loaded:
    """Everything committed in the file, or one sentence saying why it cannot be read."""
    raw = _read_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(
            f"cannot read the local ledger {_where(path)}: it is not UTF-8 text"
        ) from None
    first, _, _ = text.partition("\n")
    try:
        header = json.loads(first)
    except json.JSONDecodeError:
        header = None
    if header != HEADER:
        try:
            whole = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise _bad_json(path, exc) from None
        if not isinstance(whole, dict):
            raise _not_ours(path)
        return Loaded(legacy=whole)
    out = Loaded(size=len(first.encode()) + 1)
    pending: list[dict[str, Any]] = []
    offset = out.size
    for n, line in enumerate(text[out.size :].split("\n"), start=2):
        size = len(line.encode()) + 1
        if not line.strip():
            offset += size
            continue
        try:
            record = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            if offset + size >= len(raw):  # a last line cut short: not committed
                break
            raise _bad_json(path, exc, n - 1) from None
        if not isinstance(record, dict):
            raise _not_ours(path)
        offset += size
        if "seq" in record:
            out.records += pending
            out.lines += len(pending) + 1
            pending = []
            out.seq, out.size = int(record["seq"]), offset
        else:
            pending.append(record)
    return out


def _lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    for record in records:
        yield json.dumps(record, separators=(", ", ": ")) + "\n"


def append(path: Path, size: int, records: list[dict[str, Any]], seq: int) -> int:
    """Append `records` and their mark after the first `size` bytes (what a cut-short write
    left after them goes); returns the new size."""
    text = "".join(_lines([*records, {"seq": seq}])).encode()
    with path.open("r+b") as handle:
        handle.seek(size)
        if b'\n{"seq":' in b"\n" + handle.read():  # another program committed a write since
            raise UserError(
                f"the local ledger {_where(path)} was written by another program while this "
                "one had it open; nothing was added to it: run the command again"
            )
        handle.truncate(size)
        handle.seek(size)
        handle.write(text)
    return size + len(text)


def rewrite(path: Path, records: Iterable[dict[str, Any]], seq: int) -> tuple[int, int]:
    """The whole ledger afresh, through a temporary file renamed over the old one (mode
    0600); returns its size and its count of lines (not the header)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".ledger-")
    count = size = 0
    with os.fdopen(fd, "wb") as handle:  # mkstemp: mode 0600
        for line in _lines([HEADER, *records, {"seq": seq}]):
            data = line.encode()
            handle.write(data)
            size, count = size + len(data), count + 1
    os.replace(tmp, path)
    return size, count - 1  # not the header
