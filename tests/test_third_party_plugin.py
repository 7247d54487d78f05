"""A ledger and a tracker from a package of their own, as a third party would ship them.

`abacus_books` is written to a temporary folder with a dist-info beside it that registers it under
the entry-point groups, so `importlib.metadata` finds it as if it had been installed: nothing in
`connector/` names it. It passes the shipped conformance suites (`connector.testing`), and the
real CLI plans, syncs, reports and checks a business whose ledger and tracker are its kinds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connector import plugins
from connector.testing.ledger import LedgerConformance
from connector.testing.source import SourceConformance
from tests.cli_support import run_cli

# The whole plugin: what a third party writes, importing only the connector's public types.
ABACUS_BOOKS = '''
"""Abacus Books: a ledger in a JSON file and a tracker reading milestones from a JSON file."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from connector.adapters.base import (
    CustomerRef, PaymentChanges, PushResult, RemoteInvoice, RemotePayment, RemoteStatus,
)
from connector.errors import FatalTrackerError, SkippableLedgerError
from connector.models import InvalidMilestone, Kind, Milestone, Status
from connector.sources.base import SourceBatch


class PathSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str


class AbacusLedger:
    name = "abacus"
    batch_size = 5

    def __init__(self, path):
        self.path = Path(path)

    def _load(self):
        if not self.path.exists():
            return {"seq": 0, "customers": {}, "keys": {}, "docs": {}}
        return json.loads(self.path.read_text())

    def _save(self, books):
        self.path.write_text(json.dumps(books, indent=1))

    def _remote(self, d):
        paid = sum((Decimal(p[1]) for p in d["payments"]), Decimal(0))
        total = Decimal(d["total"])
        balance = Decimal(0) if d["voided"] else total - paid
        if d["voided"]:
            status = RemoteStatus.VOIDED
        elif balance <= 0:
            status = RemoteStatus.PAID
        elif paid:
            status = RemoteStatus.PARTIALLY_PAID
        else:
            status = RemoteStatus.OPEN
        payments = tuple(
            RemotePayment(p[0], Decimal(p[1]), date.fromisoformat(p[2])) for p in d["payments"]
        )
        return RemoteInvoice(
            d["id"], d["number"], d["reference"], d["currency"], total, balance, status,
            d["credit"], payments,
        )

    def find_or_create_customer(self, name, currency):
        books = self._load()
        found = books["customers"].get(name.casefold())
        if found is None:
            found = books["customers"][name.casefold()] = [f"A{len(books['customers'])}", currency]
            self._save(books)
        elif found[1] != currency:
            raise SkippableLedgerError(f"{name} keeps its books in {found[1]}, not {currency}")
        return CustomerRef(found[0], name, currency)

    def create_invoices(self, requests):
        books = self._load()
        results = []
        for r in requests:
            if r.key not in books["keys"]:
                books["seq"] += 1
                credit = r.is_credit_note
                doc = {
                    "id": str(len(books["docs"]) + 1),
                    "number": f"AB-{len(books['docs']) + 1:04d}",
                    "reference": r.reference,
                    "customer": r.customer.name,
                    "currency": r.currency,
                    "date": r.date.isoformat(),
                    "total": str(-r.total if credit else r.total),
                    "credit": credit,
                    "voided": False,
                    "payments": [],
                    "changed": books["seq"],
                }
                books["docs"][doc["id"]] = doc
                books["keys"][r.key] = doc["id"]
            results.append(PushResult(r.key, self._remote(books["docs"][books["keys"][r.key]])))
        self._save(books)
        return results

    def find_invoices(self, references):
        docs = self._load()["docs"].values()
        return {d["reference"]: self._remote(d) for d in docs if d["reference"] in references}

    def void_invoice(self, ledger_id, key):
        books = self._load()
        d = books["docs"][ledger_id]
        if d["payments"]:
            raise SkippableLedgerError(f"{d['number']} has payments and cannot be voided")
        if not d["voided"]:
            books["seq"] += 1
            d["voided"], d["changed"] = True, books["seq"]
            self._save(books)
        return self._remote(d)

    def payment_changes(self, cursor):
        books = self._load()
        since = int(cursor or 0)
        changed = [self._remote(d) for d in books["docs"].values() if d["changed"] > since]
        return PaymentChanges(changed, str(books["seq"]))

    # optional ability (connector.adapters.base.SelfChecking): `connector doctor` says this
    def check(self):
        return f"Abacus Books at {self.path.name}: {len(self._load()['docs'])} document(s)"

    # what the customer does in Abacus Books, not part of the adapter
    def record_payment(self, ledger_id, amount, on):
        books = self._load()
        books["seq"] += 1
        d = books["docs"][ledger_id]
        d["payments"].append([f"P{books['seq']}", str(amount), on.isoformat()])
        d["changed"] = books["seq"]
        self._save(books)


