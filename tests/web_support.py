"""The dashboard's tests: books built by real syncs (the local ledger's file, and the QuickBooks
sandbox through the real adapter), the dashboard served over them, and headless Chromium
(Debian's /usr/bin/chromium, driven by Playwright) looking at its pages.

The books, as of 2026-11-26 (the test business of tests/conftest.py):
- alpha: local ledger, synced on 2026-11-26; the deposit (INV-1001) paid in full and 3,000.00
  of ACME-M1 (INV-1002) paid, pulled back by a second sync; its EUR client is called
  "=Beta Bakery Ltd" (a formula, to a spreadsheet); one milestone (ALPHA-X) has no amount, and
  ACME-M2 went from 30 to 25 percent once invoiced (flagged, holding up its value): two things
  need a person.
- beta: local ledger, synced on 2026-10-01 only: its plan for 2026-11-26 has documents.
- northwind: the QuickBooks sandbox; synced, the deposit paid and online payment turned on for
  another invoice (which gives it a payment link), synced again.
- gamma: a config with an unknown key: it cannot load.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import keyring

from connector import config as config_mod
from connector.adapters.local import MemoryLedger
from connector.credentials import MemoryKeyring
from connector.sync import run_once
from connector_sandbox.quickbooks import DEFAULT_REALM, QuickBooksSandbox
from tests import qbo_support
from tests.conftest import MILESTONES
from tests.test_cli import connector
from tests.test_daemon import write_business

AS_OF = "2026-11-26"
DAY = date(2026, 11, 26)
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("CONNECTOR_TEST_ARTIFACTS", Path(__file__).parent / "artifacts"))


def artifacts(name: str) -> Path:
    """A folder of ARTIFACTS for screenshots; the default one keeps itself out of git."""
    folder = ARTIFACTS / name
    folder.mkdir(parents=True, exist_ok=True)
    ignore = ARTIFACTS / ".gitignore"
    if "CONNECTOR_TEST_ARTIFACTS" not in os.environ and not ignore.exists():
        ignore.write_text("*\n")
    return folder


BROKEN_MILESTONE = '\n[[milestones]]\nid = "ALPHA-X"\ncontract = "ACME-WEB"\ntitle = "Extra"\n'
FORMULA_CUSTOMER = "=Beta Bakery Ltd"


@dataclass
class World:
    folder: Path
    keys: dict[tuple[str, str], str]  # the keyring entries the books were synced with

    def secrets(self) -> list[str]:
        """Every secret the keyring holds for these books: none may reach a page."""
        out = []
        for raw in self.keys.values():
            data = json.loads(raw)
            out += [
                v
                for k, v in data.items()
                if k in ("client_secret", "access_token", "refresh_token") and v
            ]
        return out


def pay(folder: Path, name: str, number: str, amount: str, on: date) -> None:
    ledger = MemoryLedger(folder / f"{name}-ledger.json")
    doc = next(d for d in ledger.documents() if d.number == number)
    ledger.record_payment(doc.ledger_id, Decimal(amount), on)


def build_world(folder: Path, qbo: QuickBooksSandbox) -> World:
    """The four businesses above, in `folder`, synced in a keyring of their own."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        folder.mkdir(parents=True)
        alpha = write_business(folder, "alpha")
        alpha.write_text(alpha.read_text().replace("Beta Bakery Ltd", FORMULA_CUSTOMER))
        (folder / "alpha-milestones.toml").write_text(MILESTONES + BROKEN_MILESTONE)
        run_once(config_mod.load(alpha), as_of=DAY)
        pay(folder, "alpha", "INV-1001", "4800.00", date(2026, 11, 20))
        pay(folder, "alpha", "INV-1002", "3000.00", date(2026, 11, 21))
        run_once(config_mod.load(alpha), as_of=DAY)
        milestones = folder / "alpha-milestones.toml"  # ACME-M2 changed once invoiced: flagged
        milestones.write_text(milestones.read_text().replace('percent = "30"', 'percent = "25"'))
        run_once(config_mod.load(alpha), as_of=DAY)

        beta = write_business(folder, "beta")
        run_once(config_mod.load(beta), as_of=date(2026, 10, 1))

        qbo.faults.clear()
        qbo.seed_company(DEFAULT_REALM, currencies=["EUR"])
        qbo_support.connect(qbo)
        qbo_support.qbo_business(folder / "nw", qbo)
        for name in ("config.toml", "milestones.toml"):
            shutil.move(
                folder / "nw" / name, folder / ("northwind.toml" if name == "config.toml" else name)
            )
        northwind = config_mod.load(folder / "northwind.toml")
        assert run_once(northwind, as_of=DAY).outcome == "ok"
        deposit = next(
            i for i in qbo.invoices() if f"{Decimal(str(i['TotalAmt'])):.2f}" == "4800.00"
        )
        qbo.record_payment(DEFAULT_REALM, deposit["Id"], "4800.00", date(2026, 11, 20))
        online_payment(qbo, next(i for i in qbo.invoices() if i["Id"] != deposit["Id"]))
        assert run_once(northwind, as_of=DAY).payments_pulled == 1

        (folder / "gamma.toml").write_text('[business]\nname = "gamma"\ncolour = "red"\n')
        return World(folder, dict(backend.entries))
    finally:
        keyring.set_keyring(previous)


