"""A night on which nothing billing looks at has changed takes the last night's decisions.

Billing is pure (`billing`): the same contracts, rules, milestones, invoice history and as-of
date give the same decisions. The as-of date enters billing only through comparisons with the
dates in those inputs (a milestone's completion or acceptance, a contract's start, a change
order's approval, an invoice's date) and as the date of the documents it plans. So when a night
plans no document, its decisions hold for every as-of date from the last of those dates on or
before it to the day before the first one after it, for as long as the inputs stay the same.

Such a night leaves a `Stamp` (the state cursor `billing`): the digest of the milestones as the
snapshot stores them, the digest of the config's contracts and rules, the release and the state
schema it was made by, the window of as-of dates, and the decisions (skips and notices). Every
write to the business's invoice rows deletes the stamp in the same transaction (`State`), so a
stamp that is there says the rows are the ones it was made over. The next run that finds the
stamp, the same milestones and config and a date inside the window, with nothing in doubt and no
payment pulled, reports the stamp's decisions instead of reading every invoice row and billing
every contract again (a quiet night of 77,000 invoices: seconds). Anything else, and billing runs
as always, over everything: a stamp is never partly reused.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

from connector.config import Config
from connector.models import Contract, Milestone, Notice, Reason, Skip
from connector.sync.delivery import OWED
from connector.sync.outbox import Intent
from connector.sync.report import SyncReport
from connector.sync.state import QUIET_STAMP, State
from connector.sync.state_milestones import Prepared, decisions_digest
from connector.sync.tonight import Tonight

FORMAT = 1
_MILESTONE_DATES = tuple(n for n, t in Milestone.__annotations__.items() if "date" in str(t))


@dataclasses.dataclass(frozen=True)
class Stamp:
    """What a night that planned nothing decided, and over what."""

    inputs: str  # digest of the release, the schema, the config's contracts and rules
    records: str  # digest of the milestones as the snapshot stores them
    since: date | None  # the window of as-of dates the decisions hold for: since <= day
    until: date | None  # day < until
    skipped: list[Skip]
    notices: list[Notice]
    decided: str = ""  # the digest of the skips as the snapshot stores them (`reasons`)

    def holds_on(self, day: date) -> bool:
        return (self.since is None or self.since <= day) and (
            self.until is None or day < self.until
        )

    def to_text(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "inputs": self.inputs,
                "records": self.records,
                "since": _iso(self.since),
                "until": _iso(self.until),
                "skipped": [
                    [s.milestone, s.contract, str(s.reason), s.message] for s in self.skipped
                ],
                "notices": [[n.contract, n.message] for n in self.notices],
                "decided": self.decided,
            }
        )

    @classmethod
    def from_text(cls, text: str) -> Stamp | None:
        """The stamp, or None for one of another format or that cannot be read (billing runs)."""
        data = _parsed(text)
        return None if data is None else _stamp(data)


def _parsed(text: str | None) -> dict[str, Any] | None:
    try:
        data = json.loads(text or "")
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


_REASONS = {str(r): r for r in Reason}


def _stamp(data: dict[str, Any]) -> Stamp | None:
    """The stamp of `data`; its skips are taken out of it as they are read (100,000s)."""
    try:
        raw = data.pop("skipped")
        raw.reverse()
        skipped = []
        while raw:
            m, c, r, t = raw.pop()
            skipped.append(Skip(m, c, _REASONS[r], t))
        return Stamp(
            data["inputs"],
            data["records"],
            _day(data["since"]),
            _day(data["until"]),
            skipped,
            [Notice(c, t) for c, t in data["notices"]],
            data["decided"],
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class Run(Protocol):
    """What this step needs of the run it is a step of."""

    config: Config
    state: State
    report: SyncReport
    as_of: date
    resend: list[Intent]


def recall(run: Run, prepared: Prepared) -> Stamp | None:
    """The last quiet night's stamp when it holds for this night, else None."""
    report = run.report
    if run.resend or report.in_doubt_found or report.payments_pulled or report.failures:
        return None
    data = _parsed(run.state.cursor(QUIET_STAMP))
    if data is None or data.get("records") != prepared.records:
        return None
    if data.get("inputs") != inputs_digest(run.config, run.state):
        return None
    stamp = _stamp(data)
    return stamp if stamp is not None and stamp.holds_on(run.as_of) else None


def remember(
    run: Run, prepared: Prepared, tonight: Tonight, milestones: Sequence[Milestone]
) -> None:
    """Leave a stamp when tonight planned nothing and went cleanly: no document, nothing in
    doubt or to send again, no failure, no email owed. Call it after the night's last write to
    its invoice rows (a later write would delete it) and while the rows are kept."""
    report = run.report
    decisions = tonight.decisions
    if decisions.actions or run.resend or report.failures or report.in_doubt or report.fatal:
        return
    rows = run.state.invoice_rows()
    if any(r.delivery in OWED for r in rows):
        return
    dates = event_dates(run.config.contracts.values(), milestones)
    dates.update(r.invoice_date for r in rows if r.invoice_date is not None)
    since, until = window(sorted(dates), run.as_of)
    stamp = Stamp(
        inputs_digest(run.config, run.state),
        prepared.records,
        since,
        until,
        list(decisions.skipped),
        list(decisions.notices),
        decisions_digest(prepared.ids, reasons(decisions.skipped)),
    )
    run.state.stamp(stamp.to_text())


def reasons(skipped: Iterable[Skip]) -> dict[str, tuple[str, str]]:
    """Each skipped milestone's reason and message, as the snapshot stores them."""
    return {s.milestone: (str(s.reason), s.message) for s in skipped}


class Reasons(Mapping[str, tuple[str, str]]):
    """`reasons(skipped)`, made only when read: a night that takes its stamp compares the
    stamp's digest of them with the snapshot's and reads none."""

    def __init__(self, skipped: Sequence[Skip]):
        self._skipped = skipped
        self._made: dict[str, tuple[str, str]] | None = None

    def _all(self) -> dict[str, tuple[str, str]]:
        if self._made is None:
            self._made = reasons(self._skipped)
        return self._made

    def __getitem__(self, key: str) -> tuple[str, str]:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def event_dates(contracts: Iterable[Contract], milestones: Iterable[Milestone]) -> set[date]:
    """Every date billing compares the as-of date with, but the invoices' own."""
    found: set[date] = set()
    for c in contracts:
        if c.start is not None:
            found.add(c.start)
        found.update(co.approved for co in c.change_orders)
    for m in milestones:
        for name in _MILESTONE_DATES:
            value = getattr(m, name)
            if value is not None:
                found.add(value)
    return found


def window(dates: Sequence[date], day: date) -> tuple[date | None, date | None]:
    """The last of `dates` on or before `day`, and the first after it (None: no such date)."""
    at = bisect.bisect_right(dates, day)
    return (dates[at - 1] if at else None), (dates[at] if at < len(dates) else None)


def inputs_digest(config: Config, state: State) -> str:
    """The release, the state schema, the contracts and the billing rules, hashed: a new
    release or a config change bills again."""
    contracts: Mapping[str, Contract] = config.contracts
    text = repr((_release(), state.version(), sorted(contracts.items()), config.rules))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _release() -> str:
    try:
        return version("milestone-connector")
    except PackageNotFoundError:
        return "unknown"


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)
