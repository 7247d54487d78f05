"""`connector auth xero`, the token saver and Xero's refresh grace rule, tenant pinning, and
`connector demo --ledger xero`: through the real OAuth flow, SDK and HTTP."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
import requests
from typer.testing import CliRunner

from connector.adapters.xero.auth import connect_xero, consent_url
from connector.credentials import CompanyFacts, TokenStore
from connector.errors import FatalLedgerError, UserError
from connector_sandbox.xero import CLIENT_ID, CLIENT_SECRET
from connector_sandbox.xero_demo import follow_consent
from tests.conftest import demo_tells_the_documented_story
from tests.xero_support import BUSINESS, XeroWorld, connect, settings, xero_business


def sign_in(world: XeroWorld, store: TokenStore, consent=None, **overrides) -> object:
    """The code flow against the sandbox; `consent` stands in for the browser (default: the
    bookkeeper approves)."""
    return connect_xero(
        settings(world.sandbox, **overrides),
        store,
        CLIENT_ID,
        CLIENT_SECRET,
        lambda url: None,
        consent or world.consent,
    )


def test_auth_by_pasted_redirect_stores_tokens_and_tenant_in_the_keyring(xero, memory_keyring):
    store = TokenStore("Fresh Co", "xero")
    shown: list[str] = []
    tokens = connect_xero(
        settings(xero.sandbox), store, CLIENT_ID, CLIENT_SECRET, shown.append, xero.consent
    )
    assert shown[0].startswith(xero.sandbox.authorize_url + "?response_type=code")
    assert "offline_access" in shown[0]
    assert tokens.company_id == xero.tenant and store.load().refresh_token == tokens.refresh_token
    assert tokens.refresh_token not in repr(tokens) and tokens.access_token not in str(tokens)
    assert xero.ledger("Fresh Co").find_or_create_customer("Acme Corporation", "USD")


def test_auth_by_listening_on_loopback(xero):
    from connector.adapters.oauth_signin import listen_in_background

    chosen = settings(xero.sandbox, redirect_uri="http://127.0.0.1:18726/callback")
    thread, box = listen_in_background(chosen.redirect_uri)

    def browser(url: str) -> str:
        target = f"{url}&tenants={xero.tenant}"
        threading.Thread(target=requests.get, args=(target,), kwargs={"timeout": 10}).start()
        thread.join(10)
        return box["url"]

    tokens = connect_xero(
        chosen, TokenStore("B", "xero"), CLIENT_ID, CLIENT_SECRET, lambda url: None, browser
    )
    assert tokens.company_id == xero.tenant


def test_a_forged_redirect_is_refused(xero):
    with pytest.raises(UserError, match="state differs"):
        sign_in(
            xero,
            TokenStore("B", "xero"),
            consent=lambda url: xero.consent(url).replace("state=", "state=x"),
        )


def test_a_grant_without_the_configured_tenant_is_refused(xero):
    store = TokenStore("B", "xero")
    with pytest.raises(UserError, match="was not among the organisations granted"):
        sign_in(xero, store, tenant_id="00000000-0000-4000-8000-0000000000ff")
    assert store.load() is None  # nothing kept


def test_several_organisations_ask_for_tenant_id(xero):
    other = xero.sandbox.seed_organisation("00000000-0000-4000-8000-0000000000bb", name="Other")
    both = lambda url: follow_consent(f"{url}&tenants={xero.tenant},{other}")  # noqa: E731
    with pytest.raises(UserError, match="several organisations") as info:
        sign_in(xero, TokenStore("B", "xero"), consent=both)
    assert xero.tenant in str(info.value) and other in str(info.value)


def test_the_keyring_and_the_config_must_name_the_same_organisation(xero):
    ledger = xero.ledger(tenant_id="00000000-0000-4000-8000-0000000000cc")
    with pytest.raises(FatalLedgerError, match="config names"):
        ledger.find_or_create_customer("Acme Corporation", "USD")


def test_a_token_for_another_organisation_is_refused(xero):
    """The keyring says this organisation, but the grant behind the token is for another one:
    Xero answers 403 and the run stops with what to do."""
    from dataclasses import replace

    other = xero.sandbox.seed_organisation("00000000-0000-4000-8000-0000000000dd", name="Other")
    tokens = connect(xero.sandbox, other, business="Elsewhere")
    TokenStore("Elsewhere", "xero").save(replace(tokens, company_id=xero.tenant))
    with pytest.raises(FatalLedgerError, match="no access to this organisation"):
        xero.ledger("Elsewhere").find_or_create_customer("Acme Corporation", "USD")


class Crash(BaseException):
    """The process dies."""


class CrashAfterSave(TokenStore):
    def save(self, tokens):  # the keyring write happens, then the process dies
        super().save(tokens)
        raise Crash


def test_a_crash_right_after_rotation_keeps_access(xero):
    """The SDK's token saver writes the rotated set to the keyring before the new access token
    is used: a process that dies at that moment leaves the next run with a working token."""
    store = TokenStore(BUSINESS, "xero")
    old = store.load()
    xero.sandbox.clock.advance(timedelta(minutes=31))  # the access token has lapsed at Xero
    doomed = xero.ledger()
    doomed.session.store = CrashAfterSave(BUSINESS, "xero")
    doomed.session.expire_access_token()
    with pytest.raises(Crash):
        doomed.find_or_create_customer("Acme Corporation", "USD")
    saved = store.load()
    assert saved.refresh_token != old.refresh_token
    xero.sandbox.clock.advance(timedelta(minutes=31))  # past Xero's grace for the old token
    assert xero.ledger().find_or_create_customer("Acme Corporation", "USD")  # from the keyring
    # keeping only the old token would have locked the business out
    store.save(old)
    stale = xero.ledger()
    stale.session.expire_access_token()
    with pytest.raises(FatalLedgerError, match="reconnect"):
        stale.find_or_create_customer("Beta Bakery Ltd", "EUR")


def test_keeping_the_organisation_never_puts_back_a_refresh_token_another_run_rotated(xero):
    """A run that loaded the tokens, then another process rotated them, then the first one
    read the organisation for the first time: the token set in the keyring is the other
    process's, untouched (the first run's refresh token is spent once Xero's 30 minutes
    pass), the organisation's base currency is kept beside it, and the business goes on
    working."""
    from connector.adapters.base import Booking, ProfileNeeds
    from connector.adapters.cache import forget_all

    store = TokenStore(BUSINESS, "xero")
    first = xero.ledger()
    first.session.tokens()  # loaded at the start of its run
    other = xero.ledger()
    other.session.expire_access_token()
    other.find_customers([("Acme Corporation", "USD")])  # refreshes, saves the rotated set
    rotated = store.load()
    assert rotated.refresh_token != first.session.tokens().refresh_token
    forget_all()
    first.profile_for(ProfileNeeds.of([("USD", Booking())]))  # reads the organisation
    assert store.load() == rotated
    assert store.company(xero.tenant) == CompanyFacts(xero.tenant, "Northwind Books", "USD", "US")
    xero.sandbox.clock.advance(timedelta(minutes=31))  # past Xero's grace for the old token
    again = xero.ledger()
    again.session.expire_access_token()
    assert again.find_or_create_customer("Acme Corporation", "USD")


def test_the_organisation_is_kept_only_on_its_own_connection(xero):
    """A run of organisation A reads A after the bookkeeper signed this business in to
    organisation B: what is kept of B stays B's, and B's runs know B's base currency."""
    from connector.adapters.base import Booking, ProfileNeeds
    from connector.adapters.cache import forget_all

    old_run = xero.ledger()
    old_run.session.tokens()
    other = xero.sandbox.seed_organisation(
        str(uuid.uuid4()), name="Other Books", base_currency="GBP"
    )
    sign_in(XeroWorld(xero.sandbox, other), TokenStore(BUSINESS, "xero"))
    forget_all()
    old_run.profile_for(ProfileNeeds.of([("USD", Booking())]))
    store = TokenStore(BUSINESS, "xero")
    assert store.load().company_id == other
    assert store.company(other) == CompanyFacts(other, "Other Books", "GBP", "US")
    assert XeroWorld(xero.sandbox, other).ledger().session.known_company().home_currency == "GBP"


