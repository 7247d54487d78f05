"""Ledger calls per business, counted by the sandbox (a benchmark, not a test).

    python bench/calls_bench.py [--ledger quickbooks|xero|both] [--milestones 20]

For each ledger, against its local sandbox, in one process (as a daemon runs them):
  (a) the first sync of N billable milestones of one contract, for a customer the ledger does
      not have yet (`run_once`, the engine as it stands);
  (b) the next night with nothing new (the access token has expired meanwhile);
  (c) the first sync of a second business of the same company (another customer, new too),
      in the same process: what a daemon syncing many businesses of one company pays for each;
  (w) a first sync in the order the engine takes once it asks `CustomerBook`
      (connector/sync/customers.py): the night's customers looked up before the profile is
      read, the missing ones created once the held contracts are out, then the invoices; as a
      new process (nothing kept), for a third business;
  (s) the sign-in before all that (`connector auth`'s code flow, in a process of its own),
      which reads the company once: its name for the bookkeeper to check (and Xero's base
      currency, which the connection keeps for the nightly checks).
Every request the sandbox serves is counted and sorted into ledger calls (the accounting API)
and sign-in (OAuth discovery and token requests); the keyring is keyrings.alt's plain file
keyring in a temporary folder, and its reads are the times it parsed its file.
Targets (issue 14): a first sync at most 3 ledger calls after sign-in, a quiet night at most 2;
the exit status says whether they are met.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import keyring
from keyrings.alt.file import PlaintextKeyring

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector import config as config_mod
from connector.adapters.base import InvoiceRequest, LedgerAdapter, Profiled, ProfileNeeds
from connector.adapters.cache import forget_all
from connector.credentials import TokenStore
from connector.models import Kind, Line, Role
from connector.sync import run_once
from connector.sync.customers import CustomerBook
from connector.sync.outbox import Creation
from connector.sync.payments import changes_since
from connector_sandbox.server import Request, Response

AS_OF = date(2026, 11, 26)
FIRST_TARGET, QUIET_TARGET = 3, 2
WIRED = "(w) first sync in the wired engine's order, new process"
SIGN_IN = "(s) sign-in (`connector auth {kind}`), each"


class CountingKeyring(PlaintextKeyring):
    """keyrings.alt's plain file keyring (XDG_DATA_HOME decides where), as it is, and the
    times its file is parsed, by keyrings.alt or by the connector's one parse per version of
    the file (`connector.credentials._FileReads`): both parse it with `RawConfigParser.read`."""

    reads = 0

    def __init__(self) -> None:
        super().__init__()
        parse = configparser.RawConfigParser.read
        path = self.file_path

        def counted(parser: Any, filenames: Any, encoding: str | None = None) -> list[str]:
            if str(filenames) == path:
                CountingKeyring.reads += 1
            return parse(parser, filenames, encoding=encoding)

        configparser.RawConfigParser.read = counted  # type: ignore[method-assign]


@dataclass
class CallLog:
    """What a sandbox served, in order: ledger calls and sign-in requests, each described."""

    sign_in_paths: tuple[str, ...]
    calls: list[str] = field(default_factory=list)
    sign_in: list[str] = field(default_factory=list)

    def watch(self, sandbox: Any) -> None:
        """Wrap the sandbox's request handler (the admin interface is not counted)."""
        handle: Callable[[Request], Response] = sandbox.handle

        def counted(request: Request) -> Response:
            if not request.path.startswith("/admin/"):
                where = self.sign_in if request.path in self.sign_in_paths else self.calls
                where.append(describe(request))
            return handle(request)

        sandbox.handle = counted

    def take(self) -> tuple[list[str], list[str]]:
        taken = (self.calls, self.sign_in)
        self.calls, self.sign_in = [], []
        return taken


def describe(request: Request) -> str:
    """ "GET preferences", "POST query Customer", "POST batch (2 queries, 20 creates)"..."""
    parts = request.path.split("/")
    resource = "/".join(parts[4:]) if parts[1:3] == ["v3", "company"] else request.path
    if resource == "query":
        words = request.body.decode().split()
        entity = words[words.index("from") + 1] if "from" in words else "?"
        return f"{request.method} query {entity}"
    if resource == "batch":
        items = json.loads(request.body or b"{}").get("BatchItemRequest", [])
        queries = sum(1 for i in items if "Query" in i)
        made = len(items) - queries
        what = [f"{queries} queries" if queries else "", f"{made} creates" if made else ""]
        return f"{request.method} batch ({', '.join(w for w in what if w)})"
    return f"{request.method} {resource.split('?')[0]}"


def write_business(folder: Path, name: str, customer: str, ledger: str, milestones: int) -> Path:
    """One contract for `customer`, `milestones` milestones of 1,000.00, done and accepted."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for m in range(milestones):
        day = date(2026, 9, 1) + timedelta(days=m % 80)
        rows.append(
            f'[[milestones]]\nid = "M{m}"\ncontract = "C1"\namount = "1000.00"\n'
            f'status = "done"\ncompleted = {day}\naccepted = {day}\n'
        )
    (folder / "milestones.toml").write_text("\n".join(rows))
    config = f"""
