"""The ledger calls a business costs a night, as the sandboxes count them (issue 14): a first
sync of 20 milestones for a new customer, a quiet night, another business of the same company;
the night's customers through `CustomerBook`; the keyring read once a run.

The engine asks `CustomerBook` for the night's customers before it reads the profile (look up
the night's customers, read the profile, create the missing customers, create the invoices):
the three calls are proved on that sequence of ledger calls alone and through `run_once`.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import keyring
import pytest
from keyrings.alt.file import PlaintextKeyring

from connector import config as config_mod
from connector.adapters.base import (
    Booking,
    CustomerKey,
    CustomerRef,
    Customers,
    ProfileNeeds,
)
from connector.adapters.cache import forget_all
from connector.adapters.local import MemoryLedger
from connector.adapters.xero.auth import connect_xero
from connector.credentials import SERVICE, TokenStore
from connector.errors import FatalLedgerError, RetriableLedgerError, SkippableLedgerError
from connector.models import Kind, Line, Role
from connector.sync import run_once
from connector.sync.customers import AFTER, BEFORE, CustomerBook
from connector.sync.outbox import Creation, Intent, Voiding
from connector.sync.payments import changes_since
from connector.sync.rows import InvoiceRow
from connector.sync.schema import OutboxAction
from connector.sync.state import State
from connector.testing.ledger import request
from connector_sandbox.xero import CLIENT_ID, CLIENT_SECRET
from tests import qbo_support, xero_support

FIRST_SYNC, QUIET_NIGHT = 3, 2  # ledger calls after sign-in (issue 14's targets)
AS_OF = date(2026, 11, 26)


def creation(contract: str, customer: str, currency: str = "USD", n: int = 1) -> Creation:
    key = f"mc-{contract}-{customer}-{n}".lower().replace(" ", "-")
    row = InvoiceRow(
        key=key,
        reference=key.upper(),
        action=OutboxAction.CREATE,
        contract=contract,
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
    return Creation(row)


# -- CustomerBook on its own ---------------------------------------------------------------------


class Counted(MemoryLedger):
    """The local ledger, counting the customer calls it is asked."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []
        self.fail: Exception | None = None

    def find_customers(self, wanted: list[CustomerKey]) -> Customers:  # type: ignore[override]
        self.asked.append("find")
        if self.fail is not None:
            raise self.fail
        return super().find_customers(wanted)

    def create_customers(self, wanted: list[CustomerKey]) -> Customers:  # type: ignore[override]
        self.asked.append(f"create {len(wanted)}")
        return super().create_customers(wanted)


class OneByOne:
    """A ledger that can only be asked one customer at a time (no `FindsCustomers`)."""

    name, batch_size = "one-by-one", 10

    def __init__(self) -> None:
        self.inner = MemoryLedger()
        self.asked: list[CustomerKey] = []

    def find_or_create_customer(self, name: str, currency: str) -> CustomerRef:
        self.asked.append((name, currency))
        return self.inner.find_or_create_customer(name, currency)


def night() -> list[Intent]:
    return [
        creation("C1", "Acme Corporation", n=1),
        creation("C1", "Acme Corporation", n=2),
        creation("C2", "Beta Bakery Ltd", "EUR"),
        creation("C3", "Acme Corporation", n=3),
        Voiding(creation("C4", "Void Only Ltd").row),
    ]


def test_a_ledger_that_finds_customers_is_asked_once_to_look_up_and_once_to_create():
    ledger = Counted()
    ledger.find_or_create_customer("Acme Corporation", "USD")
    book = CustomerBook(ledger, night())
    book.look_up()
    assert ledger.asked == ["find"]
    acme = book.get("Acme Corporation", "USD")
    beta = book.get("Beta Bakery Ltd", "EUR")
    assert acme is not None and beta is not None and beta.currency == "EUR"
    assert book[("Beta Bakery Ltd", "EUR")] == beta
    assert ledger.asked == ["find", "create 1"]  # a void names no customer to find
    assert book.take_problems() == []


