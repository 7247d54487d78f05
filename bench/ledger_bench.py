"""API calls and wall time of syncs into the local QuickBooks or Xero sandbox (a benchmark, not
a test).

    python bench/ledger_bench.py --ledger quickbooks --invoices 2000 [--latency-ms 50]
    python bench/ledger_bench.py --ledger xero --invoices 2000 [--latency-ms 50]

Measures, against the sandbox with injected latency on every request:
  (a) the first sync of N billable milestones (N invoices, plus one deposit per contract);
  (b) a nightly sync with nothing new;
  (c) a baseline that saves each invoice with one SDK call after looking it up by DocNumber,
      the way a simple integration does.
Calls are counted by the sandbox itself (every OAuth and API request it served). For QuickBooks,
rate limits are raised out of the way for all three, so the figures compare calls, not
throttling. For Xero the sandbox keeps Xero's own limits (60 calls a minute, 5 in flight, 5,000 a
day per organisation) and the baseline makes one create call per invoice; time spent waiting for
the minute limit passes on the sandbox's clock instead of the benchmark's, and is reported beside
the least waiting the limit forces for that many calls.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import keyring

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector import config as config_mod
from connector.adapters.base import InvoiceRequest
from connector.adapters.plain_http import LoopbackOAuth2Session, loopback_origin
from connector.credentials import MemoryKeyring, TokenSet, TokenStore
from connector.sync import run_once
from connector_sandbox.quickbooks import (
    CLIENT_ID,
    CLIENT_SECRET,
    DEFAULT_REALM,
    QuickBooksSandbox,
)

AS_OF = date(2026, 11, 26)
CONTRACTS = 20


def write_business(folder: Path, sandbox: QuickBooksSandbox, invoices: int) -> Path:
    ledger = (
        '[ledger]\nkind = "quickbooks"\nenvironment = "sandbox"\n'
        f'api_url = "{sandbox.api_url}"\ndiscovery_url = "{sandbox.discovery_url}"\n'
    )
    return write_config(folder, ledger, invoices)


def write_config(folder: Path, ledger: str, invoices: int) -> Path:
    """N billable milestones of 1,000.00 over CONTRACTS contracts, and `ledger` as [ledger]."""
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
{ledger}
[billing]
approval = "required"
""" + "\n".join(contracts)
    path = folder / "config.toml"
    path.write_text(config)
    return path


def connect(sandbox: QuickBooksSandbox, business: str) -> None:
    issued = sandbox.issue_tokens(DEFAULT_REALM)
    tokens = TokenSet(CLIENT_ID, CLIENT_SECRET, company_id=DEFAULT_REALM).rotated(
        issued["access_token"],
        issued["expires_in"],
        issued["refresh_token"],
        issued.get("x_refresh_token_expires_in"),
    )
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
    auth = AuthClient(
        CLIENT_ID,
        CLIENT_SECRET,
        "http://127.0.0.1/cb",
        sandbox.discovery_url,
        access_token=issued["access_token"],
        refresh_token=issued["refresh_token"],
    )
    client = QuickBooks(
        auth_client=auth,
        refresh_token=issued["refresh_token"],
        company_id=DEFAULT_REALM,
        minorversion=75,
    )
    client.use_decimal = True
    client.api_url_v3 = client.sandbox_api_url_v3 = sandbox.api_url
    # the sandbox is plain HTTP: allowed for this client's requests to it, not process-wide
    origin = loopback_origin(sandbox.api_url)
    assert origin is not None
    client.session = LoopbackOAuth2Session(origin, CLIENT_ID, dict(client.session.token))
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
    parser.add_argument("--ledger", choices=["quickbooks", "xero"], default="quickbooks")
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()
    keyring.set_keyring(MemoryKeyring())
    if args.ledger == "xero":
        return run_xero(args.invoices, args.latency_ms)
    folder = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    with QuickBooksSandbox(
        requests_per_minute=10**6, max_concurrent=100, batch_per_minute=10**6
    ) as sandbox:
        sandbox.seed_company(DEFAULT_REALM)
        sandbox.faults.set_latency(timedelta(milliseconds=args.latency_ms))
        cfg = config_mod.load(write_business(folder, sandbox, args.invoices))
        connect(sandbox, cfg.business.name)
        print(
            f"QuickBooks sandbox, {args.latency_ms} ms latency per request, "
            f"{args.invoices} milestones over {CONTRACTS} contracts"
        )
        first_calls, _ = measure(sandbox, "(a) first sync", lambda: run_once(cfg, as_of=AS_OF))
        created = len(sandbox.invoices())
        quiet_calls, _ = measure(
            sandbox, "(b) nightly sync, nothing new", lambda: run_once(cfg, as_of=AS_OF)
        )
        base_calls, _ = measure(
            sandbox,
            "(c) baseline: look up + save per invoice",
            lambda: baseline(sandbox, args.invoices),
        )
    print(f"  invoices created by (a): {created}")
    ratio = base_calls / first_calls if first_calls else float("inf")
    print(
        f"  baseline / first sync calls: {ratio:.1f}x (target >= 20x); "
        f"quiet night: {quiet_calls} calls (target <= 3)"
    )
    return 0 if ratio >= 20 and quiet_calls <= 3 else 1


