"""The file tracker: milestones in a TOML or CSV file beside the config.

One bad record becomes an `InvalidMilestone` naming the file and line; a file that cannot be
read or parsed at all is a `SourceError` (the run cannot know what it would miss).
"""

from __future__ import annotations

import csv
import hashlib
import re
import tomllib
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from connector.errors import SourceError
from connector.models import InvalidMilestone, Milestone, Status
from connector.money import MoneyError, parse_decimal, parse_percent
from connector.sources.base import SourceBatch
from connector.validation import IsoDate, problems_from

_HEADER = re.compile(r"^\s*\[\[\s*milestones\s*\]\]")


class MilestoneRecord(BaseModel):
    """One milestone as written in the file."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    contract: str = Field(min_length=1)
    title: str = ""
    percent: Any = None  # read by connector.money: no float, no bool
    amount: Any = None
    status: Literal["open", "done", "cancelled"] = "open"
    completed: IsoDate | None = None
    accepted: IsoDate | None = None
    terms_days: int | None = Field(default=None, ge=0, le=3650)

    @field_validator("id", "contract", "title", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value


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
            raise SourceError(f"{self.path}: milestones file not found") from None
        except OSError as exc:
            raise SourceError(f"{self.path}: cannot read the milestones file: {exc}") from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SourceError(f"{self.path}: not UTF-8 text ({exc.reason})") from None
        records = (
            self._records_csv(text)
            if self.path.suffix.lower() == ".csv"
            else self._records_toml(text)
        )
        milestones, invalid = self._parse(records)
        return SourceBatch(milestones, invalid, hashlib.sha256(raw).hexdigest(), complete=True)

    def _records_toml(self, text: str) -> list[tuple[int, dict[str, Any]]]:
        try:
            data = tomllib.loads(text, parse_float=Decimal)
        except tomllib.TOMLDecodeError as exc:
            raise SourceError(f"{self.path}: not valid TOML: {exc}") from None
        extra = sorted(set(data) - {"milestones"})
        if extra:
            raise SourceError(
                f"{self.path}: unknown top-level key {extra[0]!r}; "
                "expected only [[milestones]] tables"
            )
        items = data.get("milestones", [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise SourceError(f"{self.path}: 'milestones' must be [[milestones]] tables")
        lines = [n for n, line in enumerate(text.splitlines(), 1) if _HEADER.match(line)]
        if len(lines) != len(items):  # inline arrays of tables: fall back to the index
            lines = [0] * len(items)
        return list(zip(lines, items, strict=True))

    def _records_csv(self, text: str) -> list[tuple[int, dict[str, Any]]]:
        reader = csv.DictReader(text.splitlines())
        columns = reader.fieldnames or []
        known = set(MilestoneRecord.model_fields)
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise SourceError(
                f"{self.path}, line 1: unknown column {unknown[0]!r}; "
                f"expected columns among: {', '.join(MilestoneRecord.model_fields)}"
            )
        out = []
        for row in reader:
            if None in row:
                raise SourceError(f"{self.path}, line {reader.line_num}: more cells than columns")
            cleaned = {k: v.strip() for k, v in row.items() if v is not None and v.strip() != ""}
            if cleaned:
                out.append((reader.line_num, cleaned))
        return out

    def _where(self, line: int, index: int) -> str:
        return f"{self.path.name}, line {line}" if line else f"{self.path.name}, milestone #{index}"

    def _parse(
        self, records: list[tuple[int, dict[str, Any]]]
    ) -> tuple[list[Milestone], list[InvalidMilestone]]:
        places: dict[str, list[str]] = defaultdict(list)  # id -> where each record with it is
        for index, (line, record) in enumerate(records, 1):
            places[str(record.get("id", "")).strip()].append(self._where(line, index))
        milestones: list[Milestone] = []
        invalid: list[InvalidMilestone] = []
        for index, (line, record) in enumerate(records, 1):
            where = self._where(line, index)
            mid = str(record.get("id", "")).strip() or None
            contract = str(record.get("contract", "")).strip() or None
            problems = []
            if mid and len(places[mid]) > 1:
                others = [p.split(", ", 1)[1] for p in places[mid] if p != where]
                problems.append(
                    f"duplicate id {mid!r}, also used at {', '.join(others)}; "
                    "ids must be unique, so none of them is billed"
                )
            milestone = None
            try:
                milestone = _to_milestone(MilestoneRecord.model_validate(record), where)
            except ValidationError as exc:
                problems += problems_from(exc, MilestoneRecord)
            except (MoneyError, ValueError) as exc:
                problems.append(str(exc))
            if problems or milestone is None:
                label = f"milestone {mid}" if mid else "a milestone without an id"
                invalid.append(
                    InvalidMilestone(
                        mid, contract, f"{where}: {label}: {'; '.join(problems)}", where
                    )
                )
            else:
                milestones.append(milestone)
        return milestones, invalid


def _to_milestone(r: MilestoneRecord, where: str) -> Milestone:
    if (r.percent is None) == (r.amount is None):
        raise ValueError("give exactly one of percent or amount")
    try:
        percent = parse_percent(r.percent) if r.percent is not None else None
    except MoneyError as exc:
        raise ValueError(f"percent: {exc}") from None
    try:
        amount = parse_decimal(r.amount, "an amount") if r.amount is not None else None
    except MoneyError as exc:
        raise ValueError(f"amount: {exc}") from None
    if amount is not None and amount < 0:
        raise ValueError(f"amount: expected zero or more, got {r.amount!r}")
    status = Status(r.status)
    if status is Status.DONE and r.completed is None:
        raise ValueError("status is done but completed is missing; add completed = YYYY-MM-DD")
    return Milestone(
        id=r.id,
        contract=r.contract,
        title=r.title,
        percent=percent,
        amount=amount,
        status=status,
        completed=r.completed,
        accepted=r.accepted,
        terms_days=r.terms_days,
        where=where,
    )


class FileSourcePlugin:
    name = "file"
    settings = FileSourceSettings

    def create(self, settings: FileSourceSettings, base_dir: Path) -> FileSource:
        return FileSource((base_dir / settings.path).resolve())