def test_without_an_early_look_up_the_first_get_asks_for_everyone():
    ledger = Counted()
    book = CustomerBook(ledger, night())
    assert book.get("Beta Bakery Ltd", "EUR") is not None
    assert book.get("Acme Corporation", "USD") is not None
    assert ledger.asked == ["find", "create 2"]


def test_only_the_customers_still_going_are_created_once_contracts_are_held():
    ledger = Counted()
    intents = night()
    book = CustomerBook(ledger, intents)
    book.look_up()
    book.keep([i for i in intents if i.row.contract != "C2"])  # C2 held by the preflight
    assert book.get("Acme Corporation", "USD") is not None
    assert ledger.asked == ["find", "create 1"]
    assert ledger.find_customers([("Beta Bakery Ltd", "EUR")]) == {}


def test_a_ledger_without_the_ability_is_asked_one_customer_at_a_time():
    ledger = OneByOne()
    book = CustomerBook(ledger, night())  # type: ignore[arg-type]
    book.look_up()  # nothing to do for it
    assert ledger.asked == []
    assert book.get("Acme Corporation", "USD") is not None
    assert book.get("Acme Corporation", "USD") is not None
    assert ledger.asked == [("Acme Corporation", "USD")]


def test_a_customer_in_another_currency_is_one_problem_per_contract():
    ledger = Counted()
    ledger.find_or_create_customer("Acme Corporation", "EUR")
    book = CustomerBook(ledger, night())
    assert book.get("Acme Corporation", "USD") is None
    assert book.get("Acme Corporation", "USD") is None  # a second document of it
    problems = book.take_problems()
    assert [p.split(":")[0] for p in problems] == ["contract C1", "contract C3"]
    assert all("'Acme Corporation'" in p and "EUR" in p for p in problems)
    assert book.take_problems() == []  # each said once
    assert book.get("Beta Bakery Ltd", "EUR") is not None


@pytest.mark.parametrize("error", [RetriableLedgerError("503"), SkippableLedgerError("refused")])
def test_a_lookup_that_fails_is_every_customers_problem_and_the_run_goes_on(error):
    ledger = Counted()
    ledger.fail = error
    book = CustomerBook(ledger, night())
    book.look_up()
    assert book.get("Acme Corporation", "USD") is None
    assert book.get("Beta Bakery Ltd", "EUR") is None
    assert ledger.asked == ["find"]  # not asked again tonight: the next run asks
    assert [p.split(":")[0] for p in book.take_problems()] == [
        "contract C1",
        "contract C3",
        "contract C2",
    ]


def test_a_fatal_error_and_a_stop_go_to_the_engine():
    ledger = Counted()
    ledger.fail = FatalLedgerError("reconnect")
    with pytest.raises(FatalLedgerError):
        CustomerBook(ledger, night()).look_up()

    class Stop(Exception):
        pass

    seen: list[str] = []

    def checkpoint(name: str) -> None:
        seen.append(name)
        if name == BEFORE and len(seen) > 2:
            raise Stop

    ledger.fail, ledger.asked = None, []
    book = CustomerBook(ledger, night(), checkpoint)
    book.look_up()
    with pytest.raises(Stop):  # stopped before the creation: nothing created
        book.get("Beta Bakery Ltd", "EUR")
    assert seen == [BEFORE, AFTER, BEFORE] and ledger.asked == ["find"]


# -- QuickBooks: what a business costs a night ----------------------------------------------------


