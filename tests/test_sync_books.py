"""Whole syncs of real companies' books: the business's config as a bookkeeper writes it (tax
code, amounts, class, location, tracking, send), the real adapters and SDKs over real HTTP
against the QuickBooks and Xero sandboxes, and the state as the sync leaves it.

A Canadian QuickBooks company taxed at HST, the same business without a tax code (held before
any push, naming the codes the company has), a EUR contract in a USD company at the company's
rate, a class on every line, a UK Xero organisation with tracking, and invoices emailed once:
across a crash at every step of the send, and the night after a customer gets an email address.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connector.models import Reason
from connector.sync.plan import document_books, preview
from connector.sync.report import TaxBy
from connector_sandbox.local import FaultyLocalLedger
from connector_sandbox.quickbooks import DEFAULT_REALM, QuickBooksSandbox
from tests import cli_support, qbo_support
from tests.conftest import AS_OF, Business
from tests.xero_support import XeroBusiness, XeroWorld

D = Decimal

CONFIG = """
[business]
name = "Northwind Studio"
timezone = "America/Toronto"
currency = "{currency}"

[state]
path = "state.db"

[tracker]
kind = "file"
path = "milestones.toml"

{ledger}
[billing]
approval = "required"
{billing}

[[contracts]]
id = "ACME-WEB"
customer = "{customer}"
value = "10000.00"
start = 2026-09-01
terms_days = 15
{contract}
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
status = "open"
"""
# the last milestone done and accepted: one more invoice, of 5,000.00
M3_DONE = MILESTONES.replace(
    'status = "open"', 'status = "done"\ncompleted = 2026-11-20\naccepted = 2026-11-25'
)


def write_books(
    root: Path,
    ledger: str,
    *,
    currency: str = "USD",
    customer: str = "Acme Corporation",
    billing: str = "",
    contract: str = "",
    milestones: str = MILESTONES,
) -> None:
    root.mkdir(parents=True, exist_ok=True)
    text = CONFIG.format(
        currency=currency, ledger=ledger, billing=billing, customer=customer, contract=contract
    )
    (root / "config.toml").write_text(text)
    (root / "milestones.toml").write_text(milestones)


def qbo_ledger(sandbox: QuickBooksSandbox) -> str:
    return (
        '[ledger]\nkind = "quickbooks"\nenvironment = "sandbox"\n'
        f'api_url = "{sandbox.api_url}"\ndiscovery_url = "{sandbox.discovery_url}"\n'
        "retry_first_wait = 0.01\nretry_max_wait = 0.05\n"
    )


def qbo_books(root: Path, sandbox: QuickBooksSandbox, **config: str) -> Business:
    """The business on disk, its [ledger] the QuickBooks sandbox (each sync builds the adapter
    from the config, as `connector sync` does)."""
    write_books(root, qbo_ledger(sandbox), **config)
    return Business(root, None)  # type: ignore[arg-type]


def xero_books_business(root: Path, world: XeroWorld, **config: str) -> XeroBusiness:
    sandbox = world.sandbox
    ledger = (
        f'[ledger]\nkind = "xero"\ntenant_id = "{world.tenant}"\n'
        f'api_url = "{sandbox.api_url}"\nidentity_url = "{sandbox.identity_url}"\n'
        "retry_first_wait = 0.01\nretry_max_wait = 0.05\n"
    )
    write_books(root, ledger, **config)
    business = XeroBusiness(root, None)  # type: ignore[arg-type]
    business.world = world
    return business


@pytest.fixture
def company(qbo_server: QuickBooksSandbox):
    """`company(country, **seed)`: a fresh QuickBooks company, the business connected to it.
    Request counts start afresh (these tests send many requests to one realm)."""
    qbo_server.limits.reset()
    qbo_server.batch_limits.reset()

    def make(country: str = "US", **seed: Any) -> QuickBooksSandbox:
        qbo_server.faults.clear()
        qbo_server.seed_company(DEFAULT_REALM, country=country, **seed)
        qbo_support.connect(qbo_server)
        return qbo_server

    yield make
    qbo_server.faults.clear()
    qbo_server.limits.reset()
    qbo_server.batch_limits.reset()


def by_total(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(docs, key=lambda d: D(str(d["TotalAmt"])))


def sales_lines(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [ln for ln in doc["Line"] if ln.get("DetailType") == "SalesItemLineDetail"]


def rows_by_total(business: Business) -> list[Any]:
    return sorted(business.state().invoice_rows(), key=lambda r: r.total_minor)


# -- tax ---------------------------------------------------------------------------------------


def test_a_canadian_company_books_hst_and_the_state_keeps_the_tax_it_computed(tmp_path, company):
    sandbox = company("CA")
    business = qbo_books(tmp_path / "b", sandbox, currency="CAD", billing='tax_code = "HST ON"')
    report = business.sync()
    assert report.outcome == "ok", report.problems()
    docs = by_total(sandbox.invoices())
    assert [(d["TxnTaxDetail"]["TotalTax"], d["TotalAmt"]) for d in docs] == [
        (D("260.00"), D("2260.00")),
        (D("390.00"), D("3390.00")),
    ]
    hst = qbo_support.ledger(sandbox).books.tax_codes().id_of("HST ON")
    assert hst and all(
        ln["SalesItemLineDetail"]["TaxCodeRef"]["value"] == hst
        for d in docs
        for ln in sales_lines(d)
    )
    assert {d["GlobalTaxCalculation"] for d in docs} == {"TaxExcluded"}
    rows = rows_by_total(business)
    assert [(r.total, r.tax, r.balance) for r in rows] == [
        (D("2000.00"), D("260.00"), D("2260.00")),
        (D("3000.00"), D("390.00"), D("3390.00")),
    ]
    assert {r.delivery for r in rows} == {None}  # send is "never" unless the config says


def test_without_a_tax_code_the_codes_are_listed_before_any_push(
    tmp_path, company, monkeypatch, capsys
):
    """A Canadian company needs a tax code on every line: `plan` and `sync` say so, listing
    the company's codes, before anything reaches QuickBooks, and the sync exits 1."""
    sandbox = company("CA")
    business = qbo_books(tmp_path / "b", sandbox, currency="CAD")
    _, planned = preview(business.config(), AS_OF)
    assert planned.invoices == []
    assert {(s.milestone, s.reason) for s in planned.problems} == {
        ("ACME-M1", Reason.INVALID_CONTRACT),
        ("ACME-M2", Reason.INVALID_CONTRACT),
    }
    code, out = cli_support.sync(business.config_path, monkeypatch, capsys)
    assert code == 1, out
    assert "contract ACME-WEB has no tax_code, and every line in this company (CA) needs one" in out
    for listed in ('"GST"', '"HST ON"', '"Exempt"', '"Zero-rated"'):
        assert listed in out
    assert sandbox.invoices() == [] and sandbox.customers() == []
    assert business.state().invoice_rows() == []
    run = business.state().last_run()
    assert run is not None and run.outcome == "problems"
    (problem,) = run.problems
    assert problem.startswith("contract ACME-WEB has no tax_code") and '"HST ON"' in problem
    # the bookkeeper sets the code: the next night bills both, taxed
    text = business.config_path.read_text()
    business.config_path.write_text(text.replace("[billing]\n", '[billing]\ntax_code = "HST ON"\n'))
    night = business.sync()
    assert night.outcome == "ok", night.problems()
    assert [d["TxnTaxDetail"]["TotalTax"] for d in by_total(sandbox.invoices())] == [
        D("260.00"),
        D("390.00"),
    ]