def test_signing_in_to_another_organisation_forgets_the_first_ones_currency(xero):
    """A sign-in to organisation B whose read of B fails keeps nothing of A's for B: no base
    currency, so the first billing night reads B's."""
    store = TokenStore(BUSINESS, "xero")
    sign_in(xero, store)
    assert store.company(xero.tenant).home_currency == "USD"
    other = xero.sandbox.seed_organisation(
        str(uuid.uuid4()), name="Other Books", base_currency="GBP"
    )
    xero.sandbox.faults.fail(count=10, status=503, match="GET /api.xro/2.0/Organisation")
    tokens = sign_in(XeroWorld(xero.sandbox, other), store)
    xero.sandbox.faults.clear()
    assert tokens == store.load() and tokens.company_id == other
    assert XeroWorld(xero.sandbox, other).ledger().session.known_company() is None


def test_a_lost_refresh_response_is_retried_within_the_grace_period(xero):
    """Xero rotated the token but the answer never arrived: the retry sends the old refresh
    token again, which Xero accepts for 30 minutes."""
    store = TokenStore(BUSINESS, "xero")
    old = store.load()
    ledger = xero.ledger()
    ledger.session.expire_access_token()
    xero.sandbox.faults.drop_after_commit(1, match="POST /connect/token")
    assert ledger.find_or_create_customer("Acme Corporation", "USD")
    assert store.load().refresh_token != old.refresh_token
    assert xero.ledger().check().startswith("organisation 'Northwind Books'")