def twenty_milestones(
    folder: Path, sandbox, name: str = "Northwind Studio", ledger: str | None = None
) -> Path:
    """One contract for a customer the company does not have, 20 milestones done and
    accepted: 20 invoices tonight. `ledger` replaces the QuickBooks [ledger] section."""
    folder.mkdir(parents=True, exist_ok=True)
    milestones = "\n".join(
        f'[[milestones]]\nid = "M{m}"\ncontract = "C1"\namount = "1000.00"\n'
        f'status = "done"\ncompleted = 2026-10-{m + 1:02d}\naccepted = 2026-10-{m + 1:02d}\n'
        for m in range(20)
    )
    (folder / "milestones.toml").write_text(milestones)
    path = folder / "config.toml"
    path.write_text(
        f'[business]\nname = "{name}"\n[state]\npath = "state.db"\n'
        '[tracker]\nkind = "file"\npath = "milestones.toml"\n'
        + (
            ledger
            or '[ledger]\nkind = "quickbooks"\nenvironment = "sandbox"\n'
            f'api_url = "{sandbox.api_url}"\ndiscovery_url = "{sandbox.discovery_url}"\n'
            "retry_first_wait = 0.01\nretry_max_wait = 0.05\n"
        )
        + '[billing]\napproval = "required"\n'
        f'[[contracts]]\nid = "C1"\ncustomer = "New Customer of {name}"\nvalue = "20000.00"\n'
    )
    return path


def test_a_first_sync_of_twenty_milestones_is_three_calls_in_the_engines_order(qbo):
    """The engine's sequence with `CustomerBook`: the night's customers looked up (the
    company's setup comes in the same batch), the profile read for the checks, the missing
    customer created, the invoices created: three calls after sign-in."""
    ledger = qbo_support.ledger(qbo)
    intents = [creation("C1", "Brand New Customer", n=n) for n in range(20)]
    with qbo_support.served(qbo) as seen:
        book = CustomerBook(ledger, intents)
        book.look_up()
        profile = ledger.profile()
        book.keep(intents)
        customer = book.get("Brand New Customer", "USD")
        assert customer is not None and profile.home_currency == "USD"
        results = ledger.create_invoices([request(customer, n) for n in range(20)])
    assert all(r.invoice is not None for r in results) and len(qbo.invoices()) == 20
    assert seen.calls == ["POST batch", "POST customer", "POST batch"]  # setup+find, new, 20
    assert len(seen.calls) <= FIRST_SYNC


def test_a_first_sync_of_twenty_milestones_through_the_engine_is_three_calls(tmp_path, qbo):
    cfg = config_mod.load(twenty_milestones(tmp_path / "b", qbo))
    with qbo_support.served(qbo) as seen:
        report = run_once(cfg, as_of=AS_OF)
    assert len(report.created) == 20, report.problems()
    assert len(seen.calls) <= FIRST_SYNC, seen.calls


def test_a_quiet_night_is_at_most_two_calls(tmp_path, qbo):
    cfg = config_mod.load(twenty_milestones(tmp_path / "b", qbo))
    assert len(run_once(cfg, as_of=AS_OF).created) == 20
    for night_after in (1, 2):  # the invoices' own creation shows as a change the first time
        with qbo_support.served(qbo) as seen:
            report = run_once(cfg, as_of=AS_OF + timedelta(days=night_after))
        assert report.outcome == "ok" and not report.created, report.problems()
        assert len(seen.calls) <= QUIET_NIGHT, seen.calls
        assert seen.sign_in == []  # the discovery document is the process's already


def test_another_business_of_the_company_reads_none_of_its_setup_again(tmp_path, qbo):
    """A daemon syncing a second business of one company, minutes later: its customer, its
    invoices, nothing of the company's setup, no discovery."""
    first = config_mod.load(twenty_milestones(tmp_path / "one", qbo))
    assert len(run_once(first, as_of=AS_OF).created) == 20
    qbo_support.connect(qbo, "Second Studio")
    second = config_mod.load(twenty_milestones(tmp_path / "two", qbo, "Second Studio"))
    with qbo_support.served(qbo) as seen:
        report = run_once(second, as_of=AS_OF)
    assert len(report.created) == 20, report.problems()
    assert seen.calls == ["POST query", "POST customer", "POST batch"]  # find, create, invoices
    assert seen.sign_in == []