class AbacusLedgerPlugin:
    name = "abacus"
    label = "Abacus Books"  # optional (connector.plugins.HasLabel): how people call it
    settings = PathSettings

    def create(self, settings, context):
        return AbacusLedger(context.base_dir / settings.path)


def _decimal(value):
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a number")
    return number


class AbacusTasks:
    """Milestones in a JSON file: {"milestones": [{"id": ..., "contract": ..., ...}]}."""

    name = "abacus-tasks"

    def __init__(self, path):
        self.path = Path(path)

    def read(self, cursor):
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            raise FatalTrackerError(f"{self.path}: {exc.strerror}") from None
        milestones, invalid = [], []
        for n, r in enumerate(json.loads(raw)["milestones"], 1):
            where = f"{self.path.name}, milestone #{n}"
            try:
                day = {k: r.get(k) and date.fromisoformat(r[k]) for k in ("completed", "accepted")}
                milestones.append(
                    Milestone(
                        r["id"], r["contract"], r.get("title", ""), _decimal(r.get("percent")),
                        _decimal(r.get("amount")), Status(r.get("status", "open")),
                        day["completed"], day["accepted"], where=where,
                    )
                )
            except (KeyError, ValueError) as exc:
                message = f"{where}: milestone {r.get('id')}: {exc}"
                invalid.append(InvalidMilestone(r.get("id"), r.get("contract"), message, where))
        return SourceBatch(milestones, invalid, hashlib.sha256(raw).hexdigest(), complete=True)


class AbacusTasksPlugin:
    name = "abacus-tasks"
    settings = PathSettings

    def create(self, settings, context):
        return AbacusTasks(context.base_dir / settings.path)
