"""A milestones CSV read one contract at a time, for a plan of a million milestones.

`FileSource.read` holds every milestone at once: about 500 bytes each, half a gigabyte at a
million. `connector plan --json` only needs one contract's milestones at a time, so this
reader scans the file once for where each contract's records are (byte ranges, 24 bytes a
record) and which ids occur twice, then reads each contract's records when asked, through the
same record reader and with the same messages as `FileSource.read`.

Anything the scan does not expect (a header the whole read refuses, a cell it cannot parse, a
line ended by a lone carriage return, text that is not UTF-8) makes `scan` return None: the
caller then reads the file whole, which says what is wrong in its own words.
"""

from __future__ import annotations

import csv
import io
import os
from array import array
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from connector.errors import FatalTrackerError
from connector.models import InvalidMilestone, Milestone
from connector.sources.file import FIELDS, cleaned_cells, record_or_invalid

BOM = b"\xef\xbb\xbf"
_KNOWN = frozenset(FIELDS)


class _NotStreamable(Exception):
    """The file needs the whole read (which explains the problem itself)."""


@dataclass(slots=True)
class _Runs:
    """Where one contract's records are: runs of adjacent records, as byte offsets and the
    line each run starts on (a sorted file has one run per contract)."""

    starts: array[int] = field(default_factory=lambda: array("q"))
    ends: array[int] = field(default_factory=lambda: array("q"))
    lines: array[int] = field(default_factory=lambda: array("q"))

    def add(self, start: int, end: int, line: int) -> None:
        if self.ends and self.ends[-1] == start:
            self.ends[-1] = end
        else:
            self.starts.append(start)
            self.ends.append(end)
            self.lines.append(line)


@dataclass(frozen=True, slots=True)
class GroupRead:
    """One contract's records, each with the line it starts on (the file's order)."""

    milestones: list[tuple[int, Milestone]]
    invalid: list[tuple[int, InvalidMilestone]]


class ContractGroups:
    """The scanned file: `keys` are the contract cells in order of first appearance (None
    for records with none), `read(key)` that contract's records. It reads through the very
    handle it scanned (a file renamed over this one meanwhile is not read), and refuses to
    go on when that file was written to since (`FatalTrackerError`): a plan is of one
    version of the file, as the whole read's. Use as a context manager: it closes the file."""

    def __init__(
        self,
        path: Path,
        file: BinaryIO,
        columns: list[str],
        runs: dict[str | None, _Runs],
        twice: dict[str, list[str]],
    ):
        self.path = path
        self.columns = columns
        self._file = file
        self._stamp = _stamp(file)
        self._runs = runs
        self._twice = twice  # id -> every place it is used, for the ids used more than once

    @property
    def keys(self) -> list[str | None]:
        return list(self._runs)

    def __enter__(self) -> ContractGroups:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def read(self, key: str | None) -> GroupRead:
        runs = self._runs[key]
        milestones: list[tuple[int, Milestone]] = []
        invalid: list[tuple[int, InvalidMilestone]] = []
        for start, end, first in zip(runs.starts, runs.ends, runs.lines, strict=True):
            self._file.seek(start)
            raw = self._file.read(end - start)
            changed = _stamp(self._file) != self._stamp
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:  # it was UTF-8 when scanned
                changed = True
            if changed:
                raise FatalTrackerError(
                    f"{self.path}: the milestones file changed while the plan read it; run "
                    "the plan again once it is written"
                )
            for line, record in _records(text, first, self.columns):
                where = f"{self.path.name}, line {line}"
                made = record_or_invalid(record, where, self._twice)
                if isinstance(made, Milestone):
                    milestones.append((line, made))
                else:
                    invalid.append((line, made))
        return GroupRead(milestones, invalid)


def _stamp(file: BinaryIO) -> tuple[int, int]:
    """What a write to the open file changes: its size and modification time (not its
    change time, which a file renamed over it changes too)."""
    st = os.fstat(file.fileno())
    return st.st_size, st.st_mtime_ns