# -- Xero -----------------------------------------------------------------------------------------


XERO_SIGN_IN = ("/identity/connect/authorize", "/connect/token", "/connections")


def signed_in(xero) -> list[str]:
    """`connector auth xero` for the test's business, through the real code flow: what it
    asked of Xero's API (its token and connections requests apart)."""
    with qbo_support.served(xero.sandbox, XERO_SIGN_IN) as seen:
        connect_xero(
            xero_support.settings(xero.sandbox),
            TokenStore(xero_support.BUSINESS, "xero"),
            CLIENT_ID,
            CLIENT_SECRET,
            lambda url: None,
            xero.consent,
        )
    assert seen.sign_in == list(XERO_SIGN_IN), seen.sign_in  # the browser's consent, then ours
    forget_all()  # `connector auth` ran in a process of its own
    return seen.calls


def test_xero_a_first_sync_in_the_engines_order_and_a_quiet_night(xero):
    """Xero has no batch of reads: a first sync is the contacts, the new contact and the
    invoices. Sign-in read the organisation (its base currency is all the bookings need) and
    the connection keeps it; a business with nothing in Xero pulls no payments (a cursor from
    now on). A quiet night: the pull, two reads."""
    assert signed_in(xero) == ["GET /api.xro/2.0/Organisation"]
    ledger = xero.ledger()
    intents = [creation("C1", "Brand New Customer", n=n) for n in range(20)]
    tokens = ("/connect/token",)
    with qbo_support.served(xero.sandbox, tokens) as seen:
        changes = changes_since(ledger, None, nothing_sent=True)
        book = CustomerBook(ledger, intents)
        book.look_up()
        ledger.profile_for(ProfileNeeds.of([("USD", Booking())]))
        customer = book.get("Brand New Customer", "USD")
        assert customer is not None
        results = ledger.create_invoices([request(customer, n) for n in range(20)])
    assert all(r.invoice is not None for r in results)
    assert seen.calls == [
        "GET /api.xro/2.0/Contacts",
        "PUT /api.xro/2.0/Contacts",
        "PUT /api.xro/2.0/Invoices",
    ]
    assert len(seen.calls) <= FIRST_SYNC
    with qbo_support.served(xero.sandbox, tokens) as seen:
        xero.ledger().payment_changes(changes.cursor)
    assert len(seen.calls) <= QUIET_NIGHT, seen.calls


def test_xero_a_connection_made_before_it_kept_the_organisation_reads_it_once(tmp_path, xero):
    """A connection whose keyring entry names no base currency (made by a connector that did
    not keep it): its first billing night reads the organisation, four calls, and keeps what
    it is; a later billing night, in a new process, does not read it again."""
    sandbox = xero.sandbox
    folder = tmp_path / "b"
    cfg = config_mod.load(twenty_milestones(folder, sandbox, ledger=xero_section(xero)))
    assert TokenStore(xero_support.BUSINESS, "xero").company(xero.tenant) is None
    tokens = ("/connect/token",)
    with qbo_support.served(sandbox, tokens) as seen:
        report = run_once(cfg, as_of=AS_OF, ledger=xero.ledger())
    assert len(report.created) == 20, report.problems()
    assert seen.calls == [
        "GET /api.xro/2.0/Contacts",
        "GET /api.xro/2.0/Organisation",
        "PUT /api.xro/2.0/Contacts",
        "PUT /api.xro/2.0/Invoices",
    ]
    kept = TokenStore(xero_support.BUSINESS, "xero").company(xero.tenant)
    assert kept is not None and (kept.name, kept.home_currency) == ("Northwind Books", "USD")
    forget_all()  # the next night, a new process
    a_second_contract(folder, 1)
    with qbo_support.served(sandbox, tokens) as seen:
        report = run_once(
            config_mod.load(folder / "config.toml"),
            as_of=AS_OF + timedelta(days=1),
            ledger=xero.ledger(),
        )
    assert len(report.created) == 1, report.problems()
    assert "GET /api.xro/2.0/Organisation" not in seen.calls, seen.calls
    assert "PUT /api.xro/2.0/Invoices" in seen.calls