'''

METADATA = "Metadata-Version: 2.1\nName: abacus-books\nVersion: 0.1\n"
ENTRY_POINTS = """\
[connector.adapters]
abacus = abacus_books:AbacusLedgerPlugin

[connector.sources]
abacus-tasks = abacus_books:AbacusTasksPlugin
"""


def install_abacus(folder: Path) -> Path:
    """`abacus_books` and its dist-info in `folder`, as pip would leave them in site-packages."""
    (folder / "abacus_books").mkdir(parents=True)
    (folder / "abacus_books" / "__init__.py").write_text(ABACUS_BOOKS)
    info = folder / "abacus_books-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(METADATA)
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return folder


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The plugin installed for this module: on sys.path, and on PYTHONPATH for subprocesses."""
    folder = install_abacus(tmp_path_factory.mktemp("site-packages"))
    sys.path.insert(0, str(folder))
    try:
        yield folder
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m.split(".")[0] == "abacus_books"]:
            del sys.modules[name]


def test_the_plugin_is_installed_and_not_part_of_the_connector(site):
    assert "abacus" in plugins.available(plugins.ADAPTERS)
    assert "abacus-tasks" in plugins.available(plugins.SOURCES)
    plugin = plugins.find(plugins.ADAPTERS, "abacus")
    assert type(plugin).__module__ == "abacus_books"
    assert plugins.label(plugin) == "Abacus Books"
    assert plugins.label(plugins.find(plugins.SOURCES, "abacus-tasks")) == "abacus-tasks"
    import connector

    assert not list(Path(connector.__file__).parent.rglob("*abacus*"))


# -- the shipped conformance suites, run by the third party -------------------------------------


def _create(group: str, name: str, folder: Path, file: str) -> Any:
    plugin = plugins.find(group, name)
    context = plugins.PluginContext(base_dir=folder, business="Abacus Test")
    return plugin.create(plugin.settings(path=file), context)


class TestAbacusLedger(LedgerConformance):
    @pytest.fixture
    def ledger(self, site, tmp_path):
        return _create(plugins.ADAPTERS, "abacus", tmp_path, "books.json")

    def pay(self, ledger, invoice, amount):
        ledger.record_payment(invoice.ledger_id, amount, date(2026, 11, 20))


class _AbacusTracker:
    """A person editing the milestones file."""

    def __init__(self, path: Path, source: Any):
        self.path, self.source = path, source
        self.records: list[dict[str, Any]] = []

    def seed(self, records: list[dict[str, Any]]) -> None:
        self.records = [dict(r) for r in records]
        self._write()

    def edit(self, mid: str, **fields: Any) -> None:
        next(r for r in self.records if r["id"] == mid).update(fields)
        self._write()

    def break_one(self, mid: str) -> None:
        self.edit(mid, amount="twelve")

    def _write(self) -> None:
        self.path.write_text(json.dumps({"milestones": self.records}, default=date.isoformat))


class TestAbacusTasks(SourceConformance):
    @pytest.fixture
    def tracker(self, site, tmp_path):
        source = _create(plugins.SOURCES, "abacus-tasks", tmp_path, "tasks.json")
        return _AbacusTracker(tmp_path / "tasks.json", source)


# -- the real CLI on a business kept in Abacus Books ----------------------------------------------

CONFIG = """
[business]
name = "Abacus Test"
timezone = "UTC"
currency = "USD"

[state]
path = "state.db"

[tracker]
kind = "abacus-tasks"
path = "tasks.json"

[ledger]
kind = "abacus"
path = "books.json"

[billing]
approval = "required"

[[contracts]]
id = "ACME-WEB"
customer = "Acme Corporation"
value = "10000.00"
retainage = "5%"
"""

TASKS = [
    {"id": "M1", "contract": "ACME-WEB", "title": "Discovery", "percent": "20", "status": "done",
     "completed": "2026-09-20", "accepted": "2026-09-22"},
    {"id": "M2", "contract": "ACME-WEB", "title": "Design", "amount": "3000.00", "status": "done",
     "completed": "2026-10-28", "accepted": "2026-11-02"},
    {"id": "M3", "contract": "ACME-WEB", "title": "Build", "percent": "50", "status": "open"},
    {"id": "M4", "contract": "ACME-WEB", "title": "Launch", "amount": "lots", "status": "open"},
]  # fmt: skip
AS_OF = "2026-11-26"


@pytest.fixture
def business(site, tmp_path) -> Path:
    (tmp_path / "tasks.json").write_text(json.dumps({"milestones": TASKS}))
    (tmp_path / "business.toml").write_text(CONFIG)
    return tmp_path / "business.toml"


def books(business: Path) -> list[dict[str, Any]]:
    data = json.loads((business.parent / "books.json").read_text())
    return list(data["docs"].values())


def test_plan_sync_status_and_doctor_through_the_plugin(business, monkeypatch, capsys):
    config = ("--config", str(business), "--as-of", AS_OF)
    code, out = run_cli(monkeypatch, capsys, "plan", *config, "--json")
    planned = json.loads(out)
    assert code == 1  # M4's amount is no number: a problem a person must fix, reported
    assert sorted(tuple(i["milestones"]) for i in planned["invoices"]) == [("M1",), ("M2",)]
    assert any(s["milestone"] == "M4" for s in planned["skipped"])
    assert not (business.parent / "books.json").exists()  # plan writes nothing

    code, out = run_cli(monkeypatch, capsys, "sync", *config)
    assert code == 1
    assert "created invoice AB-0001: ACME-WEB M1, 1,900.00 USD" in out
    assert "needs attention: tasks.json, milestone #4: milestone M4: 'lots' is not a number" in out
    made = books(business)
    assert sorted((d["number"], d["customer"], d["total"]) for d in made) == [
        ("AB-0001", "Acme Corporation", "1900.00"),  # 20% of 10,000 less 5% retainage
        ("AB-0002", "Acme Corporation", "2850.00"),
    ]
    # the plan listed exactly what the sync sent
    assert sorted((d["date"], d["total"]) for d in made) == sorted(
        (i["date"], i["total"]) for i in planned["invoices"]
    )

    code, out = run_cli(monkeypatch, capsys, "sync", *config)
    assert len(books(business)) == 2  # nothing doubled

    from abacus_books import AbacusLedger

    first = next(d for d in made if d["number"] == "AB-0001")
    AbacusLedger(business.parent / "books.json").record_payment(
        first["id"], Decimal("1900.00"), date(2026, 11, 25)
    )
    run_cli(monkeypatch, capsys, "sync", *config)
    code, out = run_cli(monkeypatch, capsys, "status", *config, "--json")
    status = json.loads(out)
    (acme,) = status["contracts"]
    assert (acme["billed"], acme["paid"]) == ("4750.00", "1900.00")
    assert sorted(i["status"] for i in status["invoices"]) == ["open", "paid"]
    code, out = run_cli(monkeypatch, capsys, "status", *config)
    assert "ACME-WEB USD 10,000.00 4,750.00 1,900.00 2,850.00" in out
    assert "AB-0001 ACME-WEB M1 1,900.00 USD 2026-10-22 1,900.00 paid" in out

    # doctor: the plugin's ledger says how it is through SelfChecking; neither plugin keeps
    # credentials (plugins.HasCredentials), so no sign-in is asked for and no keyring checked
    code, out = run_cli(monkeypatch, capsys, "doctor", "--config", str(business))
    assert code == 0, out
    for name in ("config", "state", "credentials", "ledger", "tracker"):
        assert f"ok {name}" in out, name
    assert "Abacus Books at books.json: 2 document(s)" in out
    assert "3 milestone(s), 1 invalid" in out
    assert "keyring" not in out


def test_a_fresh_process_finds_the_plugin_on_its_path(site, business):
    """`connector plan` as its own process: the plugin is found through PYTHONPATH alone."""
    paths = [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    connector = Path(sys.executable).with_name("connector")
    answer = subprocess.run(
        [str(connector), "plan", "--config", str(business), "--as-of", AS_OF, "--json"],
        capture_output=True, text=True, env=env, cwd=business.parent, timeout=120,
    )  # fmt: skip
    assert answer.returncode == 1, answer.stderr
    planned = json.loads(answer.stdout)
    assert sorted(m for i in planned["invoices"] for m in i["milestones"]) == ["M1", "M2"]
