"""`connector status` over a folder of businesses: the morning view of a bookkeeper who keeps
several sets of books. Each business's last sync and everything that needs a person, including
a ledger connection about to lapse and a config that no longer loads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from connector import config as config_mod
from connector.credentials import TokenSet, TokenStore
from connector.sync import run_once
from connector.sync.schema import Delivery
from tests.conftest import AS_OF, MILESTONES
from tests.test_cli import connector
from tests.test_daemon import write_business

BROKEN_MILESTONE = '\n[[milestones]]\nid = "ALPHA-X"\ncontract = "ACME-WEB"\ntitle = "Extra"\n'


def folder_of_businesses(tmp_path):
    alpha = write_business(tmp_path, "alpha")
    (tmp_path / "alpha-milestones.toml").write_text(MILESTONES + BROKEN_MILESTONE)
    run_once(config_mod.load(alpha), as_of=datetime(2026, 11, 26).date())
    beta = write_business(tmp_path, "beta")
    beta.write_text(
        beta.read_text().replace(
            '[ledger]\nkind = "local"\npath = "beta-ledger.json"',
            '[ledger]\nkind = "quickbooks"\nenvironment = "sandbox"\nrealm_id = "1"',
        )
    )
    soon = (datetime.now(UTC) + timedelta(days=3, hours=1)).isoformat()
    TokenStore("beta", "quickbooks").save(
        TokenSet("id", "secret", refresh_token="r", refresh_expires_at=soon, company_id="1")
    )
    (tmp_path / "gamma.toml").write_text('[business]\nname = "gamma"\ncolour = "red"\n')


def test_one_screen_for_every_business_with_what_needs_a_person(tmp_path, monkeypatch, capsys):
    folder_of_businesses(tmp_path)
    code, out, err = connector(
        monkeypatch, capsys, "status", "--config-dir", str(tmp_path), "--as-of", "2026-11-26"
    )
    assert code == 1, err  # something needs a person, and gamma cannot load
    flat = " ".join(out.split())
    assert "Businesses" in out and "alpha" in out and "beta" in out and "never" in out
    assert "needs attention: alpha: ALPHA-X" in flat
    assert "needs attention: beta: the QuickBooks connection expires in 3 day(s)" in flat
    assert "connector auth quickbooks --config" in flat
    assert "gamma.toml" in flat and "colour" in flat


def test_status_json_lists_every_business(tmp_path, monkeypatch, capsys):
    folder_of_businesses(tmp_path)
    code, out, _ = connector(monkeypatch, capsys, "status", "--config-dir", str(tmp_path), "--json")
    entries = json.loads(out)
    assert code == 1
    assert [e.get("business") for e in entries] == ["alpha", "beta", None]
    alpha, beta, gamma = entries
    assert alpha["last_run"]["outcome"] == "problems"
    assert alpha["last_run"]["finished_at"].endswith("-06:00")  # Chicago time, like "as of"
    assert len(alpha["invoices"]) == 5  # no retainage release while ALPHA-X is invalid
    assert beta["last_run"] is None
    assert any("expires in 3 day(s)" in a for a in beta["attention"])
    assert "colour" in gamma["error"]


def test_a_failed_last_sync_is_shown_with_its_reason(tmp_path, monkeypatch, capsys):
    alpha = write_business(tmp_path, "alpha")
    (tmp_path / "alpha-milestones.toml").unlink()  # the tracker file was moved away
    code, _, _ = connector(monkeypatch, capsys, "sync", "--config", str(alpha))
    assert code == 2
    code, out, _ = connector(monkeypatch, capsys, "status", "--config", str(alpha))
    flat = " ".join(out.split())
    assert "(failed)" in flat
    assert "needs attention: the last sync failed: FatalTrackerError:" in flat
    assert "alpha-milestones.toml" in flat


def test_status_needs_exactly_one_of_config_or_folder(tmp_path, monkeypatch, capsys):
    code, _, err = connector(monkeypatch, capsys, "status")
    assert code == 2 and "exactly one of --config FILE or --config-dir DIR" in err


def test_status_of_one_business_exits_1_when_something_needs_a_person(
    tmp_path, monkeypatch, capsys
):
    alpha = write_business(tmp_path, "alpha")
    run_once(config_mod.load(alpha), as_of=datetime(2026, 11, 26).date())
    args = ("status", "--config", str(alpha), "--as-of", "2026-11-26")
    code, out, err = connector(monkeypatch, capsys, *args)
    assert code == 0, out + err
    assert "needs attention" not in out
    (tmp_path / "alpha-milestones.toml").write_text(MILESTONES + BROKEN_MILESTONE)
    run_once(config_mod.load(alpha), as_of=datetime(2026, 11, 26).date())
    code, out, _ = connector(monkeypatch, capsys, *args)
    assert code == 1
    assert "needs attention: ALPHA-X: alpha-milestones.toml, line" in " ".join(out.split())
    code, out, _ = connector(monkeypatch, capsys, *args, "--json")
    assert code == 1 and json.loads(out)["attention"]


def test_status_of_a_folder_exits_1_for_a_business_that_cannot_load(tmp_path, monkeypatch, capsys):
    alpha = write_business(tmp_path, "alpha")
    run_once(config_mod.load(alpha), as_of=datetime(2026, 11, 26).date())
    args = ("status", "--config-dir", str(tmp_path), "--as-of", "2026-11-26")
    assert connector(monkeypatch, capsys, *args)[0] == 0
    (tmp_path / "gamma.toml").write_text('[business]\nname = "gamma"\ncolour = "red"\n')
    code, out, _ = connector(monkeypatch, capsys, *args)
    assert code == 1 and "cannot load" in out


def test_a_config_with_a_byte_order_mark_is_found_in_a_folder(tmp_path, monkeypatch, capsys):
    """Notepad saves UTF-8 with a BOM; `--config-dir` must not take such a file for a stray."""
    folder_of_businesses(tmp_path)
    (tmp_path / "gamma.toml").unlink()
    alpha = tmp_path / "alpha.toml"
    alpha.write_bytes(b"\xef\xbb\xbf" + alpha.read_bytes().lstrip())  # BOM, then [business]
    _, out, _ = connector(monkeypatch, capsys, "status", "--config-dir", str(tmp_path), "--json")
    assert [e.get("business") for e in json.loads(out)] == ["alpha", "beta"]


# -- tax, emailing and payment links, as the ledger reported them ---------------------------------


def taxed_business(business):
    """The test business synced, BETA-APP's amounts tax-inclusive, and its rows carrying what a
    ledger would have said of them: the tax it computed, the email to the client, the link."""
    text = business.config_path.read_text()
    business.config_path.write_text(
        text.replace('currency = "EUR"\n', 'currency = "EUR"\namounts = "inclusive"\n')
    )
    business.sync()
    state = business.state()
    rows = {r.milestones[0] if r.milestones else str(r.kind): r for r in state.invoice_rows()}
    state.update_invoices(
        [
            (
                rows["ACME-M1"].key,
                {
                    "tax_minor": 106080,  # 13% of 8160.00, added to the net lines
                    "delivery": Delivery.SENT,
                    "sent_at": "2026-09-23T02:00:05+00:00",
                    "payment_link": "https://pay.ledger.example/invoice/1002?locale=en_CA&cta=v3",
                },
            ),
            (
                rows["BETA-1"].key,
                {
                    "tax_minor": 46018,  # inside the inclusive 4000.00: 4000 - 4000 / 1.13
                    "delivery": Delivery.REFUSED,
                    "error": "customer 'Beta Bakery Ltd' has no email address in the ledger",
                },
            ),
            # a ledger that has not said what tax it computed
            (rows["deposit"].key, {"delivery": Delivery.SENDING, "tax_minor": None}),
        ]
    )
    return rows


def test_status_shows_tax_emailing_and_payment_links(business, monkeypatch, capsys):
    rows = taxed_business(business)
    args = ("status", "--config", str(business.config_path), "--as-of", "2026-11-26")
    code, out, _ = connector(monkeypatch, capsys, *args, "--json")
    assert code == 1  # the refused email needs a person
    shown = {tuple(i["milestones"]) or (i["kind"],): i for i in json.loads(out)["invoices"]}
    m1, beta, deposit = shown[("ACME-M1",)], shown[("BETA-1",)], shown[("deposit",)]
    assert (m1["total"], m1["net"], m1["tax"], m1["gross"]) == (
        "8160.00",  # the connector's lines, as sent: unchanged
        "8160.00",
        "1060.80",
        "9220.80",
    )
    assert (m1["emailed"], m1["sent_at"]) == ("sent", "2026-09-23T02:00:05+00:00")
    assert m1["payment_link"].startswith("https://pay.ledger.example/invoice/1002")
    assert (beta["total"], beta["net"], beta["tax"], beta["gross"]) == (
        "4000.00",
        "3539.82",
        "460.18",
        "4000.00",
    )
    assert beta["emailed"] == "refused" and beta["payment_link"] is None
    assert (deposit["net"], deposit["tax"], deposit["gross"]) == (None, None, None)
    assert deposit["emailed"] == "sending"
    assert shown[("ACME-M2",)]["emailed"] == "never"
    attention = json.loads(out)["attention"]
    refused = [a for a in attention if "could not be emailed" in a]
    assert refused == [
        f"{rows['BETA-1'].number} (BETA-APP): could not be emailed to Beta Bakery Ltd: customer "
        "'Beta Bakery Ltd' has no email address in the ledger; the next sync tries again"
    ]

    code, out, _ = connector(monkeypatch, capsys, *args)
    flat = " ".join(out.split())
    assert "9,220.80 USD" in flat  # the Total the client is asked for, tax included
    assert "Tax (as the ledger computed it) and email to the client" in flat
    assert f"{rows['ACME-M1'].number} USD 8,160.00 1,060.80 9,220.80 sent" in flat
    assert f"{rows['BETA-1'].number} EUR 3,539.82 460.18 4,000.00 refused" in flat
    assert "Pay online" in out
    link = "https://pay.ledger.example/invoice/1002?locale=en_CA&cta=v3"
    assert f"{rows['ACME-M1'].number}  {link}" in out  # whole, on one line
    assert "needs attention:" in flat and "could not be emailed to Beta Bakery Ltd" in flat


def test_the_status_tables_fit_80_columns_with_tax_and_emailing(business):
    """No amount is cut short when the tax and emailing columns are there: each table keeps to
    an 80-column terminal (only the payment links, never broken, may run past it)."""
    from io import StringIO

    from rich.console import Console

    from connector import render
    from connector.overview import business_status

    rows = taxed_business(business)
    screen = StringIO()
    render.status(Console(file=screen, width=80), business_status(business.config(), AS_OF))
    text = screen.getvalue()
    assert "…" not in text
    link = "https://pay.ledger.example/invoice/1002?locale=en_CA&cta=v3"
    for line in text.splitlines():
        assert len(line) <= 80 or line.strip().endswith(link), line
    assert "refused" in text and "sending" in text and "sent" in text
    assert "partially_paid" not in text and rows  # no row was paid in this test


def test_books_without_tax_show_no_tax_table(business, monkeypatch, capsys):
    """A ledger that computed a tax of 0 on everything (books without sales tax) gets the
    invoices table as before; the JSON still says what the ledger computed."""
    business.sync()
    state = business.state()
    state.update_invoices([(r.key, {"tax_minor": 0}) for r in state.invoice_rows()])
    args = ("status", "--config", str(business.config_path), "--as-of", "2026-11-26")
    _, out, _ = connector(monkeypatch, capsys, *args)
    assert "Invoices" in out and "Tax" not in out and "Emailed" not in out
    _, out, _ = connector(monkeypatch, capsys, *args, "--json")
    m1 = next(i for i in json.loads(out)["invoices"] if i["milestones"] == ["ACME-M1"])
    assert (m1["net"], m1["tax"], m1["gross"], m1["emailed"]) == (
        "8160.00",
        "0.00",
        "8160.00",
        "never",
    )


def a_uk_night(tmp_path, xero_books):
    """A real night in a UK Xero organisation, through xero-python: VAT on every invoice, the
    ones to the client with an email address sent with their payment link, Beta Bakery's
    refused (it has none)."""
    from tests.xero_support import xero_business

    world = xero_books("GB", "GBP", currencies=("USD", "EUR"))
    world.sandbox.seed_organisation(
        world.tenant,
        base_currency="GBP",
        currencies=["USD", "EUR"],
        country="GB",
        contacts=[{"Name": "Acme Corporation", "EmailAddress": "ap@acme.example"}],
    )
    business = xero_business(tmp_path / "b", world)
    text = business.config_path.read_text()
    business.config_path.write_text(
        text.replace("[billing]\n", '[billing]\ntax_code = "OUTPUT2"\nsend = "on-create"\n', 1)
    )
    return business, business.sync()


def test_a_real_night_in_a_uk_organisation_shows_its_tax_emails_and_links(
    tmp_path, xero_books, monkeypatch, capsys
):
    business, night = a_uk_night(tmp_path, xero_books)
    assert night.sent and any("was not emailed" in p for p in night.problems())
    args = ("status", "--config", str(business.config_path), "--as-of", "2026-11-26")
    code, out, _ = connector(monkeypatch, capsys, *args, "--json")
    data = json.loads(out)
    assert code == 1  # Beta Bakery has no email address in Xero
    acme = [i for i in data["invoices"] if i["contract"] == "ACME-WEB"]
    assert acme and {i["emailed"] for i in acme} == {"sent"}
    for i in acme:
        net, tax, gross = (Decimal(i[k]) for k in ("net", "tax", "gross"))
        assert net == Decimal(i["total"]) and tax == (net / 5).quantize(Decimal("0.01"))
        assert gross == net + tax
        assert i["payment_link"].startswith("https://in.xero.com/") and i["sent_at"]
    [beta] = [i for i in data["invoices"] if i["contract"] == "BETA-APP"]
    assert beta["emailed"] == "refused" and beta["payment_link"] is None
    assert any("could not be emailed to Beta Bakery Ltd" in a for a in data["attention"])
    code, out, _ = connector(monkeypatch, capsys, *args)
    assert "Pay online" in out and acme[0]["payment_link"] in out
    assert "Tax (as the ledger computed it) and email to the client" in out


def test_large_tables_are_written_as_rich_lays_them_out():
    """Past `PLAIN_ROWS` a table is written as plain text: the same text rich prints for a
    table that fits, both paddings, with wide characters, right-aligned amounts and a title
    longer than the table."""
    from io import StringIO

    from rich.console import Console

    from connector.render_grid import Col, Red, amount, grid

    columns = [Col("Contract", fold=True), Col("Cur"), amount("Billed"), Col("Why", wrap=True)]
    rows = [
        ("C1", "USD", "1,000.00", "fine"),
        ("Café 🙂 wide", "EUR", "5.00", Red("refused")),
        ("C3", "JPY", "", ""),
    ]
    for title in ("Contracts", "A title longer than every column of this table put together"):
        for tight in (True, False):
            shown = []
            for plain in (False, True):
                screen = StringIO()
                grid(
                    Console(file=screen, width=120), title, columns, rows, tight=tight, plain=plain
                )
                shown.append(screen.getvalue())
            assert shown[0] == shown[1], (title, tight)


def test_large_books_show_the_open_and_problem_invoices_and_all_of_them_with_all(
    tmp_path, monkeypatch, capsys
):
    """Books of more than `SUMMARY_AT` invoices: every contract's totals, then the invoices
    still owed or needing a person; `--all` lists every one, and the JSON always has them."""
    from connector import render

    alpha = write_business(tmp_path, "alpha")
    run_once(config_mod.load(alpha), as_of=AS_OF)
    cfg = config_mod.load(alpha)
    from connector.sync.state import State

    state = State.open(cfg.state_url, cfg.business.name, path=cfg.state_path)
    rows = state.invoice_rows()
    paid = rows[0]
    state.update_invoices([(paid.key, {"state": "paid", "paid_minor": paid.total_minor})])
    monkeypatch.setattr(render, "SUMMARY_AT", 1)
    args = ("status", "--config", str(alpha), "--as-of", "2026-11-26")
    _, summary, _ = connector(monkeypatch, capsys, *args)
    _, every, _ = connector(monkeypatch, capsys, *args, "--all")
    _, data, _ = connector(monkeypatch, capsys, *args, "--json")
    number = paid.number or ""
    assert f"Open and problem invoices ({len(rows) - 1} of {len(rows)})" in summary
    assert "1 paid, credited or closed invoices are not shown: --all lists every one" in summary
    assert number not in summary and number in every
    assert all(r.number in summary for r in rows[1:])
    assert "Invoices" in every and "Open and problem" not in every
    assert len(json.loads(data)["invoices"]) == len(rows)