def a_second_contract(folder: Path, milestones: int) -> None:
    """A second contract of the same customer in `twenty_milestones`' business, with
    `milestones` billable milestones of 0.50 that bill it whole."""
    more = "\n".join(
        f'[[milestones]]\nid = "N{m}"\ncontract = "C2"\namount = "0.50"\n'
        f'status = "done"\ncompleted = 2026-11-0{m + 1}\naccepted = 2026-11-0{m + 1}\n'
        for m in range(milestones)
    )
    with (folder / "milestones.toml").open("a") as file:
        file.write("\n" + more)
    with (folder / "config.toml").open("a") as file:
        file.write('[[contracts]]\nid = "C2"\ncustomer = "New Customer of Northwind Studio"\n')
        file.write(f'value = "{Decimal("0.50") * milestones}"\n')


def xero_section(xero) -> str:
    sandbox = xero.sandbox
    return (
        f'[ledger]\nkind = "xero"\ntenant_id = "{xero.tenant}"\n'
        f'api_url = "{sandbox.api_url}"\nidentity_url = "{sandbox.identity_url}"\n'
        "retry_first_wait = 0.01\nretry_max_wait = 0.05\n"
    )


def test_xero_a_first_sync_and_quiet_nights_through_the_engine(tmp_path, xero):
    """The same three calls through `run_once` after sign-in; the next nights at most two, and
    a payment made in Xero after the first night is pulled on the next (the first cursor lost
    nothing)."""
    sandbox = xero.sandbox
    cfg = config_mod.load(twenty_milestones(tmp_path / "b", sandbox, ledger=xero_section(xero)))
    signed_in(xero)
    tokens = ("/connect/token",)
    with qbo_support.served(sandbox, tokens) as seen:
        report = run_once(cfg, as_of=AS_OF, ledger=xero.ledger())
    assert len(report.created) == 20, report.problems()
    assert len(xero.invoices()) == 20
    assert seen.calls == [
        "GET /api.xro/2.0/Contacts",
        "PUT /api.xro/2.0/Contacts",
        "PUT /api.xro/2.0/Invoices",
    ]
    first = xero.invoices()[0]
    xero.pay(first["InvoiceID"], first["Total"], AS_OF)
    for night_after in (1, 2):
        with qbo_support.served(sandbox, tokens) as seen:
            report = run_once(cfg, as_of=AS_OF + timedelta(days=night_after), ledger=xero.ledger())
        assert report.outcome == "ok" and not report.created, report.problems()
        assert len(seen.calls) <= QUIET_NIGHT, seen.calls
        assert report.payments_pulled == (1 if night_after == 1 else 0)
    state = State.open(cfg.state_url, cfg.business.name, path=cfg.state_path, read_only=True)
    paid = [r for r in state.invoice_rows() if r.state == "paid"]
    assert [r.ledger_id for r in paid] == [first["InvoiceID"]]