def test_the_plan_says_who_computes_the_tax_and_what_is_emailed(tmp_path, company):
    sandbox = company("CA")
    business = qbo_books(
        tmp_path / "b",
        sandbox,
        currency="CAD",
        billing='tax_code = "GST"\nsend = "on-create"',
        contract='tax_code = "HST ON"\namounts = "inclusive"',
    )
    config = business.config()
    _, planned = preview(config, AS_OF)
    books = document_books(config, planned.invoices)
    assert [(b.tax, b.tax_code, str(b.amounts), b.emailed) for b in books.values()] == [
        (TaxBy.LEDGER, "HST ON", "inclusive", True)
    ] * 2
    assert books[planned.invoices[0].key].sentence() == (
        "the ledger computes the tax with tax code HST ON (the amounts include it); emailed to "
        "the client once the ledger has it"
    )
    assert sandbox.invoices() == []  # the plan wrote nothing


# -- currencies, classes, tracking -----------------------------------------------------------


def test_a_euro_contract_in_a_dollar_company_is_booked_at_the_company_s_rate(tmp_path, company):
    sandbox = company("US", currencies=["EUR"], exchange_rates={"EUR": "1.0850"})
    business = qbo_books(tmp_path / "b", sandbox, contract='currency = "EUR"')
    report = business.sync()
    assert report.outcome == "ok", report.problems()
    docs = by_total(sandbox.invoices())
    assert [(d["CurrencyRef"]["value"], d["ExchangeRate"], d["HomeTotalAmt"]) for d in docs] == [
        ("EUR", D("1.0850"), D("2170.00")),
        ("EUR", D("1.0850"), D("3255.00")),
    ]
    assert [(r.currency, r.total, r.tax) for r in rows_by_total(business)] == [
        ("EUR", D("2000.00"), D("0.00")),
        ("EUR", D("3000.00"), D("0.00")),
    ]


