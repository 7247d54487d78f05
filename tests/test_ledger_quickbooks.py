"""The QuickBooks adapter through python-quickbooks over real HTTP against the local sandbox."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest

from connector.adapters.cache import forget_all
from connector.errors import SkippableLedgerError
from connector.testing.ledger import LedgerConformance, request
from connector_sandbox.quickbooks import DEFAULT_REALM, QuickBooksSandbox
from tests import qbo_support


@pytest.fixture
def fresh(qbo):
    return qbo


class TestQuickBooksLedger(LedgerConformance):
    @pytest.fixture
    def ledger(self, fresh):
        return qbo_support.ledger(fresh)

    def pay(self, ledger, invoice, amount):
        # the customer pays in QuickBooks itself, not through the adapter
        _SANDBOX[0].record_payment(DEFAULT_REALM, invoice.ledger_id, amount, date(2026, 11, 20))

    @pytest.fixture(autouse=True)
    def _remember(self, fresh):
        _SANDBOX[:] = [fresh]


_SANDBOX: list[QuickBooksSandbox] = []


def test_invoice_lines_arrive_as_sent(fresh):
    ledger = qbo_support.ledger(fresh)
    customer = ledger.find_or_create_customer("O'Brien & Sons", "USD")
    (result,) = ledger.create_invoices([request(customer, 1, "1234.56")])
    stored = next(i for i in fresh.invoices() if i["Id"] == result.invoice.ledger_id)
    assert stored["DocNumber"] == result.invoice.reference
    assert [
        (ln.get("Description"), str(ln["Amount"]))
        for ln in stored["Line"]
        if ln.get("DetailType") == "SalesItemLineDetail"
    ] == [("Milestone 1", "1234.56"), ("Retainage withheld (5%)", "-50.00")]
    assert str(stored["TotalAmt"]) == "1184.56"
    # the quote in the name survived the query language
    assert ledger.find_or_create_customer("O'Brien & Sons", "USD").id == customer.id


def test_a_rotated_refresh_token_is_saved_before_use(fresh, memory_keyring):
    from datetime import timedelta

    from connector.credentials import TokenStore

    store = TokenStore("Northwind Studio", "quickbooks")
    before = store.load()
    ledger = qbo_support.ledger(fresh)
    ledger.session.refresh(before)
    same_day = store.load()  # Intuit changes the value about a day after issuing it
    assert same_day.refresh_token == before.refresh_token
    assert same_day.access_token != before.access_token
    fresh.clock.advance(timedelta(hours=25))
    ledger.session.refresh(same_day)
    after = store.load()
    assert after.refresh_token != before.refresh_token
    assert after.access_token != same_day.access_token
    # the old refresh token is on its last day: a crash now must not leave us holding only it
    assert store.load().refresh_token == after.refresh_token
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    assert customer.id


def test_an_old_cursor_falls_back_from_cdc_to_a_query(fresh):
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    ledger = qbo_support.ledger(fresh)
    customer = ledger.find_or_create_customer("Acme Corporation", "USD")
    (made,) = ledger.create_invoices([request(customer, 1)])
    fresh.record_payment(DEFAULT_REALM, made.invoice.ledger_id, "100.00", date(2026, 11, 20))
    stale = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    changes = ledger.payment_changes(stale)  # CDC would refuse a 40-day-old changedSince
    (seen,) = [i for i in changes.invoices if i.ledger_id == made.invoice.ledger_id]
    assert seen.balance == Decimal("850.00") and [p.amount for p in seen.payments] == [
        Decimal("100.00")
    ]


# -- a retriable error while the lookup window is read (issue 11) ------------------------------


def test_a_429_storm_on_preferences_leaves_unconfirmed_invoices_in_doubt(
    tmp_path, fresh, monkeypatch, capsys
):
    """The engine reads `lookup_window` before its lookups; a throttled read of the company's
    preferences there is reported and the intents wait for the next run, never 'unexpected
    RetriableLedgerError'."""
    from collections import Counter

    from tests.cli_support import sync

    business = qbo_support.qbo_business(tmp_path / "b", fresh)
    ready = qbo_support.ledger(fresh)  # the setup and the customers read and made beforehand,
    ready.profile()  # so that only the invoices' batch meets the errors below
    ready.find_or_create_customers([("Acme Corporation", "USD"), ("Beta Bakery Ltd", "EUR")])
    fresh.faults.fail(100, status=503, match="batch")  # the invoices go out unconfirmed
    code, _ = sync(business.config_path, monkeypatch, capsys)
    pushing = [r for r in business.state().invoice_rows() if r.state == "pushing"]
    assert code == 1 and pushing
    fresh.faults.clear()
    forget_all()  # a new process: the preferences are read again, in the setup's batch
    fresh.faults.throttle(100, match="batch")
    code, printed = sync(business.config_path, monkeypatch, capsys)
    assert code == 1, printed
    assert "error: unexpected" not in printed
    assert "could not be checked in the ledger" in printed and "checked again next run" in printed
    still = [r for r in business.state().invoice_rows() if r.state == "pushing"]
    assert {r.key for r in still} == {r.key for r in pushing}
    fresh.faults.clear()
    code, printed = sync(business.config_path, monkeypatch, capsys)
    assert code == 0, printed
    numbers = Counter(i["DocNumber"] for i in fresh.invoices())
    assert max(numbers.values()) == 1
    assert set(numbers) == {r.reference for r in business.state().invoice_rows()}


