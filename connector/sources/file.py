"""The file tracker: milestones in a TOML or CSV file beside the config.

One bad record becomes an `InvalidMilestone` naming the file and line; a file that cannot be
read or parsed at all is a `FatalTrackerError` (the run cannot know what it would miss).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import tomllib
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connector.errors import FatalTrackerError
from connector.models import InvalidMilestone, Milestone, Status
from connector.money import HUNDRED, MoneyError, parse_decimal, parse_percent
from connector.perf import paused_gc
from connector.plugins import PluginContext
from connector.sources.base import SourceBatch
from connector.validation import unsafe_character

if TYPE_CHECKING:
    from connector.sources.file_groups import ContractGroups

_HEADER = re.compile(r"^\s*\[\[\s*milestones\s*\]\]")
_SUSPECT = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


# The keys a milestone may have. Records are read by hand rather than through pydantic: a file of
# 100,000 milestones is read several times faster, and every message here is written for people.
FIELDS = (
    "id",
    "contract",
    "title",
    "percent",
    "amount",
    "status",
    "completed",
    "accepted",
    "terms_days",
    "planned",
)
_KNOWN = frozenset(FIELDS)
_STATUSES = {s.value: s for s in Status}


def _text(record: dict[str, Any], key: str, problems: list[str], *, required: bool) -> str:
    value = record.get(key)
    if isinstance(value, str):
        value = value.strip()
        if value:
            # ids and titles reach the ledger and the bookkeeper's screen; a title may hold a
            # tab. The pattern finds every character `unsafe_character` might refuse, in C:
            # only text holding one is looked at character by character.
            if _SUSPECT.search(value) is None:
                return value
            unsafe = unsafe_character(value, allow_tab=key == "title")
            if unsafe:
                problems.append(f"{key}: {unsafe}")
                return ""
            return value
    elif value is not None:
        problems.append(f"{key}: expected text in quotes, got {value!r}")
        return ""
    if required:  # missing, or only spaces
        problems.append(f"{key}: required key is missing")
    return ""


def shown_id(mid: str) -> str:
    """An id as it may be printed: escaped when it holds a character refused above."""
    return mid if unsafe_character(mid) is None else ascii(mid)


def _date(record: dict[str, Any], key: str, problems: list[str]) -> date | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    if type(value) is date:
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    problems.append(f"{key}: expected a date like 2026-09-20, got {value!r}")
    return None


def _terms(record: dict[str, Any], problems: list[str]) -> int | None:
    value = record.get("terms_days")
    if value is None or value == "":
        return None
    text = value.strip() if isinstance(value, str) else ""
    # "²" is a digit int() refuses, and 5,000 nines a number it will not read: neither is
    # a number of days
    if text.isdecimal() and len(text.lstrip("0")) <= 4:
        value = int(text)
    if type(value) is not int or not 0 <= value <= 3650:
        problems.append(
            f"terms_days: expected a whole number of days from 0 to 3650, got {value!r}"
        )
        return None
    return value


def _number(record: dict[str, Any], key: str, parse: Any, problems: list[str]) -> Decimal | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    try:
        return parse(value)
    except MoneyError as exc:
        problems.append(f"{key}: {exc}")
        return None


def _amount(raw: object) -> Decimal:
    value = parse_decimal(raw, "an amount")
    if value < 0:
        raise MoneyError(f"expected zero or more, got {raw!r}")
    return value


def read_record(record: dict[str, Any], where: str, problems: list[str]) -> Milestone | None:
    """A milestone from one record, or None with every problem appended to `problems`."""
    if not _KNOWN.issuperset(record):
        unknown = [key for key in record if key not in _KNOWN]
        problems.append(f"unknown key {unknown[0]!r}; expected one of: {', '.join(FIELDS)}")
    mid = _text(record, "id", problems, required=True)
    contract = _text(record, "contract", problems, required=True)
    title = _text(record, "title", problems, required=False)
    percent = _number(record, "percent", parse_percent, problems)
    amount = _number(record, "amount", _amount, problems)
    if (record.get("percent") in (None, "")) == (record.get("amount") in (None, "")):
        problems.append("give exactly one of percent or amount")
    raw_status = record.get("status", "open")
    status = _STATUSES.get(raw_status.strip() if isinstance(raw_status, str) else raw_status)
    if status is None:
        problems.append(f"status: expected open, done or cancelled, got {raw_status!r}")
    before = len(problems)
    completed = _date(record, "completed", problems)
    completed_refused = len(problems) > before
    accepted = _date(record, "accepted", problems)
    terms = _terms(record, problems)
    planned = _date(record, "planned", problems)
    if status is Status.DONE and completed is None and not completed_refused:
        # `completed = ""` is no date either: the same as an empty cell in a CSV
        said = "missing" if "completed" not in record else "empty"
        problems.append(f"status is done but completed is {said}; add completed = YYYY-MM-DD")
    if problems:
        return None
    return Milestone(
        mid,
        contract,
        title,
        percent,
        amount,
        status or Status.OPEN,
        completed,
        accepted,
        terms,
        where,
        planned=planned,
    )


class FileSourceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="milestones file, .toml or .csv, relative to the config file")

    @field_validator("path")
    @classmethod
    def _suffix(cls, value: str) -> str:
        if Path(value).suffix.lower() not in (".toml", ".csv"):
            raise ValueError(f"expected a .toml or .csv file, got {value!r}")
        return value


class FileSource:
    name = "file"

    def __init__(self, path: Path):
        self.path = path

    def read(self, cursor: str | None) -> SourceBatch:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise FatalTrackerError(f"{self.path}: milestones file not found") from None
        except OSError as exc:
            raise FatalTrackerError(
                f"{self.path}: cannot read the milestones file: {exc}"
            ) from None
        cursor = hashlib.sha256(raw).hexdigest()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FatalTrackerError(f"{self.path}: not UTF-8 text ({exc.reason})") from None
        del raw  # only the text is needed from here; a big file need not be held twice
        with paused_gc():
            is_csv = self.path.suffix.lower() == ".csv"
            records = self._records_csv(text) if is_csv else self._records_toml(text)
            milestones, invalid = self._parse(records)
        return SourceBatch(milestones, invalid, cursor, complete=True)

    def by_contract(self) -> ContractGroups | None:
        """The file one contract at a time (`file_groups`): a CSV only, TOML is read whole."""
        if self.path.suffix.lower() != ".csv":
            return None
        from connector.sources.file_groups import scan

        return scan(self.path)

    def _records_toml(self, text: str) -> list[tuple[int, dict[str, Any]]]:
        try:
            data = tomllib.loads(text, parse_float=Decimal)
        except tomllib.TOMLDecodeError as exc:
            raise FatalTrackerError(f"{self.path}: not valid TOML: {exc}") from None
        extra = sorted(set(data) - {"milestones"})
        if extra:
            raise FatalTrackerError(
                f"{self.path}: unknown top-level key {extra[0]!r}; "
                "expected only [[milestones]] tables"
            )
        items = data.get("milestones", [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise FatalTrackerError(f"{self.path}: 'milestones' must be [[milestones]] tables")
        # TOML lines end at a line feed only; str.splitlines() would also split at U+2028 etc.
        lines = [n for n, line in enumerate(text.split("\n"), 1) if _HEADER.match(line)]
        if len(lines) != len(items):  # inline arrays of tables: fall back to the index
            lines = [0] * len(items)
        return list(zip(lines, items, strict=True))

    def _records_csv(self, text: str) -> list[tuple[int, dict[str, Any]]]:
        """(first line, cells) of each record. A record whose quoted cell holds a line break
        spans several lines; it is reported at the line it starts on."""
        reader = csv.reader(io.StringIO(text, newline=""))
        rows = self._csv_rows(reader)
        if not rows:
            return []
        header_line, columns = rows[0]
        known = set(FIELDS)
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise FatalTrackerError(
                f"{self.path}, line {header_line}: unknown column {unknown[0]!r}; "
                f"expected columns among: {', '.join(FIELDS)}"
            )
        seen: dict[str, int] = {}
        for number, column in enumerate(columns, 1):
            if column in seen:
                raise FatalTrackerError(
                    f"{self.path}, line {header_line}: column {column!r} appears twice "
                    f"(columns {seen[column]} and {number}); keep one, so no value is ignored"
                )
            seen[column] = number
        out = []
        for line, cells in rows[1:]:
            if len(cells) > len(columns):
                raise FatalTrackerError(f"{self.path}, line {line}: more cells than columns")
            cleaned = cleaned_cells(columns, cells)
            if cleaned:
                out.append((line, cleaned))
        return out

    def _csv_rows(self, reader: Any) -> list[tuple[int, list[str]]]:
        """Every non-blank row with the line it starts on; a row the csv module cannot read
        (a cell over its size limit, usually a quote never closed) stops the read there."""
        rows: list[tuple[int, list[str]]] = []
        end = 0  # the last line of the previous row
        while True:
            start = end + 1
            try:
                cells = next(reader)
            except StopIteration:
                return rows
            except csv.Error as exc:
                limit = csv.field_size_limit()
                why = (
                    f"a cell is longer than {limit:,} characters, the most a CSV cell may "
                    'hold; is a quote (") opened on this line and never closed?'
                    if "field limit" in str(exc)
                    else f"not valid CSV ({exc})"
                )
                raise FatalTrackerError(f"{self.path}, line {start}: {why}") from None
            end = reader.line_num
            if cells:
                rows.append((start, cells))

    def _where(self, line: int, index: int) -> str:
        return f"{self.path.name}, line {line}" if line else f"{self.path.name}, milestone #{index}"

    def _parse(
        self, records: list[tuple[int, dict[str, Any]]]
    ) -> tuple[list[Milestone], list[InvalidMilestone]]:
        wheres = [self._where(line, index) for index, (line, _) in enumerate(records, 1)]
        ids = [str(record.get("id", "")).strip() for _, record in records]
        counts = Counter(ids)
        places: dict[str, list[str]] = defaultdict(list)  # an id used twice -> where each is
        for mid, where in zip(ids, wheres, strict=True):
            if counts[mid] > 1:
                places[mid].append(where)
        milestones: list[Milestone] = []
        invalid: list[InvalidMilestone] = []
        for (_, record), where in zip(records, wheres, strict=True):
            made = record_or_invalid(record, where, places)
            if isinstance(made, Milestone):
                milestones.append(made)
            else:
                invalid.append(made)
        return milestones, invalid


def plain_record(record: dict[str, Any], where: str) -> Milestone | None:
    """The milestone of a record `read_record` takes without a word (text ids and titles with
    no character to look at, one number in range, a known status, ISO dates), built the same;
    None for any other, which `read_record` then reads and explains. A CSV row's cells are
    text, already stripped (`cleaned_cells`): most records of a large file are read here, in
    a third of the time (a test holds the two to the same milestones)."""
    get = record.get
    mid, contract, title = get("id"), get("contract"), get("title", "")
    if (
        type(mid) is not str
        or type(contract) is not str
        or type(title) is not str
        or not _KNOWN.issuperset(record)
    ):
        return None
    for text in (mid, contract, title):
        if text != text.strip() or _SUSPECT.search(text) is not None:
            return None
    if not mid or not contract:
        return None
    raw_percent, raw_amount = get("percent"), get("amount")
    percent = amount = None
    if raw_percent is not None:
        if raw_amount is not None or type(raw_percent) is not str:
            return None
        if not _PLAIN_NUMBER.match(raw_percent):
            return None
        percent = Decimal(raw_percent)
        if percent > HUNDRED:
            return None
    elif type(raw_amount) is str and _PLAIN_NUMBER.match(raw_amount):
        amount = Decimal(raw_amount)
    else:
        return None
    raw_status = get("status", "open")
    status = _STATUSES.get(raw_status) if type(raw_status) is str else None
    completed, accepted, planned = get("completed"), get("accepted"), get("planned")
    try:
        completed = None if completed is None else date.fromisoformat(completed)
        accepted = None if accepted is None else date.fromisoformat(accepted)
        planned = None if planned is None else date.fromisoformat(planned)
    except (TypeError, ValueError):
        return None
    terms = get("terms_days")
    if terms is not None:
        if type(terms) is not str or not (terms.isascii() and terms.isdigit()) or len(terms) > 4:
            return None
        terms = int(terms)
        if terms > 3650:
            return None
    if status is None or (status is Status.DONE and completed is None):
        return None
    currency = None  # a file's amounts are in the contract's currency
    fields = (mid, contract, title, percent, amount, status, completed, accepted, terms, where)
    return Milestone(*fields, currency, planned)


# What `plain_record` reads as a number: the ASCII digits `parse_decimal` takes, with no sign, no
# spaces and no "%" (`parse_percent` strips one), so never below zero.
_PLAIN_NUMBER = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,6})?\Z")


def cleaned_cells(columns: list[str], cells: list[str]) -> dict[str, str]:
    """A CSV row as a record: each cell under its column, stripped, the empty ones left out
    (a row shorter than the header has no more)."""
    return {k: text for k, cell in zip(columns, cells, strict=False) if (text := cell.strip())}


def record_or_invalid(
    record: dict[str, Any], where: str, places: Mapping[str, list[str]]
) -> Milestone | InvalidMilestone:
    """One record of the file as a milestone, or as the invalid one that says why. `places`
    lists where each id used more than once is (a duplicate id is none of its records' to
    bill); an id it lacks is used once."""
    plain = plain_record(record, where)
    if plain is not None and plain.id not in places:  # not a duplicate id
        return plain
    problems: list[str] = []
    mid = str(record.get("id", "")).strip() or None
    used = places.get(mid, ()) if mid else ()
    if len(used) > 1:
        others = [p.split(", ", 1)[1] for p in used if p != where]
        problems.append(
            f"duplicate id {mid!r}, also used at {', '.join(others)}; "
            "ids must be unique, so none of them is billed"
        )
    milestone = read_record(record, where, problems)
    if milestone is not None and not problems:
        return milestone
    label = f"milestone {shown_id(mid)}" if mid else "a milestone without an id"
    contract = str(record.get("contract", "")).strip() or None
    return InvalidMilestone(mid, contract, f"{where}: {label}: {'; '.join(problems)}", where)


class FileSourcePlugin:
    name = "file"
    label = "Milestones file"
    rank = 0
    settings = FileSourceSettings

    def create(self, settings: FileSourceSettings, context: PluginContext) -> FileSource:
        return FileSource((context.base_dir / settings.path).resolve())