def test_a_class_on_every_line_and_the_location_on_each_invoice(tmp_path, company):
    sandbox = company(
        "US", classes=["Design", "Build"], departments=["Boston", "Austin"], class_tracking="line"
    )
    business = qbo_books(tmp_path / "b", sandbox, contract='class = "Build"\nlocation = "Austin"')
    report = business.sync()
    assert report.outcome == "ok", report.problems()
    books = qbo_support.ledger(sandbox).books
    build, austin = books.classes().id_of("Build"), books.locations().id_of("Austin")
    docs = sandbox.invoices()
    assert len(docs) == 2
    for doc in docs:
        assert [ln["SalesItemLineDetail"]["ClassRef"]["value"] for ln in sales_lines(doc)] == [
            build
        ] * len(sales_lines(doc))
        assert doc["DepartmentRef"]["value"] == austin


def test_a_class_the_company_lacks_holds_the_contract_naming_the_classes(tmp_path, company):
    sandbox = company("US", classes=["Design", "Build"], class_tracking="line")
    business = qbo_books(tmp_path / "b", sandbox, contract='class = "Buld"')
    report = business.sync()
    assert report.exit_code == 1
    assert report.problems() == [
        'contract ACME-WEB: class "Buld" is not in the company\'s list: "Build", "Design"; '
        "tonight's documents of contract ACME-WEB are held until this is fixed"
    ]
    assert sandbox.invoices() == []


def test_a_uk_xero_organisation_books_vat_and_tracking_on_every_line(tmp_path, xero_books):
    world = xero_books("GB", "GBP", tracking={"Region": ["North", "South"]})
    business = xero_books_business(
        tmp_path / "b",
        world,
        currency="GBP",
        billing='tax_code = "OUTPUT2"',
        contract='tracking = { Region = "North" }',
    )
    report = business.sync()
    assert report.outcome == "ok", report.problems()
    docs = sorted(world.invoices(), key=lambda d: d["Total"])
    assert [(d["SubTotal"], d["TotalTax"], d["Total"]) for d in docs] == [
        (D("2000.00"), D("400.00"), D("2400.00")),
        (D("3000.00"), D("600.00"), D("3600.00")),
    ]
    for doc in docs:
        assert [[(t["Name"], t["Option"]) for t in ln["Tracking"]] for ln in doc["LineItems"]] == [
            [("Region", "North")]
        ] * len(doc["LineItems"])
        assert {ln["TaxType"] for ln in doc["LineItems"]} == {"OUTPUT2"}
    assert [(r.tax, r.balance) for r in rows_by_total(business)] == [
        (D("400.00"), D("2400.00")),
        (D("600.00"), D("3600.00")),
    ]


def test_a_tracking_option_xero_lacks_is_held_before_xero_could_drop_it(tmp_path, xero_books):
    world = xero_books("GB", "GBP", tracking={"Region": ["North", "South"]})
    business = xero_books_business(
        tmp_path / "b", world, currency="GBP", contract='tracking = { Region = "East" }'
    )
    report = business.sync()
    assert report.exit_code == 1
    (problem,) = report.problems()
    assert problem.startswith('contract ACME-WEB: "East" is not an active option of tracking')
    assert world.invoices() == []


# -- sending -----------------------------------------------------------------------------------

SEND = 'send = "on-create"'


