"""`connector demo`: the whole cycle on the bundled example, with no network and no accounts.

It starts the local QuickBooks sandbox, connects the example business to it through the real
OAuth code flow, syncs, records customer payments in the sandbox as a client would pay, syncs
again, and shows the status. Everything goes through the real adapter, SDK and HTTP; the only
stand-in is the keyring, kept in memory so the demo leaves no credentials behind.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import keyring
import requests

from connector import config as config_mod
from connector.adapters.quickbooks_session import QuickBooksSettings
from connector.auth_flow import connect_quickbooks
from connector.credentials import MemoryKeyring, TokenStore
from connector.models import Skip
from connector.sandbox.quickbooks import CLIENT_ID, CLIENT_SECRET, DEFAULT_REALM, QuickBooksSandbox
from connector.sync import run_once
from connector.sync.report import SyncReport, status_data

EXAMPLE = Path(__file__).resolve().parent / "examples"


def demo_config(folder: Path, sandbox: QuickBooksSandbox) -> Path:
    """The bundled example, pointed at the sandbox, with its state in `folder`."""
    shutil.copy(EXAMPLE / "milestones.toml", folder / "milestones.toml")
    text = (EXAMPLE / "business.toml").read_text()
    text = text.replace("{api_url}", sandbox.api_url).replace(
        "{discovery_url}", sandbox.discovery_url
    )
    path = folder / "business.toml"
    path.write_text(text)
    return path


def follow_consent(url: str) -> str:
    """What the bookkeeper does in the browser: approve, and land on the redirect URL."""
    answer = requests.get(url, allow_redirects=False, timeout=10)
    return answer.headers["Location"]


def run_demo(
    show: Callable[[str], None],
    as_of: date | None = None,
    render_report: Callable[[SyncReport], None] | None = None,
    render_status: Callable[[dict[str, object]], None] | None = None,
    render_skipped: Callable[[list[Skip]], None] | None = None,
) -> dict[str, object]:
    """Run the demo; `show` prints a line, the render callbacks draw reports and tables."""
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    folder = Path(tempfile.mkdtemp(prefix="connector-demo-"))
    try:
        with QuickBooksSandbox() as sandbox:
            sandbox.seed_company(
                DEFAULT_REALM, currencies=["EUR"], company_name="Northwind Studio (demo)"
            )
            cfg = config_mod.load(demo_config(folder, sandbox))
            show(f"Local QuickBooks sandbox on {sandbox.url}; demo files in {folder}")
            settings = cfg.ledger_settings
            assert isinstance(settings, QuickBooksSettings)
            connect_quickbooks(
                settings,
                TokenStore(cfg.business.name, "quickbooks"),
                CLIENT_ID,
                CLIENT_SECRET,
                lambda url: show("Connecting through OAuth..."),
                follow_consent,
            )
            as_of = as_of or datetime.now(cfg.zone).date()
            show("\n1. First sync")
            first = run_once(cfg, as_of=as_of)
            if render_report:
                render_report(first)
            if render_skipped:
                render_skipped([s for s in first.skipped if s.reason.value != "already_invoiced"])
            invoices = {i["DocNumber"]: i for i in sandbox.invoices()}
            paid = [row for row, _ in first.created if row["kind"] == "deposit"]
            part = [row for row, _ in first.created if row["kind"] == "milestone"][:1]
            show("\n2. The client pays: the deposit in full, and part of the first milestone")
            for row in paid + part:
                doc = invoices[row["reference"]]
                amount = doc["TotalAmt"] if row in paid else "5000.00"
                sandbox.record_payment(DEFAULT_REALM, doc["Id"], str(amount), as_of)
                show(f"   payment of {amount} {row['currency']} on {doc['DocNumber']}")
            show("\n3. Second sync: nothing new to invoice, payments pulled back")
            second = run_once(cfg, as_of=as_of)
            if render_report:
                render_report(second)
            from connector.sync.state import State

            state = State.open(
                cfg.state_url, cfg.business.name, path=cfg.state_path, read_only=True
            )
            data = status_data(cfg.business.name, cfg.contracts, state, as_of or date.today())
            show("\n4. Where the books stand")
            if render_status:
                render_status(data)
            return data
    finally:
        keyring.set_keyring(previous)
        shutil.rmtree(folder, ignore_errors=True)
