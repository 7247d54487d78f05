"""Fixtures: a business on disk (config, milestones file, state) synced to the local ledger."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import keyring
import pytest

from connector import config as config_mod
from connector.adapters.local import MemoryLedger
from connector.credentials import MemoryKeyring
from connector.sync import run_once
from connector.sync.report import SyncReport
from connector.sync.state import State
from connector_sandbox.local import FaultyLocalLedger
from connector_sandbox.quickbooks import DEFAULT_REALM, QuickBooksSandbox

# Vendor fixtures live beside their tests; only the ones that exist yet are loaded.
pytest_plugins = [
    name
    for name in ("tests.xero_support", "tests.tracker_support")
    if (Path(__file__).parent / f"{name.split('.')[1]}.py").exists()
]

CONFIG = """
[business]
name = "Northwind Studio"
timezone = "America/Chicago"
currency = "USD"

[state]
{state}

[tracker]
kind = "file"
path = "milestones.toml"

[ledger]
kind = "local"
path = "ledger.json"

[billing]
approval = "required"
on_change = "{on_change}"

[[contracts]]
id = "ACME-WEB"
customer = "Acme Corporation"
value = "48000.00"
start = 2026-09-01
deposit = "10%"
retainage = "5%"
terms_days = 15

[[contracts.change_orders]]
id = "CO-1"
amount = "6000.00"
approved = 2026-10-20

[[contracts]]
id = "BETA-APP"
customer = "Beta Bakery Ltd"
currency = "EUR"
value = "12000.00"
"""

MILESTONES = """
[[milestones]]
id = "ACME-M1"
contract = "ACME-WEB"
title = "Discovery"
percent = "20"
status = "done"
completed = 2026-09-20
accepted = 2026-09-22

[[milestones]]
id = "ACME-M2"
contract = "ACME-WEB"
title = "Design"
percent = "30"
status = "done"
completed = 2026-10-28
accepted = 2026-11-02

[[milestones]]
id = "ACME-M3"
contract = "ACME-WEB"
title = "Build"
percent = "50"
status = "done"
completed = 2026-11-20
accepted = 2026-11-25

[[milestones]]
id = "BETA-1"
contract = "BETA-APP"
title = "Prototype"
amount = "4000.00"
status = "done"
completed = 2026-10-05
accepted = 2026-10-06

[[milestones]]
id = "BETA-2"
contract = "BETA-APP"
title = "Store release"
amount = "8000.00"
status = "open"
"""

AS_OF = date(2026, 11, 26)


@dataclass
class Business:
    dir: Path
    ledger: MemoryLedger  # a FaultyLocalLedger unless the test gave another

    @property
    def config_path(self) -> Path:
        return self.dir / "config.toml"

    def config(self) -> config_mod.Config:
        return config_mod.load(self.config_path)

    def milestones(self, text: str) -> None:
        (self.dir / "milestones.toml").write_text(text)

    def sync(self, as_of: date = AS_OF, **kw: object) -> SyncReport:
        return run_once(self.config(), as_of=as_of, ledger=self.ledger, **kw)  # type: ignore[arg-type]

    def state(self) -> State:
        cfg = self.config()
        return State.open(cfg.state_url, cfg.business.name, path=cfg.state_path)


def make_business(
    root: Path,
    *,
    on_change: str = "flag",
    milestones: str = MILESTONES,
    ledger: MemoryLedger | None = None,
    state_url: str | None = None,
) -> Business:
    """A business in `root`; its state in `state.db` there, or at `state_url`."""
    state = f'url = "{state_url}"' if state_url else 'path = "state.db"'
    write_business(root, on_change=on_change, milestones=milestones, state=state)
    return Business(root, ledger or FaultyLocalLedger())


def write_business(
    root: Path,
    *,
    on_change: str = "flag",
    milestones: str = MILESTONES,
    state: str = 'path = "state.db"',
    ledger_section: str | None = None,
) -> None:
    """The test business's config and milestones file in `root`; `ledger_section` (a whole
    `[ledger]` table) puts its ledger somewhere other than the local file."""
    root.mkdir(parents=True, exist_ok=True)
    text = CONFIG.replace("{on_change}", on_change).replace("{state}", state)
    if ledger_section is not None:
        text = text.replace('[ledger]\nkind = "local"\npath = "ledger.json"\n', ledger_section)
    (root / "config.toml").write_text(text)
    (root / "milestones.toml").write_text(milestones)


def cancel_beta_after_invoicing(business: Business) -> SyncReport:
    """Sync, then cancel BETA-1 (invoiced on its own by then) in the milestones file and sync
    again: where the ledgers' on_change tests start."""
    business.sync()
    business.milestones(
        MILESTONES.replace(
            'amount = "4000.00"\nstatus = "done"', 'amount = "4000.00"\nstatus = "cancelled"'
        )
    )
    return business.sync()


def demo_tells_the_documented_story(ledger: str, keyring_left: MemoryKeyring) -> None:
    """`connector demo` into `ledger`, quickly, with the documented numbers for ACME-WEB, one
    invoice in each state, and nothing left in the caller's keyring (`keyring_left`)."""
    from connector.demo import run_demo

    started = time.monotonic()
    data: dict[str, Any] = run_demo(lambda line: None, as_of=AS_OF, ledger=ledger)
    assert time.monotonic() - started < 30
    acme = next(c for c in data["contracts"] if c["contract"] == "ACME-WEB")
    assert (acme["billed"], acme["paid"], acme["outstanding"]) == (
        "26730.00",
        "9800.00",
        "16930.00",
    )
    statuses = sorted(i["status"] for i in data["invoices"])
    assert statuses == ["open", "open", "paid", "partially_paid"]
    assert keyring_left.entries == {}  # the demo used its own keyring and left nothing here


@pytest.fixture
def business(tmp_path: Path) -> Business:
    return make_business(tmp_path / "northwind")


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    backend = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture(scope="session")
def qbo_server() -> Iterator[QuickBooksSandbox]:
    """One local QuickBooks sandbox for the whole run; `qbo` gives each test a fresh company."""
    with QuickBooksSandbox() as server:
        yield server


@pytest.fixture
def qbo(qbo_server: QuickBooksSandbox) -> QuickBooksSandbox:
    """A fresh sandbox company (USD, with EUR enabled), the business connected to it."""
    from tests import qbo_support

    qbo_server.faults.clear()
    qbo_server.seed_company(DEFAULT_REALM, currencies=["EUR"])
    qbo_support.connect(qbo_server)
    return qbo_server


class Hook(BaseHTTPRequestHandler):
    """A webhook receiver: every POST's path and JSON body, in `Hook.received`."""

    received: ClassVar[list[tuple[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        Hook.received.append((self.path, json.loads(self.rfile.read(length))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 taking webhook POSTs; yields its base URL."""
    Hook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def add_change_order(business: Business, cid: str, amount: str, approved: str) -> None:
    """Approve one more change order on ACME-WEB in the business's config."""
    text = business.config_path.read_text()
    block = (
        f'\n[[contracts.change_orders]]\nid = "{cid}"\namount = "{amount}"\napproved = {approved}\n'
    )
    business.config_path.write_text(
        text.replace("approved = 2026-10-20\n", "approved = 2026-10-20\n" + block, 1)
    )
