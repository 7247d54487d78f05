"""Shared pieces of the tracker source tests: one sandbox per tracker for the session, and a
`tracker` object (the Source conformance fixture) that acts on it the way a person would."""

from __future__ import annotations

import shutil
import time
from datetime import date
from pathlib import Path
from typing import Any

from connector import config as config_mod
from connector.adapters.local import MemoryLedger
from connector.sources.http import MemoryHttpCache
from connector.sources.tokens import save_token
from connector.sync import run_once
from connector.sync.report import SyncReport
from connector.testing.source import RECORDS
from connector_sandbox.trackers_demo import TrackerDemo

BUSINESS = "Northwind Studio"


class Tracker:
    """`source`, `seed`, `edit`, `break_one`: what SourceConformance needs."""

    def __init__(self, sandbox: Any, person: Any, source: Any):
        self.sandbox = sandbox
        self.person = person
        self.source = source

    def seed(self, records: list[dict[str, Any]]) -> None:
        self.person.seed(records)

    def edit(self, mid: str, **fields: Any) -> None:
        self.person.edit(mid, **fields)

    def break_one(self, mid: str) -> None:
        self.person.break_one(mid)


def a_429_is_waited_out(tracker: Tracker, match: str) -> None:
    """One 429 on the requests `match` finds: the read waits as Retry-After (1 s) says, then
    returns every milestone, and the tracker answered 429 once."""
    tracker.seed(RECORDS)
    tracker.sandbox.faults.throttle(1, match=match)
    started = time.monotonic()
    assert len(tracker.source.read(None).milestones) == 3
    assert time.monotonic() - started >= 1.0 and tracker.sandbox.statuses[429] == 1


class DictCache(MemoryHttpCache):
    """Stands in for `State.http_cache`; counts what was stored."""

    def __init__(self) -> None:
        super().__init__()
        self.puts = 0

    def put(self, key: str, etag: str, body: str) -> None:
        self.puts += 1
        super().put(key, etag, body)


def connect(kind: str, token: str, user: str = "", business: str = BUSINESS) -> None:
    save_token(business, kind, token, user)


# -- the demo: a tracker bills exactly what the milestones file bills ---------------------------

AS_OF = date(2026, 11, 26)
LOCAL_LEDGER = '[ledger]\nkind = "local"\npath = "ledger.json"\n'


def business_config(root: Path, tracker_section: str) -> Path:
    """The bundled example business with `tracker_section` and the local ledger."""
    from connector.demo import EXAMPLE

    text = (EXAMPLE / "business.toml").read_text()
    text = text.replace("{tracker}", tracker_section).replace("{ledger}", LOCAL_LEDGER)
    root.mkdir(parents=True, exist_ok=True)
    (root / "business.toml").write_text(text)
    shutil.copy(EXAMPLE / "milestones.toml", root / "milestones.toml")
    return root / "business.toml"


def invoices(ledger: MemoryLedger) -> list[tuple[object, ...]]:
    return sorted(
        (d.reference, d.customer, d.currency, d.date, d.due_date, d.total, tuple(d.lines))
        for d in ledger.docs.values()
    )


def sync(path: Path, ledger: MemoryLedger, **kw: Any) -> SyncReport:
    """One run of the business in `path` (`source=`, `checkpoint=` go to run_once)."""
    return run_once(config_mod.load(path), as_of=AS_OF, ledger=ledger, **kw)


def billed(*reports: SyncReport) -> list[str]:
    """The milestones on the invoices these runs created, one entry per invoice line-up."""
    return sorted(m for r in reports for row, _ in r.created for m in row.milestones)


def demo_bills_like_the_file(kind: str, root: Path) -> tuple[list, list, SyncReport]:
    """(invoices from the file, invoices from the tracker sandbox, the tracker run's report)."""
    from connector.demo import EXAMPLE

    file_ledger, tracker_ledger = MemoryLedger(), MemoryLedger()
    file_section = '[tracker]\nkind = "file"\npath = "milestones.toml"\n'
    sync(business_config(root / "file", file_section), file_ledger)
    with TrackerDemo(kind) as demo:
        path = business_config(root / kind, demo.tracker_section(EXAMPLE / "milestones.toml"))
        demo.connect(config_mod.load(path).business.name)
        report = sync(path, tracker_ledger)
    return invoices(file_ledger), invoices(tracker_ledger), report
