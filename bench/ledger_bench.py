"""API calls and wall time of syncs into the local QuickBooks sandbox (a benchmark, not a test).

    python bench/ledger_bench.py --ledger quickbooks --invoices 2000 [--latency-ms 50]

Measures, against the sandbox with injected latency on every request:
  (a) the first sync of N billable milestones (N invoices, plus one deposit per contract);
  (b) a nightly sync with nothing new;
  (c) a baseline that saves each invoice with one SDK call after looking it up by DocNumber,
      the way a simple integration does.
Calls are counted by the sandbox itself (every OAuth and API request it served). Rate limits are
raised out of the way for all three, so the figures compare calls, not throttling.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import keyring

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector import config as config_mod
from connector.credentials import MemoryKeyring, TokenSet, TokenStore
from connector.sandbox.quickbooks import (
    CLIENT_ID,
    CLIENT_SECRET,
    DEFAULT_REALM,
    QuickBooksSandbox,
)
from connector.sync import run_once

AS_OF = date(2026, 11, 26)
CONTRACTS = 20


def write_business(folder: Path, sandbox: QuickBooksSandbox, invoices: int) -> Path:
    per = invoices // CONTRACTS
    contracts, milestones = [], []
    for c in range(CONTRACTS):
        contracts.append(
            f'[[contracts]]\nid = "C{c}"\ncustomer = "Customer {c}"\nvalue = "{per * 1000}.00"\n'
        )
        for m in range(per):
            day = date(2026, 9, 1) + timedelta(days=m % 80)
            milestones.append(
                f'[[milestones]]\nid = "C{c}-M{m}"\ncontract = "C{c}"\namount = "1000.00"\n'
                f'status = "done"\ncompleted = {day}\naccepted = {day}\n'
            )
    (folder / "milestones.toml").write_text("\n".join(milestones))
    config = f"""
[business]
name = "Bench Co"
[state]
path = "state.db"
[tracker]
kind = "file"
path = "milestones.toml"
[ledger]
kind = "quickbooks"
environment = "sandbox"
api_url = "{sandbox.api_url}"
discovery_url = "{sandbox.discovery_url}"
[billing]
approval = "required"
""" + "\n".join(contracts)
    path = folder / "config.toml"
    path.write_text(config)
    return path


def connect(sandbox: QuickBooksSandbox, business: str) -> None:
    issued = sandbox.issue_tokens(DEFAULT_REALM)
    tokens = TokenSet(CLIENT_ID, CLIENT_SECRET, company_id=DEFAULT_REALM).rotated(
        issued["access_token"], issued["expires_in"], issued["refresh_token"],
        issued.get("x_refresh_token_expires_in"))
    TokenStore(business, "quickbooks").save(tokens)


def measure(sandbox: QuickBooksSandbox, what: str, run) -> tuple[int, float]:
    before = sandbox.api_requests
    started = time.perf_counter()
    run()
    calls, seconds = sandbox.api_requests - before, time.perf_counter() - started
    print(f"  {what:<44} {calls:6d} calls  {seconds:7.2f} s")
    return calls, seconds


def baseline(sandbox: QuickBooksSandbox, invoices: int) -> None:
    """One SDK save per invoice, after a lookup by DocNumber: no batching, no cursor."""
    from intuitlib.client import AuthClient
    from quickbooks import QuickBooks
    from quickbooks.objects.base import Ref
    from quickbooks.objects.customer import Customer
    from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
    from quickbooks.objects.invoice import Invoice
    from quickbooks.objects.item import Item

    issued = sandbox.issue_tokens(DEFAULT_REALM)
    auth = AuthClient(CLIENT_ID, CLIENT_SECRET, "http://127.0.0.1/cb", sandbox.discovery_url,
                      access_token=issued["access_token"], refresh_token=issued["refresh_token"])
    client = QuickBooks(auth_client=auth, refresh_token=issued["refresh_token"],
                        company_id=DEFAULT_REALM, minorversion=75)
    client.use_decimal = True
    client.api_url_v3 = client.sandbox_api_url_v3 = sandbox.api_url
    item = Item.filter(Name="Services", qb=client)[0]
    customer = Customer()
    customer.DisplayName = "Baseline Customer"
    customer = customer.save(qb=client)
    for n in range(invoices):
        number = f"BASE-{n}"
        if Invoice.filter(DocNumber=number, qb=client):
            continue
        invoice = Invoice()
        invoice.DocNumber = number
        invoice.CustomerRef = Ref()
        invoice.CustomerRef.value = customer.Id
        line = SalesItemLine()
        line.Amount = "1000.00"
        line.SalesItemLineDetail = SalesItemLineDetail()
        line.SalesItemLineDetail.ItemRef = item.to_ref()
        invoice.Line = [line]
        invoice.save(qb=client, request_id=f"base-{n}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ledger", choices=["quickbooks"], default="quickbooks")
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()
    keyring.set_keyring(MemoryKeyring())
    folder = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    with QuickBooksSandbox(requests_per_minute=10**6, max_concurrent=100,
                           batch_per_minute=10**6) as sandbox:
        sandbox.seed_company(DEFAULT_REALM)
        sandbox.faults.set_latency(timedelta(milliseconds=args.latency_ms))
        cfg = config_mod.load(write_business(folder, sandbox, args.invoices))
        connect(sandbox, cfg.business.name)
        print(f"QuickBooks sandbox, {args.latency_ms} ms latency per request, "
              f"{args.invoices} milestones over {CONTRACTS} contracts")
        first_calls, _ = measure(sandbox, "(a) first sync", lambda: run_once(cfg, as_of=AS_OF))
        created = len(sandbox.invoices())
        quiet_calls, _ = measure(sandbox, "(b) nightly sync, nothing new",
                                 lambda: run_once(cfg, as_of=AS_OF))
        base_calls, _ = measure(sandbox, "(c) baseline: look up + save per invoice",
                                lambda: baseline(sandbox, args.invoices))
    print(f"  invoices created by (a): {created}")
    ratio = base_calls / first_calls if first_calls else float("inf")
    print(f"  baseline / first sync calls: {ratio:.1f}x (target >= 20x); "
          f"quiet night: {quiet_calls} calls (target <= 3)")
    return 0 if ratio >= 20 and quiet_calls <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