# --- Xero ---------------------------------------------------------------------------------------


def run_xero(invoices: int, latency_ms: int) -> int:
    from connector.adapters.xero import XeroLedger
    from connector.adapters.xero.session import XeroSession
    from connector_sandbox.xero import CLIENT_ID as XERO_ID
    from connector_sandbox.xero import CLIENT_SECRET as XERO_SECRET
    from connector_sandbox.xero import XeroSandbox

    folder = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    with XeroSandbox() as sandbox:  # Xero's own limits: 60 a minute, 5 in flight, 5,000 a day
        tenant = sandbox.seed_organisation(currencies=["EUR"])
        sandbox.faults.set_latency(timedelta(milliseconds=latency_ms))
        ledger_section = (
            f'[ledger]\nkind = "xero"\ntenant_id = "{tenant}"\n'
            f'api_url = "{sandbox.api_url}"\nidentity_url = "{sandbox.identity_url}"\n'
        )
        cfg = config_mod.load(write_config(folder, ledger_section, invoices))
        store = TokenStore(cfg.business.name, "xero")
        issued = sandbox.issue_tokens([tenant])
        store.save(
            TokenSet(XERO_ID, XERO_SECRET, company_id=tenant).rotated(
                issued["access_token"], issued["expires_in"], issued["refresh_token"], 60 * 86400
            )
        )
        waited: list[float] = []

        def sleep(seconds: float) -> None:  # time passes for the sandbox, not for us
            waited.append(seconds)
            sandbox.clock.advance(timedelta(seconds=seconds))

        def ledger() -> XeroLedger:
            session = XeroSession(cfg.ledger_settings, store, sleep=sleep)  # type: ignore[arg-type]
            return XeroLedger(session, cfg.ledger_settings, cfg.billing.item)  # type: ignore[arg-type]

        def timed(what: str, run) -> tuple[int, float, float, float]:
            before, started, slept = sandbox.api_requests, time.perf_counter(), sum(waited)
            run()
            calls = sandbox.api_requests - before
            wall, wait = time.perf_counter() - started, sum(waited) - slept
            floor = 60.0 * ((calls - 1) // 60) if calls else 0.0
            print(
                f"  {what:<44} {calls:6d} calls  {wall:7.2f} s wall  {wait:7.0f} s waited "
                f"(the 60/min limit forces >= {floor:.0f} s)"
            )
            return calls, wall, wait, floor

        print(
            f"Xero sandbox, Xero's limits, {latency_ms} ms latency per request, {invoices} "
            f"milestones over {CONTRACTS} contracts"
        )
        first = timed("(a) first sync", lambda: run_once(cfg, as_of=AS_OF, ledger=ledger()))
        created = len(sandbox.invoices(tenant))
        # the next night: a day later, the 30-minute access token long expired on both clocks
        sandbox.clock.advance(timedelta(days=1))
        lapsed = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        store.save(replace(store.require(), access_expires_at=lapsed))
        quiet = timed(
            "(b) nightly sync, nothing new", lambda: run_once(cfg, as_of=AS_OF, ledger=ledger())
        )
        sandbox.clock.advance(timedelta(days=1))
        base = timed(
            "(c) baseline: one create call per invoice", lambda: xero_baseline(ledger(), invoices)
        )
    print(f"  invoices created by (a): {created}")
    ratio = base[0] / first[0] if first[0] else float("inf")

    # What the limit allows: the calls' own time plus the least waiting 60 a minute forces.
    def elapsed(run: tuple[int, float, float, float]) -> tuple[float, float]:
        _calls, wall, wait, floor = run
        return wall + wait, wall + floor

    took, allowed = elapsed(first)
    base_took, base_allowed = elapsed(base)
    print(
        f"  baseline / first sync calls: {ratio:.1f}x (target >= 40x); quiet night: "
        f"{quiet[0]} calls (target <= 3)\n"
        f"  first sync took {took:.1f} s where the 60/min limit allows {allowed:.1f} s for its "
        f"{first[0]} calls (target: within 10%); the baseline took {base_took:.0f} s where it "
        f"allows {base_allowed:.0f} s for {base[0]} calls"
    )
    ok = ratio >= 40 and quiet[0] <= 3 and took <= 1.1 * allowed
    return 0 if ok else 1


def xero_baseline(ledger, invoices: int) -> None:
    """One create call per invoice through the same session (limits obeyed), no batching."""
    from connector.models import Kind, Line, Role

    customer = ledger.find_or_create_customer("Baseline Customer", "USD")
    for n in range(invoices):
        request = InvoiceRequest(
            key=f"base-{n}",
            reference=f"BASE-{n}",
            customer=customer,
            currency="USD",
            kind=Kind.MILESTONE,
            date=AS_OF,
            due_date=AS_OF,
            lines=(Line(f"Milestone {n}", Decimal("1000.00"), Role.FIXED, f"M{n}"),),
        )
        ledger.create_invoices([request])


if __name__ == "__main__":
    sys.exit(main())