def test_an_unknown_numbering_is_looked_up_without_a_time_limit(fresh):
    """`lookup_window` answered "no limit" because the numbering could not be read; when the
    lookup then finds QuickBooks numbering itself (the reference only in notes), it searches
    every document, not the last 60 days, so an older unconfirmed invoice is not sent twice."""
    fresh.seed_company(DEFAULT_REALM, currencies=["EUR"], custom_txn_numbers=False)
    fresh.clock.advance(timedelta(days=-90))
    old = qbo_support.ledger(fresh)
    customer = old.find_or_create_customer("Acme Corporation", "USD")
    (made,) = old.create_invoices([request(customer, 1)])
    fresh.clock.advance(timedelta(days=90))
    assert qbo_support.ledger(fresh).lookup_window == timedelta(days=60)  # the usual answer
    ledger = qbo_support.ledger(fresh)
    forget_all()  # a new process, which reads the preferences in the setup's one batch
    fresh.faults.throttle(ledger.session.attempts, match="batch")  # ends just in time
    assert ledger.lookup_window is None
    found = ledger.find_invoices([made.invoice.reference])
    assert found[made.invoice.reference].ledger_id == made.invoice.ledger_id


# -- a wrong client secret (issue 11) -------------------------------------------------------------


def test_a_wrong_client_secret_is_named_and_connector_auth_asks_for_the_keys_again(
    tmp_path, fresh, monkeypatch, capsys
):
    from dataclasses import replace

    from connector.credentials import TokenStore
    from connector_sandbox.quickbooks import CLIENT_ID, CLIENT_SECRET
    from tests.cli_support import auth_quickbooks, sync

    business = qbo_support.qbo_business(tmp_path / "b", fresh)
    store = TokenStore("Northwind Studio", "quickbooks")
    store.save(replace(store.load(), client_secret="a-mistyped-secret"))
    fresh.clock.advance(timedelta(hours=2))  # the access token has expired: refresh needed
    code, printed = sync(business.config_path, monkeypatch, capsys)
    assert code == 2
    assert "invalid_client" in printed and "client ID or secret" in printed
    assert "refresh token" not in printed and "a-mistyped-secret" not in printed
    assert store.load().keys_refused and store.load().refresh_token  # the connection is kept
    answer = auth_quickbooks(business, monkeypatch, f"{CLIENT_ID}\n{CLIENT_SECRET}\n")
    assert answer.exit_code == 0, answer.output
    assert "client ID" in answer.output  # asked, not reused
    assert not store.load().keys_refused
    assert sync(business.config_path, monkeypatch, capsys)[0] == 0


def test_signing_in_with_stored_keys_that_quickbooks_refuses_says_so_then_asks(
    tmp_path, fresh, monkeypatch
):
    from dataclasses import replace

    from connector.credentials import TokenStore
    from connector_sandbox.quickbooks import CLIENT_ID, CLIENT_SECRET
    from tests.cli_support import auth_quickbooks

    business = qbo_support.qbo_business(tmp_path / "b", fresh)
    store = TokenStore("Northwind Studio", "quickbooks")
    store.save(replace(store.load(), client_secret="rotated-in-the-portal"))
    refused = auth_quickbooks(business, monkeypatch)  # reuses the stored keys
    assert refused.exit_code != 0
    assert "invalid_client" in str(refused.exception)
    assert "client ID or secret" in str(refused.exception)
    again = auth_quickbooks(business, monkeypatch, f"{CLIENT_ID}\n{CLIENT_SECRET}\n")
    assert again.exit_code == 0, again.output
    assert store.load().client_secret == CLIENT_SECRET


# -- the night's customers in two calls, the setup kept per company (issue 14) -----------------