def online_payment(qbo: QuickBooksSandbox, invoice: dict[str, Any]) -> None:
    """A person turns on online card payment for `invoice` and gives Acme an email address:
    QuickBooks then gives the invoice a payment link, which the next sync reads back."""
    qbo.set_customer_email(DEFAULT_REALM, "Acme Corporation", "ap@acme.example")
    session = qbo_support.ledger(qbo).session
    current = session.get(f"invoice/{invoice['Id']}")["Invoice"]
    change = {"Id": current["Id"], "SyncToken": current["SyncToken"], "sparse": True}
    session.post("invoice", json.dumps({**change, "AllowOnlineCreditCardPayment": True}))


def connector_json(monkeypatch, capsys, *args: str) -> Any:
    """`connector ARGS...` as the CLI prints it, parsed (exit 1 is fine: something needs a
    person in these books)."""
    code, out, err = connector(monkeypatch, capsys, *args)
    assert code in (0, 1), (code, err)
    return json.loads(out)


# -- reading a page as Chromium drew it -----------------------------------------------------


class _Tables(HTMLParser):
    """The tables of a page (`data-table`), each row a dict of column -> (text, data-value),
    read from the DOM Chromium serialised."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list[dict[str, tuple[str, str | None]]]]] = {}
        self._table: str | None = None
        self._part = "tbody"
        self._row: dict[str, tuple[str, str | None]] | None = None
        self._cell: tuple[str, str | None] | None = None
        self._text: list[str] = []
        self.links: dict[str, str] = {}  # column -> href, of the last cell with a link

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("data-table"):
            self._table = a["data-table"]
            self.tables[self._table] = {"tbody": [], "tfoot": []}
        elif self._table and tag in ("tbody", "tfoot"):
            self._part = tag
        elif self._table and tag == "tr" and self._part in ("tbody", "tfoot"):
            self._row = {}
        elif self._row is not None and tag == "td":
            self._cell = (a.get("data-col") or "", a.get("data-value"))
            self._text = []
        elif self._cell is not None and tag == "a" and a.get("href"):
            self._row[self._cell[0] + ":href"] = (a["href"] or "", None)  # type: ignore[index]

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._row is not None:
            col, value = self._cell
            self._row[col] = (" ".join("".join(self._text).split()), value)
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            if self._row:
                self.tables[self._table][self._part].append(self._row)
            self._row = None
        elif tag == "table":
            self._table, self._part = None, "tbody"
        elif tag == "thead":
            self._part = "tbody"


def tables_of(html: str) -> dict[str, dict[str, list[dict[str, tuple[str, str | None]]]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def values(rows: list[dict[str, tuple[str, str | None]]], col: str) -> list[str]:
    """A column's values as a program reads them: data-value, else the text."""
    return [r[col][1] if r[col][1] is not None else r[col][0] for r in rows]