def test_auth_command_through_the_cli(tmp_path, xero, monkeypatch):
    business = xero_business(tmp_path / "b", xero)
    TokenStore(BUSINESS, "xero").delete()
    answer = auth_through_the_cli(business, xero, monkeypatch, f"{CLIENT_ID}\n{CLIENT_SECRET}\n")
    assert answer.exit_code == 0, answer.output
    flat = " ".join(answer.output.split())
    assert f'Xero organisation "Northwind Books" ({xero.tenant}), base currency USD' in flat
    assert CLIENT_SECRET not in answer.output.split("Client secret")[-1]
    assert TokenStore(BUSINESS, "xero").load().company_id == xero.tenant
    facts = CompanyFacts(xero.tenant, "Northwind Books", "USD", "US")
    assert TokenStore(BUSINESS, "xero").company(xero.tenant) == facts
    assert business.sync().outcome == "ok"


def test_sign_in_stands_when_the_organisation_cannot_be_read_and_the_sync_reads_it(
    tmp_path, xero, monkeypatch
):
    """Xero failing the organisation's read right after the tokens came: the connection is
    kept and says so; the first sync reads the organisation and keeps what it is."""
    business = xero_business(tmp_path / "b", xero)
    TokenStore(BUSINESS, "xero").delete()
    keys = f"{CLIENT_ID}\n{CLIENT_SECRET}\n"
    answer = auth_through_the_cli(
        business, xero, monkeypatch, keys, fault="GET /api.xro/2.0/Organisation"
    )
    assert answer.exit_code == 0, answer.output
    flat = " ".join(answer.output.split())
    assert f"Xero organisation {xero.tenant} (its settings could not be read now" in flat
    assert TokenStore(BUSINESS, "xero").company(xero.tenant) is None
    xero.sandbox.faults.clear()
    assert business.sync().outcome == "ok"
    kept = TokenStore(BUSINESS, "xero").company(xero.tenant)
    assert kept is not None and (kept.name, kept.home_currency) == ("Northwind Books", "USD")


def test_auth_paste_prints_the_address_whole_and_the_ledger_section_by_name(
    tmp_path, xero, monkeypatch
):
    """At 40 columns the consent address is still one line, so a person can copy it whole
    (a broken one is refused: "state differs"), and "[ledger]" in the closing sentence is
    printed, not taken for markup."""
    from connector.adapters.xero import auth as xero_auth
    from connector.cli import app

    business = xero_business(tmp_path / "b", xero)
    text = business.config_path.read_text()
    business.config_path.write_text(text.replace(f'tenant_id = "{xero.tenant}"\n', ""))
    TokenStore(BUSINESS, "xero").delete()
    monkeypatch.setattr(xero_auth.secrets, "token_urlsafe", lambda n: "fixed-state")
    monkeypatch.setenv("COLUMNS", "40")
    chosen = business.config().ledger_settings
    address = consent_url(chosen, CLIENT_ID, "fixed-state")
    landed = xero.consent(address)
    answer = CliRunner().invoke(
        app,
        ["auth", "xero", "--config", str(business.config_path), "--paste"],
        input=f"{CLIENT_ID}\n{CLIENT_SECRET}\n{landed}\n",
    )
    assert answer.exit_code == 0, answer.output
    lines = answer.output.splitlines()
    [shown] = [line for line in lines if line.startswith(address[:20])]
    assert len(shown) > 40 and shown == address
    flat = " ".join(answer.output.split())
    assert "To pin it in the config, add tenant_id to [ledger]:" in flat
    assert f'tenant_id = "{xero.tenant}"' in lines  # whole on its own line, at 40 columns


def test_auth_command_refuses_a_config_for_another_ledger(tmp_path):
    from connector.cli import app
    from tests.conftest import make_business

    business = make_business(tmp_path / "b")
    answer = CliRunner().invoke(app, ["auth", "xero", "--config", str(business.config_path)])
    assert answer.exit_code != 0 and 'not "xero"' in str(answer.exception)


def test_sandbox_command_is_registered():
    from connector.cli import app

    answer = CliRunner().invoke(app, ["sandbox", "xero", "--help"])
    assert answer.exit_code == 0 and "--port" in answer.output


def test_demo_with_xero_bills_pays_and_reports(memory_keyring, checked_demo):
    """The demo's own sandbox is spec-checked too (`checked_demo`)."""
    demo_tells_the_documented_story("xero", memory_keyring)