def with_email(sandbox: QuickBooksSandbox, name: str = "Acme Corporation") -> None:
    """The customer is in QuickBooks already, with an email address on file."""
    qbo_support.ledger(sandbox).find_or_create_customer(name, "USD")
    sandbox.set_customer_email(DEFAULT_REALM, name, "ap@acme.example")


def emails_per_invoice(sandbox: QuickBooksSandbox) -> Counter[str]:
    return Counter(e["invoice_id"] for e in sandbox.sent_emails())


class Crash(BaseException):
    """The process dying: not an Exception, so nothing in the engine catches it."""


def crash_in_first_send(step: int):
    """A checkpoint that crashes the run at the `step`-th checkpoint from the first send's
    start (0: before `sending` is committed)."""
    seen: list[str] = []

    def checkpoint(name: str) -> None:
        if name == "before:commit:sending" or seen:
            seen.append(name)
            if len(seen) == step + 1:
                raise Crash(name)

    return checkpoint


# before:commit:sending, its commit (before, after), before:send_invoice, after:send_invoice,
# the commit of `sent` (before, after)
SEND_STEPS = 7


@pytest.mark.parametrize("step", range(SEND_STEPS))
def test_quickbooks_emails_each_invoice_once_across_a_crash_at_any_step(tmp_path, company, step):
    sandbox = company("US")
    with_email(sandbox)
    business = qbo_books(tmp_path / "b", sandbox, billing=SEND)
    with pytest.raises(Crash):
        business.sync(checkpoint=crash_in_first_send(step))
    night = business.sync()
    assert night.outcome == "ok", night.problems()
    ids = {d["Id"] for d in sandbox.invoices()}
    assert len(ids) == 2 and emails_per_invoice(sandbox) == Counter(dict.fromkeys(ids, 1))
    rows = business.state().invoice_rows()
    assert {(r.delivery, bool(r.sent_at)) for r in rows} == {("sent", True)}
    assert business.sync().sent == [] and len(sandbox.sent_emails()) == 2


def test_a_customer_without_an_email_is_a_problem_until_one_is_set(tmp_path, company):
    sandbox = company("US")
    business = qbo_books(tmp_path / "b", sandbox, billing=SEND)
    first = business.sync()
    assert first.exit_code == 1 and len(first.created) == 2 and first.sent == []
    refused = [p for p in first.problems() if "was not emailed" in p]
    assert len(refused) == 2
    missing = "customer 'Acme Corporation' has no email address in QuickBooks"
    assert all(missing in p for p in refused)
    rows = business.state().invoice_rows()
    assert {r.delivery for r in rows} == {"refused"}
    assert all(r.error and missing in r.error for r in rows)  # the reason, for status
    assert sandbox.sent_emails() == []
    # the bookkeeper adds the address; the next night sends both, once
    sandbox.set_customer_email(DEFAULT_REALM, "Acme Corporation", "ap@acme.example")
    second = business.sync()
    assert second.outcome == "ok", second.problems()
    assert len(second.sent) == 2 and len(sandbox.sent_emails()) == 2
    assert {e["to"] for e in sandbox.sent_emails()} == {"ap@acme.example"}
    rows = business.state().invoice_rows()
    assert {(r.delivery, r.error) for r in rows} == {("sent", None)}
    assert business.sync().outcome == "ok" and len(sandbox.sent_emails()) == 2


def test_invoices_created_before_send_was_switched_on_are_not_emailed(tmp_path, company):
    sandbox = company("US")
    with_email(sandbox)
    business = qbo_books(tmp_path / "b", sandbox)
    assert business.sync().outcome == "ok"
    text = business.config_path.read_text().replace("[billing]\n", f"[billing]\n{SEND}\n")
    business.config_path.write_text(text)
    business.milestones(M3_DONE)
    night = business.sync()
    assert night.outcome == "ok", night.problems()
    (new,) = [d for d in sandbox.invoices() if D(str(d["TotalAmt"])) == D("5000.00")]
    assert [e["invoice_id"] for e in sandbox.sent_emails()] == [new["Id"]]
    deliveries = {r.total: r.delivery for r in business.state().invoice_rows()}
    assert deliveries == {D("2000.00"): None, D("3000.00"): None, D("5000.00"): "sent"}