[business]
name = "{name}"
[state]
path = "state.db"
[tracker]
kind = "file"
path = "milestones.toml"
{ledger}
[billing]
approval = "required"

[[contracts]]
id = "C1"
customer = "{customer}"
value = "{milestones * 1000}.00"
"""
    path = folder / "config.toml"
    path.write_text(config)
    return path


def expire(store: TokenStore) -> None:
    """The next night: the one-hour access token has long expired."""
    lapsed = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    store.save(replace(store.require(), access_expires_at=lapsed))


@dataclass
class Figure:
    what: str
    calls: list[str]
    sign_in: list[str]
    keyring_reads: int
    invoices: int


def run(what: str, log: CallLog, ring: CountingKeyring, sync: Callable[[], Any]) -> Figure:
    log.take()
    reads = ring.reads
    report = sync()
    calls, sign_in = log.take()
    return Figure(what, calls, sign_in, ring.reads - reads, len(report.created))


def wired(cfg: config_mod.Config, milestones: int) -> Any:
    """The first sync's ledger calls in the wired engine's order (module docstring), made
    through the adapter itself: the first payment pull, the night's customers, the profile
    (for the night's bookings where the ledger can read only those), the missing customer,
    the invoices. Returns an object with `created`, as a report has."""
    forget_all()  # a new process
    ledger: LedgerAdapter = cfg.ledger()
    contract = cfg.contracts["C1"]
    changes_since(ledger, None, nothing_sent=True)
    rows = [
        Creation(row)
        for row in (_row(contract.customer, contract.currency, n) for n in range(milestones))
    ]
    book = CustomerBook(ledger, rows)
    book.look_up()
    profile_for = getattr(ledger, "profile_for", None)
    if profile_for is not None:
        profile_for(ProfileNeeds.of([(contract.currency, cfg.books_for("C1").booking)]))
    elif isinstance(ledger, Profiled):
        ledger.profile()
    book.keep(rows)
    customer = book.get(contract.customer, contract.currency)
    assert customer is not None, book.take_problems()
    requests = [
        InvoiceRequest(
            key=f"wired-{cfg.business.name}-{n}",
            reference=f"W{n:04d}-{len(cfg.business.name)}",
            customer=customer,
            currency=contract.currency,
            kind=Kind.MILESTONE,
            date=AS_OF,
            due_date=AS_OF,
            lines=(Line(f"Milestone {n}", Decimal("1000.00"), Role.FIXED, f"M{n}"),),
        )
        for n in range(milestones)
    ]
    created = []
    for start in range(0, len(requests), ledger.batch_size):
        created += ledger.create_invoices(requests[start : start + ledger.batch_size])
    return SimpleNamespace(created=[r for r in created if r.invoice is not None])


def _row(customer: str, currency: str, n: int) -> Any:
    from connector.sync.rows import InvoiceRow
    from connector.sync.schema import OutboxAction

    return InvoiceRow(
        key=f"wired-{n}",
        reference=f"W{n}",
        action=OutboxAction.CREATE,
        contract="C1",
        customer=customer,
        kind=Kind.MILESTONE,
        milestones=(f"M{n}",),
        milestone_hashes=(),
        revision=0,
        currency=currency,
        invoice_date=AS_OF,
        due_date=AS_OF,
        lines=(Line(f"Milestone {n}", Decimal("1000.00"), Role.FIXED, f"M{n}"),),
        total_minor=100000,
    )


def show(title: str, figures: list[Figure]) -> None:
    print(title)
    print(f"  {'':<58} {'ledger':>6} {'sign-in':>7} {'keyring':>7} {'created':>7}")
    for f in figures:
        print(
            f"  {f.what:<58} {len(f.calls):6d} {len(f.sign_in):7d} {f.keyring_reads:7d} "
            f"{f.invoices:7d}"
        )
        if f.calls:
            print("      " + "; ".join(f.calls))


def quickbooks(folder: Path, ring: CountingKeyring, milestones: int) -> list[Figure]:
    from connector.adapters.quickbooks.auth import connect_quickbooks
    from connector_sandbox import quickbooks_oauth as oauth
    from connector_sandbox.demo_stage import follow_consent
    from connector_sandbox.quickbooks import (
        CLIENT_ID,
        CLIENT_SECRET,
        DEFAULT_REALM,
        QuickBooksSandbox,
    )

    log = CallLog((*oauth.DISCOVERY_PATHS, oauth.AUTHORIZE_PATH, oauth.TOKEN_PATH, oauth.JWKS_PATH))
    with QuickBooksSandbox() as sandbox:
        sandbox.seed_company(DEFAULT_REALM)
        log.watch(sandbox)
        ledger = (
            '[ledger]\nkind = "quickbooks"\nenvironment = "sandbox"\n'
            f'api_url = "{sandbox.api_url}"\ndiscovery_url = "{sandbox.discovery_url}"\n'
        )

        def connected(name: str, customer: str) -> tuple[config_mod.Config, TokenStore]:
            """`connector auth quickbooks` through the code flow, in a process of its own."""
            cfg = config_mod.load(write_business(folder / name, name, customer, ledger, milestones))
            store = TokenStore(name, "quickbooks")
            connect_quickbooks(
                cfg.ledger_settings,
                store,
                CLIENT_ID,
                CLIENT_SECRET,
                lambda url: None,
                follow_consent,
            )
            forget_all()
            return cfg, store

        log.take()
        first, store = connected("QuickBooks One", "Brand New Customer Ltd")
        calls, sign_in = log.take()
        signing_in = Figure(SIGN_IN.format(kind="quickbooks"), calls, sign_in, 0, 0)
        second, _ = connected("QuickBooks Two", "Another New Customer")
        third, _ = connected("QuickBooks Three", "A Third New Customer")
        return [
            run("(a) first sync, new customer", log, ring, lambda: run_once(first, as_of=AS_OF)),
            run(
                "(b) quiet night (access token expired)",
                log,
                ring,
                lambda: (expire(store), run_once(first, as_of=AS_OF + timedelta(1)))[1],
            ),
            run(
                "(c) first sync of a 2nd business of the company",
                log,
                ring,
                lambda: run_once(second, as_of=AS_OF),
            ),
            run(WIRED, log, ring, lambda: wired(third, milestones)),
            signing_in,
        ]


def xero(folder: Path, ring: CountingKeyring, milestones: int) -> list[Figure]:
    from connector.adapters.xero.auth import connect_xero
    from connector_sandbox.demo_stage import follow_consent
    from connector_sandbox.xero import CLIENT_ID, CLIENT_SECRET, XeroSandbox
    from connector_sandbox.xero_identity import AUTHORIZE_PATH, CONNECTIONS_PATH, TOKEN_PATH

    log = CallLog((AUTHORIZE_PATH, TOKEN_PATH, CONNECTIONS_PATH))
    with XeroSandbox() as sandbox:
        tenant = sandbox.seed_organisation(currencies=["EUR"])
        log.watch(sandbox)
        ledger = (
            f'[ledger]\nkind = "xero"\ntenant_id = "{tenant}"\n'
            f'api_url = "{sandbox.api_url}"\nidentity_url = "{sandbox.identity_url}"\n'
        )

        def connected(name: str, customer: str) -> tuple[config_mod.Config, TokenStore]:
            """`connector auth xero` through the code flow, in a process of its own."""
            cfg = config_mod.load(write_business(folder / name, name, customer, ledger, milestones))
            store = TokenStore(name, "xero")
            consent = lambda url: follow_consent(f"{url}&tenants={tenant}")  # noqa: E731
            connect_xero(
                cfg.ledger_settings, store, CLIENT_ID, CLIENT_SECRET, lambda url: None, consent
            )
            forget_all()
            return cfg, store

        log.take()
        first, store = connected("Xero One", "Brand New Customer Ltd")
        calls, sign_in = log.take()
        signing_in = Figure(SIGN_IN.format(kind="xero"), calls, sign_in, 0, 0)
        second, _ = connected("Xero Two", "Another New Customer")
        third, _ = connected("Xero Three", "A Third New Customer")

        def next_night() -> Any:
            sandbox.clock.advance(timedelta(days=1))
            expire(store)
            return run_once(first, as_of=AS_OF + timedelta(1))

        return [
            run("(a) first sync, new customer", log, ring, lambda: run_once(first, as_of=AS_OF)),
            run("(b) quiet night (access token expired)", log, ring, next_night),
            run(
                "(c) first sync of a 2nd business of the organisation",
                log,
                ring,
                lambda: run_once(second, as_of=AS_OF + timedelta(1)),
            ),
            run(WIRED, log, ring, lambda: wired(third, milestones)),
            signing_in,
        ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ledger", choices=["quickbooks", "xero", "both"], default="both")
    parser.add_argument("--milestones", type=int, default=20)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="calls-bench-"))
    os.environ["XDG_DATA_HOME"] = str(folder / "keyring")  # where the file keyring lives
    ring = CountingKeyring()
    keyring.set_keyring(ring)
    met = True
    for kind, measure in (("quickbooks", quickbooks), ("xero", xero)):
        if args.ledger not in (kind, "both"):
            continue
        figures = measure(folder / kind, ring, args.milestones)
        show(
            f"{kind}: {args.milestones} milestones, one contract, calls per business "
            f"(targets: a first sync <= {FIRST_TARGET}, a quiet night <= {QUIET_TARGET})",
            figures,
        )
        met = met and len(figures[0].calls) <= FIRST_TARGET  # the engine as it runs
        met = met and len(figures[3].calls) <= FIRST_TARGET  # its order, in a new process
        met = met and len(figures[1].calls) <= QUIET_TARGET
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