# -- bad input (issue 11): a wrong client secret, an unreadable keyring entry -------------------


def auth_through_the_cli(business, xero, monkeypatch, keys: str = "", fault: str = ""):
    """`connector auth xero --paste`, the bookkeeper typing `keys` (client id and secret lines,
    when asked) and pasting the consent redirect; `fault`: requests Xero then fails (503)."""
    from connector.adapters.xero import auth as xero_auth
    from connector.cli import app

    monkeypatch.setattr(xero_auth.secrets, "token_urlsafe", lambda n: "fixed-state")
    chosen = business.config().ledger_settings
    landed = xero.consent(consent_url(chosen, CLIENT_ID, "fixed-state"))
    if fault:
        xero.sandbox.faults.fail(count=10, status=503, match=fault)
    return CliRunner().invoke(
        app,
        ["auth", "xero", "--config", str(business.config_path), "--paste"],
        input=f"{keys}{landed}\n",
    )


def test_a_wrong_client_secret_is_named_and_connector_auth_asks_for_the_keys_again(
    tmp_path, xero, monkeypatch, capsys
):
    """Xero's token endpoint answers invalid_client: the run stops with that, not with a
    per-invoice 'Xero rejected the request' and not as a spent refresh token."""
    from dataclasses import replace

    from tests.cli_support import sync

    business = xero_business(tmp_path / "b", xero)
    store = TokenStore(BUSINESS, "xero")
    store.save(replace(store.load(), client_secret="a-mistyped-secret"))
    xero.sandbox.clock.advance(timedelta(minutes=31))  # the access token has lapsed at Xero
    code, printed = sync(business.config_path, monkeypatch, capsys)
    assert code == 2
    assert "invalid_client" in printed and "client ID or secret" in printed
    assert "refresh token" not in printed and "a-mistyped-secret" not in printed
    assert store.load().keys_refused and store.load().refresh_token
    answer = auth_through_the_cli(business, xero, monkeypatch, f"{CLIENT_ID}\n{CLIENT_SECRET}\n")
    assert answer.exit_code == 0, answer.output
    assert "client ID" in answer.output  # asked, not reused
    assert sync(business.config_path, monkeypatch, capsys)[0] == 0


def test_signing_in_with_a_secret_xero_refuses_says_so(xero):
    store = TokenStore("B", "xero")
    with pytest.raises(UserError, match="invalid_client") as refused:
        connect_xero(
            settings(xero.sandbox), store, CLIENT_ID, "wrong", lambda url: None, xero.consent
        )
    assert "client ID or secret" in str(refused.value)
    assert store.load() is None


def test_an_unreadable_keyring_entry_names_itself_and_the_command(
    tmp_path, xero, monkeypatch, capsys
):
    import keyring

    from connector.credentials import SERVICE
    from tests.cli_support import sync

    business = xero_business(tmp_path / "b", xero)
    keyring.set_password(SERVICE, f"{BUSINESS}/xero", "{not json")
    code, printed = sync(business.config_path, monkeypatch, capsys)
    assert code == 2
    assert f"keyring entry '{BUSINESS}/xero'" in printed
    # the command to run names this business's config file, ready to copy
    assert f"connector auth xero --config {business.config_path}`" in printed
    assert "--config FILE" not in printed and "error: unexpected" not in printed
    answer = auth_through_the_cli(business, xero, monkeypatch, f"{CLIENT_ID}\n{CLIENT_SECRET}\n")
    assert answer.exit_code == 0, answer.output
    assert sync(business.config_path, monkeypatch, capsys)[0] == 0


@pytest.mark.parametrize("raw", ["not json", '{"company_id": 7}', '["a"]', '{"name": "x"}'])
def test_a_kept_organisation_entry_that_is_not_ours_is_read_again_and_replaced(xero, raw):
    """What is kept of the organisation is no secret and can be read again: an entry the
    connector did not write is passed over (one more call on the night that bills), never a
    stopped run, and is written over with what Xero says."""
    import keyring

    from connector.adapters.base import Booking, ProfileNeeds
    from connector.credentials import SERVICE
    from tests import qbo_support

    keyring.set_password(SERVICE, f"{BUSINESS}/xero/company", raw)
    with qbo_support.served(xero.sandbox, ("/connect/token",)) as seen:
        plain = xero.ledger().profile_for(ProfileNeeds.of([("USD", Booking())]))
    assert plain.home_currency == "USD" and seen.calls == ["GET /api.xro/2.0/Organisation"]
    assert TokenStore(BUSINESS, "xero").company(xero.tenant) == CompanyFacts(
        xero.tenant, "Northwind Books", "USD", "US"
    )