def _records(text: str, first: int, columns: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """The non-blank records of a run, as `FileSource._records_csv` makes them."""
    reader = csv.reader(io.StringIO(text, newline=""))
    end = first - 1
    for cells in reader:
        start, end = end + 1, first - 1 + reader.line_num
        if not cells:
            continue
        cleaned = cleaned_cells(columns, cells)
        if cleaned:
            yield start, cleaned


def scan(path: Path) -> ContractGroups | None:
    """Where each contract's records are, or None when the file must be read whole."""
    try:
        f = path.open("rb")
    except OSError:
        return None
    try:
        before = _stamp(f)
        scanned = _scan(f)
        if scanned is not None:
            columns, runs, twice = scanned
            places = {}
            if twice:
                f.seek(0)
                places = _places(f, path, columns, twice)
            if _stamp(f) == before:  # else written to while scanned: read it whole
                return ContractGroups(path, f, columns, runs, places)
    except (OSError, _NotStreamable, csv.Error, UnicodeDecodeError):
        pass
    f.close()
    return None


def _lines(f: BinaryIO, at: list[int]) -> Iterator[str]:
    """The file's lines as text, `at[0]` the offset after the last one handed out. A lone
    carriage return ends a line for the whole read's reader but not here: such a file is
    read whole."""
    first = True
    for raw in f:
        if first:
            first = False
            if raw.startswith(BOM):
                at[0] += len(BOM)
                raw = raw[len(BOM) :]
        cr = raw.find(b"\r")
        if cr != -1 and not (cr == len(raw) - 2 and raw.endswith(b"\r\n")):
            raise _NotStreamable
        at[0] += len(raw)
        yield raw.decode("utf-8")


def _scan(f: BinaryIO) -> tuple[list[str], dict[str | None, _Runs], set[int]] | None:
    """The header, each contract's runs, and the hashes of the ids seen more than once (a
    hash, not the id: a million ids would take 60 MB; `_places` then finds the real ones)."""
    at = [0]
    reader = csv.reader(_lines(f, at))
    columns: list[str] | None = None
    runs: dict[str | None, _Runs] = defaultdict(_Runs)
    seen: set[int] = set()
    twice: set[int] = set()
    before = 0  # the offset where the next row starts
    end_line = 0
    last: _Runs | None = None
    at_contract = at_id = 0  # the columns of the contract and the id, once the header is read
    for cells in reader:
        start_line, end_line = end_line + 1, reader.line_num
        start, before = before, at[0]
        if columns is None:
            if not cells:
                continue
            if any(c not in _KNOWN for c in cells) or len(set(cells)) != len(cells):
                return None  # the whole read refuses the header, in its own words
            columns = cells
            # where the contract and the id are (past the last cell when there is no such
            # column: every record then lacks it)
            at_contract, at_id = (
                cells.index(key) if key in cells else len(cells) for key in ("contract", "id")
            )
            continue
        if not cells:
            if last is not None:  # a blank line joins the run before it, so runs stay whole
                last.add(start, before, start_line)
            continue
        if len(cells) > len(columns):
            return None
        # the two cells `cleaned_cells` would give, without the record of every cell
        contract = cells[at_contract].strip() if at_contract < len(cells) else ""
        mid = cells[at_id].strip() if at_id < len(cells) else ""
        if not (contract or mid or any(map(str.strip, cells))):  # a row of blank cells
            if last is not None:
                last.add(start, before, start_line)
            continue
        last = runs[contract or None]
        last.add(start, before, start_line)
        if mid:
            h = hash(mid)
            if h in seen:
                twice.add(h)
            else:
                seen.add(h)
    if columns is None:
        return None  # an empty file: nothing to stream
    return columns, dict(runs), twice


def _places(f: BinaryIO, path: Path, columns: list[str], twice: set[int]) -> dict[str, list[str]]:
    """Where each id whose hash was seen twice is used, for the ones used more than once:
    the duplicate-id message names every other place."""
    at = [0]
    reader = csv.reader(_lines(f, at))
    places: dict[str, list[str]] = defaultdict(list)
    end_line = 0
    header = True
    for cells in reader:
        start_line, end_line = end_line + 1, reader.line_num
        if not cells:
            continue
        if header:
            header = False
            continue
        cleaned = cleaned_cells(columns, cells)
        mid = cleaned.get("id")
        if mid and hash(mid) in twice:
            places[mid].append(f"{path.name}, line {start_line}")
    return {mid: where for mid, where in places.items() if len(where) > 1}