def test_the_nights_customers_are_one_lookup_and_one_batch_of_creates(fresh):
    """All of a night's customers are looked up in one query, quotes and all, and the missing
    ones created in one batch; the lookup carries the company's setup reads, so the profile
    and the invoice item then cost nothing more."""
    earlier = qbo_support.ledger(fresh)
    known = earlier.find_or_create_customer("O'Brien & Sons", "USD")
    earlier.find_or_create_customer("Euro Client GmbH", "EUR")
    forget_all()  # a new process: nothing of the company is kept yet
    ledger = qbo_support.ledger(fresh)
    wanted = [
        ("O'Brien & Sons", "USD"),
        ("Acme Corporation", "USD"),
        ("Zoë's Café 'Le Petit'", "EUR"),
        ("Euro Client GmbH", "USD"),
    ]
    with qbo_support.served(fresh) as seen:
        found = ledger.find_or_create_customers(wanted)
    assert seen.calls == ["POST batch", "POST batch"]  # one lookup, one creation
    assert found[("O'Brien & Sons", "USD")] == known
    assert isinstance(found[("Euro Client GmbH", "USD")], SkippableLedgerError)
    assert "EUR" in str(found[("Euro Client GmbH", "USD")])
    names = Counter(c["DisplayName"] for c in fresh.snapshot(DEFAULT_REALM)["customers"])
    assert names == Counter(["O'Brien & Sons", "Euro Client GmbH", *dict(wanted[1:3])])
    new = found[("Zoë's Café 'Le Petit'", "EUR")]
    assert new.currency == "EUR" and new.id
    with qbo_support.served(fresh) as seen:
        ledger.profile()
        ledger.create_invoices([request(found[("Acme Corporation", "USD")], 1)])
    assert seen.calls == ["POST batch"]  # the invoices alone
    with qbo_support.served(fresh) as seen:  # asked again: all found, nothing created
        again = ledger.find_or_create_customers(wanted[:3])
    assert seen.calls == ["POST query"] and again[wanted[2]] == new


def test_more_customers_than_one_batch_takes_go_thirty_to_a_batch(fresh):
    ledger = qbo_support.ledger(fresh)
    wanted = [(f"Client {n:02d}", "USD") for n in range(35)]
    with qbo_support.served(fresh) as seen:
        found = ledger.find_or_create_customers(wanted)
    assert seen.calls == ["POST batch", "POST batch", "POST batch"]  # lookup, 30, then 5
    assert len({ref.id for ref in found.values()}) == 35
    assert len(fresh.snapshot(DEFAULT_REALM)["customers"]) == 35


def test_a_customer_created_meanwhile_is_found_not_doubled(fresh):
    """Another business's run creates the same customer between our lookup and our create:
    QuickBooks refuses the name (6240), and it is looked up once more."""
    ours, theirs = qbo_support.ledger(fresh), qbo_support.ledger(fresh)
    assert ours.find_customers([("Acme Corporation", "USD")]) == {}
    made = theirs.find_or_create_customer("Acme Corporation", "USD")
    found = ours.create_customers([("Acme Corporation", "USD")])
    assert found == {("Acme Corporation", "USD"): made}
    assert len(fresh.snapshot(DEFAULT_REALM)["customers"]) == 1


def test_a_lost_answer_to_the_creation_is_replayed_not_doubled(fresh):
    ledger = qbo_support.ledger(fresh)
    ledger.profile()  # the setup read first, so the fault below meets the creation
    fresh.faults.drop_after_commit(1, match="batch")
    found = ledger.find_or_create_customers([("Acme Corporation", "USD"), ("Beta", "EUR")])
    assert all(not isinstance(f, Exception) for f in found.values())
    assert len(fresh.snapshot(DEFAULT_REALM)["customers"]) == 2


def test_the_setup_is_read_once_per_company_within_its_lifetime(fresh, monkeypatch):
    """A daemon syncing a second business of the company reads none of its setup again, and
    Intuit's discovery document is read once by the process; once `SETUP_LIFETIME` has
    passed the setup is read afresh."""
    from connector.adapters.quickbooks import setup

    with qbo_support.served(fresh) as seen:
        assert qbo_support.ledger(fresh).profile().home_currency == "USD"
    assert seen.calls == ["POST batch"] and len(seen.sign_in) == 1  # discovery
    qbo_support.connect(fresh, "Second Business")
    with qbo_support.served(fresh) as seen:
        qbo_support.ledger(fresh, "Second Business").profile()
        qbo_support.ledger(fresh).item_ref()
    assert seen.calls == [] and seen.sign_in == []
    later = setup._KEPT.clock() + setup.SETUP_LIFETIME.total_seconds() + 1
    monkeypatch.setattr(setup._KEPT, "clock", lambda: later)
    with qbo_support.served(fresh) as seen:
        qbo_support.ledger(fresh).profile()
    assert seen.calls == ["POST batch"]


def test_a_setup_query_the_company_refuses_is_named_where_it_is_needed(fresh):
    """The sandbox, like a company without multicurrency, refuses CompanyCurrency: the
    profile says its currencies are not readable, and the rest of the setup is read."""
    profile = qbo_support.ledger(fresh).profile()  # the company has EUR: multicurrency on
    assert profile.multicurrency and profile.currencies == ()
    assert any(k == "currencies" and "not readable" in v for k, v in profile.other)