def test_xero_a_customer_the_books_already_had_is_used_not_doubled(tmp_path, xero):
    """A customer a person set up in Xero before the connector came (typed here in other
    capitals, with a stray space) and never billed by it: the lookup finds it, and the invoices
    go on that contact. Xero holds one contact of the name, and a later night creates none."""
    existing = "new customer of northwind studio "
    xero.sandbox.seed_organisation(
        xero.tenant, name="Northwind Books", currencies=["EUR"], contacts=[existing]
    )
    folder = tmp_path / "b"
    cfg = config_mod.load(twenty_milestones(folder, xero.sandbox, ledger=xero_section(xero)))
    signed_in(xero)
    tokens = ("/connect/token",)
    with qbo_support.served(xero.sandbox, tokens) as seen:
        report = run_once(cfg, as_of=AS_OF, ledger=xero.ledger())
    assert len(report.created) == 20, report.problems()
    assert seen.calls == ["GET /api.xro/2.0/Contacts", "PUT /api.xro/2.0/Invoices"]
    (contact,) = xero.sandbox.contacts(xero.tenant)
    assert {i["Contact"]["ContactID"] for i in xero.invoices()} == {contact["ContactID"]}
    a_second_contract(folder, 2)
    with qbo_support.served(xero.sandbox, tokens) as seen:
        report = run_once(
            config_mod.load(folder / "config.toml"), as_of=AS_OF, ledger=xero.ledger()
        )
    assert len(report.created) == 2, report.problems()
    assert "PUT /api.xro/2.0/Contacts" not in seen.calls
    assert "GET /api.xro/2.0/Contacts" in seen.calls
    assert len(xero.sandbox.contacts(xero.tenant)) == 1


def test_xero_a_customer_the_books_have_in_another_currency_is_a_problem(tmp_path, xero):
    """A customer Xero already has in EUR is reported as set up in another currency: nothing
    is invoiced, no contact is added."""
    xero.sandbox.seed_organisation(
        xero.tenant,
        name="Northwind Books",
        currencies=["EUR"],
        contacts=[{"Name": "New Customer of Northwind Studio", "DefaultCurrency": "EUR"}],
    )
    cfg = config_mod.load(
        twenty_milestones(tmp_path / "b", xero.sandbox, ledger=xero_section(xero))
    )
    report = run_once(cfg, as_of=AS_OF, ledger=xero.ledger())
    assert not report.created and not xero.invoices()
    assert any("is set up in EUR in Xero" in p for p in report.problems()), report.problems()
    assert len(xero.sandbox.contacts(xero.tenant)) == 1


# -- the keyring, read once a run ---------------------------------------------------------------


class CountedFileKeyring(PlaintextKeyring):
    """keyrings.alt's plain file keyring, counting the times it parses its file to read."""

    reads = 0

    def get_password(self, service: str, username: str) -> str | None:
        CountedFileKeyring.reads += 1
        return super().get_password(service, username)


@pytest.fixture
def file_keyring(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "keyring-home"))
    ring = CountedFileKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(previous)


def test_a_run_reads_the_file_keyring_once_and_sees_a_write_made_elsewhere(
    tmp_path, qbo, file_keyring
):
    """A night whose access token has expired: the token is refreshed and saved (before it is
    used), and the file is parsed once; a write by another program is seen at the next read."""
    cfg = config_mod.load(twenty_milestones(tmp_path / "b", qbo))
    qbo_support.connect(qbo)  # into the file keyring
    for n in range(30):  # the file holds a fleet's entries
        TokenStore(f"Other Business {n}", "quickbooks").save(
            TokenStore("Northwind Studio", "quickbooks").require()
        )
    store = TokenStore("Northwind Studio", "quickbooks")
    from dataclasses import replace

    store.save(replace(store.require(), access_expires_at="2000-01-01T00:00:00+00:00"))
    before = CountedFileKeyring.reads
    with qbo_support.served(qbo) as seen:
        report = run_once(cfg, as_of=AS_OF)
    assert len(report.created) == 20, report.problems()
    assert any(p.endswith("/tokens/bearer") for p in seen.sign_in)  # refreshed, and saved:
    assert TokenStore("Northwind Studio", "quickbooks").require().access_valid()
    assert CountedFileKeyring.reads - before <= 1
    theirs = replace(store.require(), refresh_token="written-by-connector-auth")
    PlaintextKeyring().set_password(SERVICE, store.username, theirs_json(theirs))
    assert TokenStore("Northwind Studio", "quickbooks").require().refresh_token == (
        "written-by-connector-auth"
    )
    assert store.require().refresh_token == "written-by-connector-auth"


def theirs_json(tokens) -> str:
    import json
    from dataclasses import asdict

    return json.dumps(asdict(tokens))