def test_a_credit_note_is_never_emailed(tmp_path, company):
    sandbox = company("US")
    with_email(sandbox)
    business = qbo_books(tmp_path / "b", sandbox, billing=SEND)
    text = business.config_path.read_text().replace('approval = "required"', "")
    business.config_path.write_text(
        text.replace("[billing]\n", '[billing]\non_change = "credit-and-reissue"\n')
    )
    business.sync()
    invoice = next(d for d in sandbox.invoices() if D(str(d["TotalAmt"])) == D("2000.00"))
    sandbox.record_payment(DEFAULT_REALM, invoice["Id"], "500.00", date(2026, 11, 20))
    business.milestones(MILESTONES.replace('percent = "20"', 'percent = "15"'))
    night = business.sync()
    assert night.outcome == "ok", night.problems()
    assert len(sandbox.credit_memos()) == 1
    credit = next(r for r in business.state().invoice_rows() if r.is_credit_note)
    assert credit.delivery is None and credit.tax == D("0.00")
    # the two invoices of the first night, and the reissue: each emailed once
    assert sorted(emails_per_invoice(sandbox).values()) == [1, 1, 1]


@pytest.mark.parametrize("crash_at", ["before:send_invoice", "after:send_invoice"])
def test_xero_emails_each_invoice_once_across_a_crash(tmp_path, xero_books, crash_at):
    world = xero_books("GB", "GBP")
    business = xero_books_business(
        tmp_path / "b", world, currency="GBP", customer="Acme Ltd", billing=SEND
    )
    # the same organisation, with the client already a contact, with an email address
    world.sandbox.seed_organisation(
        world.tenant,
        base_currency="GBP",
        country="GB",
        contacts=[{"Name": "Acme Ltd", "EmailAddress": "accounts@acme.example"}],
    )

    def crash(name: str) -> None:
        if name == crash_at:
            raise Crash(name)

    with pytest.raises(Crash):
        business.sync(checkpoint=crash)
    night = business.sync()
    assert night.outcome == "ok", night.problems()
    assert len(night.sent) == 2  # the one in flight, found sent or sent now, and the other
    ids = [d["InvoiceID"] for d in world.invoices()]
    assert len(ids) == 2
    assert [world.sandbox.emails(world.tenant, i) for i in ids] == [["accounts@acme.example"]] * 2
    rows = business.state().invoice_rows()
    assert {r.delivery for r in rows} == {"sent"}
    assert all(r.payment_link and r.payment_link.startswith("https://in.xero.com/") for r in rows)
    business.sync()
    assert [len(world.sandbox.emails(world.tenant, i)) for i in ids] == [1, 1]


def test_a_xero_contact_without_an_email_is_refused_then_sent(tmp_path, xero_books):
    world = xero_books("GB", "GBP")
    business = xero_books_business(
        tmp_path / "b", world, currency="GBP", customer="Acme Ltd", billing=SEND
    )
    first = business.sync()
    assert first.exit_code == 1
    assert sum("customer 'Acme Ltd' has no email address in Xero" in p for p in first.problems())
    world.sandbox.set_contact_email(world.tenant, "Acme Ltd", "accounts@acme.example")
    second = business.sync()
    assert second.outcome == "ok", second.problems()
    assert [len(world.sandbox.emails(world.tenant, d["InvoiceID"])) for d in world.invoices()] == [
        1,
        1,
    ]


class LocalWithoutSending(FaultyLocalLedger):
    """A ledger that cannot email documents (no `send_invoice`)."""

    send_invoice = None  # type: ignore[assignment]


def test_send_on_a_ledger_that_cannot_send_is_a_problem_before_any_push(tmp_path):
    write_books(tmp_path / "b", '[ledger]\nkind = "local"\npath = "ledger.json"\n', billing=SEND)
    business = Business(tmp_path / "b", LocalWithoutSending())
    report = business.sync()
    assert report.exit_code == 1
    assert report.problems() == [
        'send = "on-create" asks the ledger to email invoices to the client, but the memory '
        'ledger cannot send them: set send = "never" (in [billing], or on contract ACME-WEB) '
        "and send them from the ledger yourself; tonight's documents of contract ACME-WEB are "
        "held until this is fixed"
    ]
    assert business.ledger.documents() == [] and business.state().invoice_rows() == []
