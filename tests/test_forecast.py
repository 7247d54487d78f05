"""`connector forecast`: a business with a known history, synced to the local ledger, and every
figure below worked by hand from it.

Harbor Design bills three contracts (time zone UTC, approval required, invoices dated on
acceptance, 30 days unless the contract says otherwise):

    HB-SITE  Harbor Co   40,000.00 USD, start 2026-06-01, deposit 10%, retainage 10%, 14 days
      H1 20%  planned 06-20  done 06-25 (slip +5)   accepted 06-27 (lag 2)
      H2 30%  planned 07-20  done 07-30 (slip +10)  accepted 08-03 (lag 4)
      H3 25%  planned 08-20  done 08-22 (slip +2)   accepted 08-23 (lag 1)
      H4 25%  planned 10-15  open
    GULL-APP Gull Ltd    USD, fixed amounts
      G0 2,000.00  done 09-30, not accepted yet
      G1 5,000.00  planned 09-28 (passed), open
      G2 3,000.00  open, no planned date
    KITE     Kite GmbH   EUR
      K1 1,000.00  done 09-01, accepted 09-02 (lag 1)

Synced on 2026-08-23 (deposit 4,000.00 due 06-15; H1 8,000 - 800 deposit applied - 800
retainage = 6,400.00 due 07-11; H2 12,000 - 1,200 - 1,200 = 9,600.00 due 08-17; H3 10,000 -
1,000 - 1,000 = 8,000.00 due 09-06), then paid: the deposit on 06-19 (4 days late), H1 on
07-21 (10 late), H2 on 08-23 (6 late), 3,000.00 of H3 on 09-15 (9 late); synced again on
2026-09-30 (pulls the payments, bills K1: 1,000.00 EUR due 10-02).

Habits as of 2026-10-01 (nearest-rank 20th percentile / median / 80th percentile):
    paid after due    Harbor Co [4, 6, 9, 10] -> 4 / 6 / 10; the business the same
    accepted after    Harbor Co [1, 2, 4] -> 1 / 2 / 4; the business [1, 1, 2, 4] -> 1 / 1 / 4
    done after plan   HB-SITE [2, 5, 10] -> 2 / 5 / 10; the business the same
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from connector import config as config_mod
from connector.adapters.local import MemoryLedger
from connector.cli import forecast as forecast_cli
from connector.errors import ConnectorError
from connector.forecast import forecast_for, next_weeks
from connector.forecast.chart import HEADLESS
from connector.forecast.habits import habit_of, quantile
from connector.sync import run_once
from connector.sync.state import State

D = Decimal
AS_OF = date(2026, 10, 1)

CONFIG = """
[business]
name = "Harbor Design"
timezone = "UTC"
currency = "USD"

[state]
path = "state.db"

[tracker]
kind = "file"
path = "milestones.toml"

[ledger]
kind = "local"
path = "ledger.json"

[billing]
approval = "required"

[[contracts]]
id = "HB-SITE"
customer = "Harbor Co"
value = "40000.00"
start = 2026-06-01
deposit = "10%"
retainage = "10%"
terms_days = 14

[[contracts]]
id = "GULL-APP"
customer = "Gull Ltd"

[[contracts]]
id = "KITE"
customer = "Kite GmbH"
currency = "EUR"
"""

MILESTONES = """
[[milestones]]
id = "H1"
contract = "HB-SITE"
percent = "20"
status = "done"
planned = 2026-06-20
completed = 2026-06-25
accepted = 2026-06-27

[[milestones]]
id = "H2"
contract = "HB-SITE"
percent = "30"
status = "done"
planned = 2026-07-20
completed = 2026-07-30
accepted = 2026-08-03

[[milestones]]
id = "H3"
contract = "HB-SITE"
percent = "25"
status = "done"
planned = 2026-08-20
completed = 2026-08-22
accepted = 2026-08-23

[[milestones]]
id = "H4"
contract = "HB-SITE"
percent = "25"
planned = 2026-10-15

[[milestones]]
id = "G0"
contract = "GULL-APP"
amount = "2000.00"
status = "done"
completed = 2026-09-30

[[milestones]]
id = "G1"
contract = "GULL-APP"
amount = "5000.00"
planned = 2026-09-28

[[milestones]]
id = "G2"
contract = "GULL-APP"
amount = "3000.00"

[[milestones]]
id = "K1"
contract = "KITE"
amount = "1000.00"
status = "done"
completed = 2026-09-01
accepted = 2026-09-02
"""


@pytest.fixture(scope="module")
def harbor(tmp_path_factory) -> Path:
    """The business on disk with its history; returns its config file."""
    root = tmp_path_factory.mktemp("harbor")
    (root / "config.toml").write_text(CONFIG)
    (root / "milestones.toml").write_text(MILESTONES)
    cfg = config_mod.load(root / "config.toml")
    ledger = MemoryLedger()
    run_once(cfg, as_of=date(2026, 8, 23), ledger=ledger)
    state = State.open(cfg.state_url, cfg.business.name, path=cfg.state_path)
    numbers = {
        (r.milestones[0] if r.milestones else str(r.kind)): r.number for r in state.invoice_rows()
    }
    state.engine.dispose()
    by_number = {d.number: d.ledger_id for d in ledger.documents()}
    for what, amount, on in (
        ("deposit", "4000.00", date(2026, 6, 19)),
        ("H1", "6400.00", date(2026, 7, 21)),
        ("H2", "9600.00", date(2026, 8, 23)),
        ("H3", "3000.00", date(2026, 9, 15)),
    ):
        ledger.record_payment(by_number[numbers[what]], D(amount), on)
    report = run_once(cfg, as_of=date(2026, 9, 30), ledger=ledger)
    assert report.payments_pulled == 4
    return root / "config.toml"


def figures(f, currency: str, scenario: str) -> dict[int, str]:
    """The weeks with something in them: {week: amount}."""
    c = next(c for c in f["currencies"] if c["currency"] == currency)
    return {w["week"]: w[scenario]["amount"] for w in c["weeks"] if D(w[scenario]["amount"]) != 0}


def items(f, currency: str, scenario: str, week: int) -> list[tuple[str, str, str, str]]:
    c = next(c for c in f["currencies"] if c["currency"] == currency)
    found = c["weeks"][week - 1][scenario]["items"]
    return [(i["kind"], i["reference"], i["amount"], i["day"]) for i in found]


# -- habits ------------------------------------------------------------------------------------


def test_quantiles_are_nearest_rank_whole_days():
    assert [quantile([10, 4, 9, 6], q) for q in (0.2, 0.5, 0.8)] == [4, 6, 10]
    assert [quantile([5, 10], q) for q in (0.2, 0.5, 0.8)] == [5, 5, 10]
    assert habit_of([3], "x").early == habit_of([3], "x").late == 3


def test_habits_are_learned_from_the_payments_and_milestones_pulled_back(harbor):
    f = forecast_for(config_mod.load(harbor), AS_OF).to_json()["habits"]
    pay = f["days_paid_after_due"]
    assert pay["Harbor Co"] == {
        "early": 4, "expected": 6, "late": 10, "observations": 4, "from": "Harbor Co"
    }  # fmt: skip
    assert "Gull Ltd" not in pay and pay["the business"]["expected"] == 6
    accept = f["days_accepted_after_done"]
    assert (accept["Harbor Co"]["early"], accept["Harbor Co"]["expected"]) == (1, 2)
    assert [accept["the business"][k] for k in ("early", "expected", "late")] == [1, 1, 4]
    slip = f["days_done_after_planned"]
    assert [slip["HB-SITE"][k] for k in ("early", "expected", "late")] == [2, 5, 10]


# -- the forecast's figures ----------------------------------------------------------------------


def test_the_forecast_by_hand(harbor):
    """Weeks from 2026-10-01: 1 = 10-01..10-07, 5 = 10-29..11-04, 6 = 11-05..11-11,
    7 = 11-12..11-18, 8 = 11-19..11-25.

    H3, open 5,000.00 (8,000.00 less 3,000.00 paid), due 09-06 + 4/6/10 is long past: now.
    H4 planned 10-15 (ahead): done 10-15 / 10-15 / 10-25 (early never before plan, since the
    contract slips 2 at its earliest; late by the slip's 10); accepted 1 / 2 / 4 days later
    (10-16 / 10-17 / 10-29); due 14 days on (10-30 / 10-31 / 11-12); paid 4 / 6 / 10 late
    (11-03 wk 5 / 11-06 wk 6 / 11-22 wk 8). It is the last: 10,000 - the deposit's rest
    (4,000 - 800 - 1,200 - 1,000 = 1,000) - 1,000 retainage = 8,000.00, and the retainage
    release of 800 + 1,200 + 1,000 + 1,000 = 4,000.00 goes out the same day.
    G0 done 09-30: accepted 1 / 1 / 4 days on (the business's lag; 10-01 / 10-01 / 10-04),
    due 30 days on (10-31 / 10-31 / 11-03), paid 4 / 6 / 10 late (11-04 wk 5 / 11-06 wk 6 /
    11-13 wk 7).
    G1 planned 09-28, passed: slips 2 / 5 / 10 (09-30, so today 10-01 / 10-03 / 10-08),
    accepted 1 / 1 / 4 on (10-02 / 10-04 / 10-12), due 11-01 / 11-03 / 11-11, paid 11-05 wk 6 /
    11-09 wk 6 / 11-21 wk 8.
    K1 1,000.00 EUR due 10-02: 10-06 wk 1 / 10-08 wk 2 / 10-12 wk 2."""
    f = forecast_for(config_mod.load(harbor), AS_OF).to_json()
    assert figures(f, "USD", "early") == {1: "5000.00", 5: "14000.00", 6: "5000.00"}
    assert figures(f, "USD", "expected") == {1: "5000.00", 6: "19000.00"}
    assert figures(f, "USD", "late") == {1: "5000.00", 7: "2000.00", 8: "17000.00"}
    assert figures(f, "EUR", "early") == {1: "1000.00"}
    assert figures(f, "EUR", "expected") == figures(f, "EUR", "late") == {2: "1000.00"}
    usd = next(c for c in f["currencies"] if c["currency"] == "USD")
    assert usd["total"] == {"early": "24000.00", "expected": "24000.00", "late": "24000.00"}
    assert items(f, "USD", "expected", 6) == [  # by day, then customer
        ("milestone", "G0", "2000.00", "2026-11-06"),
        ("milestone", "H4", "8000.00", "2026-11-06"),
        ("milestone", "retainage release", "4000.00", "2026-11-06"),
        ("milestone", "G1", "5000.00", "2026-11-09"),
    ]
    (h3,) = usd["weeks"][0]["expected"]["items"]
    assert (h3["kind"], h3["customer"], h3["amount"], h3["day"]) == (
        "invoice", "Harbor Co", "5000.00", "2026-10-01"
    )  # fmt: skip
    assert h3["why"] == (
        "due 2026-09-06, 3000.00 paid already; Harbor Co pays 6 days late (median of 4 "
        "payments); 25 days overdue, so expected now"
    )
    h4 = items(f, "USD", "late", 8)
    assert ("milestone", "H4", "8000.00", "2026-11-22") in h4
    why = usd["weeks"][5]["expected"]["items"][1]["why"]
    assert why == (
        "planned 2026-10-15: done 2026-10-15; accepted 2026-10-17, 2 days after (median of 3 "
        "for Harbor Co); invoiced 2026-10-17, due 2026-10-31 (14 days); deposit applied "
        "-1000.00, retainage withheld -1000.00; Harbor Co pays 6 days late (median of 4 payments)"
    )
    assert f["not_forecast"] == [
        "milestone G2 (contract GULL-APP) has no planned date, so it is not in the forecast; "
        "give it one in the tracker (planned, or the due date)"
    ]


def test_next_weeks_is_the_expected_receipts_of_the_first_four_weeks(harbor):
    """Weeks 1-4 (10-01..10-28): H3's 5,000.00 USD and K1's 1,000.00 EUR, never added up."""
    got = next_weeks(config_mod.load(harbor), AS_OF)  # a milestones file: read, it is local
    assert got == {"EUR": D("1000.00"), "USD": D("5000.00")}
    assert all(type(v) is Decimal for v in got.values())
    assert next_weeks(config_mod.load(harbor), AS_OF, weeks=6)["USD"] == D("24000.00")
    # from the state alone (a remote tracker's business): the last sync stored the milestones
    # with their planned dates, so the same figures come out without reading the tracker
    alone = next_weeks(config_mod.load(harbor), AS_OF, weeks=6, read_tracker=False)
    assert alone == {"EUR": D("1000.00"), "USD": D("24000.00")}


# -- the backtest ----------------------------------------------------------------------------


def test_the_backtest_by_hand(harbor):
    """The forecast made on 2026-08-06 (8 weeks before 10-01), from what was known before it:
    invoices deposit, H1 (both paid: habits 4 and 10 -> 4 / 4 / 10) and H2 (9,600.00 due
    08-17, unpaid then); H3 open then, planned 08-20; the slips of H1 and H2 (5, 10 -> 5 / 5 /
    10) and their lags (2, 4 -> 2 / 2 / 4).
    H2: 08-21 / 08-21 / 08-27 (weeks 3 / 3 / 4). H3 done 08-20 / 08-20 / 08-30, accepted
    08-22 / 08-22 / 09-03, due 09-05 / 09-05 / 09-17, paid 09-09 / 09-09 / 09-27 (weeks 5 / 5
    / 8): 8,000.00. Paid in fact: H2's 9,600.00 on 08-23 (week 3) and 3,000.00 of H3 on 09-15
    (week 6). Expected less actual: week 5 +8,000.00, week 6 -3,000.00, the rest 0; the mean
    absolute error 11,000.00 / 8 = 1,375.00 a week, as a share of the 12,600.00 received
    11,000 / 12,600 = 0.8730."""
    code, out, err = forecast(
        "--config", str(harbor), "--as-of", "2026-10-01", "--backtest", "8", "--format", "json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["made_on"] == "2026-08-06" and data["weeks"] == 8
    (usd,) = data["currencies"]  # nothing EUR was forecast then, and nothing EUR was paid
    rows = {w["week"]: (w["early"], w["expected"], w["late"], w["actual"]) for w in usd["weeks"]}
    assert rows[3] == ("9600.00", "9600.00", "0.00", "9600.00")
    assert rows[4] == ("0.00", "0.00", "9600.00", "0.00")
    assert rows[5] == ("8000.00", "8000.00", "0.00", "0.00")
    assert rows[6] == ("0.00", "0.00", "0.00", "3000.00")
    assert rows[8] == ("0.00", "0.00", "8000.00", "0.00")
    assert all(rows[n] == ("0.00",) * 4 for n in (1, 2, 7))
    assert [w["error"] for w in usd["weeks"]] == [
        "0.00", "0.00", "0.00", "0.00", "8000.00", "-3000.00", "0.00", "0.00"
    ]  # fmt: skip
    assert (usd["receipts"], usd["absolute_error"], usd["mean_absolute_error"]) == (
        "12600.00", "11000.00", "1375.00"
    )  # fmt: skip
    assert usd["error_share"] == "0.8730"


def test_the_backtest_table_says_the_error_in_words(harbor):
    code, out, _ = forecast("--config", str(harbor), "--as-of", "2026-10-01", "--backtest", "8")
    assert code == 0
    assert "the forecast made on 2026-08-06 against what was paid" in out
    assert (
        "Mean absolute error: 1,375.00 USD a week, 87.30% of the receipts (11,000.00 off in "
        "total over 12,600.00 received)." in " ".join(out.split())
    )


# -- the command -------------------------------------------------------------------------------


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _main() -> None:  # a group, so the command keeps its name
        pass

    forecast_cli.register(app)
    return app


def forecast(*args: str) -> tuple[int, str, str]:
    """`connector forecast ARGS...`: (exit code, stdout, stderr), an error given the exit code
    and words `connector.cli.main` gives it."""
    result = CliRunner().invoke(_app(), ["forecast", *args])
    exc = result.exception
    if isinstance(exc, ConnectorError):
        return exc.exit_code, result.stdout, str(exc)
    if exc is not None and not isinstance(exc, SystemExit):
        raise exc
    return result.exit_code, result.stdout, result.stderr


def test_json_amounts_are_strings_and_every_week_has_three_figures(harbor):
    code, out, err = forecast("--config", str(harbor), "--as-of", "2026-10-01", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["business"], data["as_of"], data["weeks"]) == ("Harbor Design", "2026-10-01", 13)
    assert [c["currency"] for c in data["currencies"]] == ["EUR", "USD"]
    for c in data["currencies"]:
        assert len(c["weeks"]) == 13
        assert c["weeks"][0]["start"] == "2026-10-01" and c["weeks"][0]["end"] == "2026-10-07"
        assert c["weeks"][12]["end"] == "2026-12-30"
        for w in c["weeks"]:
            for s in ("early", "expected", "late"):
                assert isinstance(w[s]["amount"], str)
                assert D(w[s]["amount"]) == sum((D(i["amount"]) for i in w[s]["items"]), D(0))
                assert all(i["currency"] == c["currency"] for i in w[s]["items"])
                assert all(isinstance(i["amount"], str) for i in w[s]["items"])


def test_csv_has_one_row_per_item_and_adds_up_to_the_figures(harbor):
    code, out, _ = forecast("--config", str(harbor), "--as-of", "2026-10-01", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == [
        "business", "currency", "week", "start", "end", "scenario", "kind", "reference",
        "contract", "customer", "amount", "day", "why",
    ]  # fmt: skip
    assert len({(r["currency"], r["week"], r["scenario"]) for r in rows}) == 2 * 13 * 3
    week6 = [
        r for r in rows if (r["currency"], r["week"], r["scenario"]) == ("USD", "6", "expected")
    ]
    assert [r["reference"] for r in week6] == ["G0", "H4", "retainage release", "G1"]
    assert sum(D(r["amount"]) for r in week6) == D("19000.00")
    empty = next(r for r in rows if (r["currency"], r["week"]) == ("USD", "2"))
    assert (empty["kind"], empty["amount"]) == ("", "0.00")


def test_the_table_lists_the_weeks_and_the_items_behind_them(harbor):
    code, out, _ = forecast("--config", str(harbor), "--as-of", "2026-10-01", "--weeks", "6")
    assert code == 0
    text = " ".join(out.split())
    assert "Harbor Design: expected receipts per week from 2026-10-01 (6 weeks)" in text
    assert "5 2026-10-29 2026-11-04 14,000.00 0.00 0.00" in text
    assert "6 2026-11-05 2026-11-11 5,000.00 19,000.00 0.00" in text
    assert "later 0.00 0.00 19,000.00" in text  # billed within the 6 weeks, paid after them
    assert "milestone retainage release Harbor Co 4,000.00" in text
    assert "not forecast: milestone G2 (contract GULL-APP) has no planned date" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--weeks", "0"], "--weeks: expected a whole number of weeks from 1 to 104, got 0"),
        (["--weeks", "105"], "--weeks: expected a whole number of weeks from 1 to 104, got 105"),
        (["--backtest", "0"], "--backtest: expected a whole number of weeks from 1 to 104, got 0"),
        (["--as-of", "2026-02-30"], "--as-of: expected a date like 2026-11-26, got '2026-02-30'"),
        (
            ["--chart", "forecast.pdf"],
            "--chart forecast.pdf: expected a file ending in .svg or .png",
        ),
    ],
)
def test_bad_input_exits_2_with_one_message(harbor, args, message):
    code, out, err = forecast("--config", str(harbor), *args)
    assert (code, out, err) == (2, "", message)


def test_a_folder_is_forecast_business_by_business_and_added_up_per_currency(harbor, tmp_path):
    folder = tmp_path / "fleet"
    folder.mkdir()
    (folder / "harbor.toml").write_text(
        CONFIG.replace('path = "state.db"', f'path = "{harbor.parent / "state.db"}"').replace(
            'path = "milestones.toml"', f'path = "{harbor.parent / "milestones.toml"}"'
        )
    )
    (folder / "broken.toml").write_text("[business]\nname = 3\n")
    code, out, _ = forecast(
        "--config-dir", str(folder), "--as-of", "2026-10-01", "--format", "json"
    )
    assert code == 1  # one business could not load: said, and the exit code says so
    data = json.loads(out)
    loaded = [b for b in data["businesses"] if b["business"]]
    assert [b["business"] for b in loaded] == ["Harbor Design"]
    assert any(b["business"] is None and "broken.toml" in b["config"] for b in data["businesses"])
    usd = next(t for t in data["totals"] if t["currency"] == "USD")
    assert usd["total"]["expected"] == "24000.00"


# -- the chart ---------------------------------------------------------------------------------


def _ink(png: Path) -> tuple[int, int]:
    """(pixels not white, pixels of the bars' blue) of a PNG, by Chromium's own decoder: a page
    that draws it on a canvas and prints the counts to its title."""
    import base64
    import tempfile

    from connector.forecast.chart import chromium

    browser = chromium()
    assert browser, "the chart test needs Chromium"
    data = base64.b64encode(png.read_bytes()).decode()
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "count.html"
        page.write_text(
            "<html><body><script>"
            "const img = new Image(); img.onload = () => {"
            "const c = document.createElement('canvas'); c.width = img.width; "
            "c.height = img.height; const g = c.getContext('2d'); g.drawImage(img, 0, 0);"
            "const d = g.getImageData(0, 0, c.width, c.height).data; let ink = 0, blue = 0;"
            "for (let i = 0; i < d.length; i += 4) {"
            "if (d[i] < 240 || d[i+1] < 240 || d[i+2] < 240) ink++;"
            "if (Math.abs(d[i]-47) < 12 && Math.abs(d[i+1]-111) < 12 && Math.abs(d[i+2]-176) < 12)"
            " blue++; }"
            "document.body.textContent = 'COUNT ' + ink + ' ' + blue; };"
            f"img.src = 'data:image/png;base64,{data}';"
            "</script></body></html>"
        )
        done = subprocess.run(
            [
                browser,
                *HEADLESS,
                f"--user-data-dir={Path(tmp) / 'profile'}",
                "--virtual-time-budget=5000",
                "--dump-dom",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    words = done.stdout.split("COUNT ", 1)[1].split("<")[0].split()
    return int(words[0]), int(words[1])


def test_the_chart_is_drawn_as_svg_and_png_and_is_not_blank(harbor, tmp_path):
    svg_file, png_file = tmp_path / "forecast.svg", tmp_path / "forecast.png"
    code, _, err = forecast(
        "--config", str(harbor), "--as-of", "2026-10-01", "--chart", str(svg_file)
    )
    assert code == 0, err
    text = svg_file.read_text()
    assert text.startswith("<svg") and "<script" not in text
    assert "USD: 24,000 expected in 13 weeks" in text and "EUR: 1,000 expected" in text
    assert text.count('fill="#2f6fb0"><title>') == 3  # bars: USD weeks 1 and 6, EUR week 2
    code, _, err = forecast(
        "--config", str(harbor), "--as-of", "2026-10-01", "--chart", str(png_file)
    )
    assert code == 0, err
    assert png_file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ink, blue = _ink(png_file)
    assert ink > 20_000 and blue > 5_000  # text, axes and bars: not a blank page


# -- billing run forward is billing ---------------------------------------------------------------

NORTHWIND_AHEAD = """
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
planned = 2026-10-28

[[milestones]]
id = "ACME-M3"
contract = "ACME-WEB"
title = "Build"
percent = "50"
planned = 2026-11-20

[[milestones]]
id = "BETA-1"
contract = "BETA-APP"
title = "Prototype"
amount = "4000.00"
planned = 2026-10-05
"""


def test_the_milestones_forecast_are_billed_as_the_syncs_on_those_days_bill_them(tmp_path):
    """The test business (tests/conftest.py: deposit 10%, retainage 5%, change order CO-1 of
    6,000.00 approved 2026-10-20) synced on 2026-10-01, its other milestones planned ahead.
    No slip is known and Acme accepts 2 days after the work (ACME-M1), so the forecast has
    ACME-M2 done 10-28 and accepted 10-30, ACME-M3 done 11-20 and accepted 11-22, BETA-1 done
    10-05 and accepted 10-07. The tracker then says exactly that and a sync runs on each of
    those days: every document it raises (deposit applied, retainage withheld, the change
    order's true-up on the last invoice, the retainage release) is one the forecast had, with
    the same date, due date and total."""
    from connector.forecast.forward import run_forward
    from connector.forecast.habits import learn
    from connector.forecast.load import known_from
    from connector.forecast.records import Scenario
    from connector.sync.rows import to_billed
    from tests.conftest import make_business

    business = make_business(tmp_path, milestones=NORTHWIND_AHEAD)
    business.sync(as_of=date(2026, 10, 1))
    known = known_from(business.config())
    habits = learn(known.rows, known.payments, known.milestones, known.contracts)
    outcome = run_forward(
        dict(known.contracts), known.milestones, known.invalid,
        [to_billed(r) for r in known.rows], known.rules, habits, Scenario.EXPECTED,
        date(2026, 10, 1), 13,
    )  # fmt: skip
    forecast_docs = sorted(
        (str(d.kind), d.milestones, d.date, d.due_date, d.total) for d, _ in outcome.documents
    )
    before = {r.key for r in known.rows}
    done = NORTHWIND_AHEAD
    for mid, completed, accepted in (
        ("BETA-1", "2026-10-05", "2026-10-07"),
        ("ACME-M2", "2026-10-28", "2026-10-30"),
        ("ACME-M3", "2026-11-20", "2026-11-22"),
    ):
        done = done.replace(
            f'id = "{mid}"',
            f'id = "{mid}"\nstatus = "done"\ncompleted = {completed}\naccepted = {accepted}',
        )
    business.milestones(done)
    for night in (date(2026, 10, 7), date(2026, 10, 30), date(2026, 11, 22)):
        business.sync(as_of=night)
    state = business.state()
    billed = sorted(
        (str(r.kind), r.milestones, r.invoice_date, r.due_date, r.total)
        for r in state.invoice_rows()
        if r.key not in before
    )
    state.engine.dispose()
    assert billed == forecast_docs
    # ACME-M2, billed after CO-1: 30% of 54,000.00 = 16,200.00 - deposit applied 1,620.00
    # (16,200 x 4,800 / 48,000) - 5% retainage 810.00. ACME-M3, the last: 27,000.00 + the
    # true-up of ACME-M1's 20% of CO-1 (1,200.00) - the deposit's rest (4,800 - 960 - 1,620 =
    # 2,220.00) - 5% of 28,200.00 (1,410.00). The release: 480 + 810 + 1,410 withheld.
    assert billed == [
        ("milestone", ("ACME-M2",), date(2026, 10, 30), date(2026, 11, 14), D("13770.00")),
        ("milestone", ("ACME-M3",), date(2026, 11, 22), date(2026, 12, 7), D("24570.00")),
        ("milestone", ("BETA-1",), date(2026, 10, 7), date(2026, 11, 6), D("4000.00")),
        ("retainage", (), date(2026, 11, 22), date(2026, 12, 7), D("2700.00")),
    ]


def test_a_milestone_held_at_the_cap_is_not_forecast_and_says_why():
    """A contract capped at 10,000.00: the second 6,000.00 milestone would bring it to
    12,000.00, so billing holds it every night, and the forecast says so instead of counting
    it. The first is billed on 10-05, when done (no approval), due 30 days on (no history:
    on its due day)."""
    from connector.forecast.compute import forecast as compute
    from connector.forecast.records import Known
    from connector.models import BillingRules, Contract, Milestone

    contract = Contract("CAPPED", "Cap Co", "USD", cap=D("10000.00"))
    known = Known(
        "Capped",
        {"CAPPED": contract},
        BillingRules("Capped", approval="none"),
        [
            Milestone("C1", "CAPPED", amount=D("6000.00"), planned=date(2026, 10, 5)),
            Milestone("C2", "CAPPED", amount=D("6000.00"), planned=date(2026, 10, 12)),
        ],
        [],
        [],
        [],
    )
    f = compute(known, date(2026, 10, 1), 8).to_json()
    assert figures(f, "USD", "expected") == {5: "6000.00"}  # due 11-04: week 5, 10-29..11-04
    assert f["not_forecast"] == [
        "billing C2 (6000.00 USD) would bring contract CAPPED to 12000.00 USD, above its cap "
        "of 10000.00 USD; it is billed on the first night there is room; by 2026-11-25 there "
        "is no room for it (not in the forecast)"
    ]


def test_an_invoice_about_to_be_voided_is_not_counted_beside_its_reissue(tmp_path):
    """on_change = "credit-and-reissue": BETA-1 (invoiced 4,000.00 EUR, unpaid) now says
    4,500.00. The next sync voids the invoice and bills 4,500.00 afresh; the forecast counts
    the 4,500.00 once (due 11-05, long past: week 1) and the voided 4,000.00 not at all."""
    from tests.conftest import MILESTONES, make_business

    business = make_business(tmp_path, on_change="credit-and-reissue")
    business.sync()
    business.milestones(MILESTONES.replace('amount = "4000.00"', 'amount = "4500.00"'))
    f = forecast_for(business.config(), date(2026, 11, 26)).to_json()
    assert figures(f, "EUR", "expected") == {1: "4500.00"}
    assert items(f, "EUR", "expected", 1) == [("milestone", "BETA-1", "4500.00", "2026-11-26")]


# -- the status's line ------------------------------------------------------------------------


def test_status_says_what_the_next_4_weeks_should_bring(harbor, monkeypatch, capsys):
    """`connector status` gains one line: the same figures as `next_weeks`, per currency
    (1,000.00 EUR and 5,000.00 USD, worked above), in the table, the JSON and the folder's
    overview."""
    from tests.cli_support import run_cli

    day = AS_OF.isoformat()
    _, out = run_cli(monkeypatch, capsys, "status", "--config", str(harbor), "--as-of", day)
    assert "Expected receipts in the next 4 weeks: 1,000.00 EUR; 5,000.00 USD" in out
    _, out = run_cli(
        monkeypatch, capsys, "status", "--config", str(harbor), "--as-of", day, "--json"
    )
    assert json.loads(out)["expected_next_4_weeks"] == {"EUR": "1000.00", "USD": "5000.00"}
    monkeypatch.setenv("COLUMNS", "160")
    _, out = run_cli(
        monkeypatch, capsys, "status", "--config-dir", str(harbor.parent), "--as-of", day
    )
    assert "Next 4 weeks" in out and "1,000.00 EUR; 5,000.00 USD" in out


def test_status_of_large_books_points_to_the_forecast(harbor, monkeypatch, capsys):
    """Books over FORECAST_UP_TO invoices are not forecast by status (it must print in
    seconds): the line points to `connector forecast` and the JSON says null."""
    from connector import overview, render
    from tests.cli_support import run_cli

    monkeypatch.setattr(overview, "FORECAST_UP_TO", 1)
    monkeypatch.setattr(render, "FORECAST_UP_TO", 1)
    day = AS_OF.isoformat()
    _, out = run_cli(monkeypatch, capsys, "status", "--config", str(harbor), "--as-of", day)
    assert "Expected receipts in the next 4 weeks: large books, see `connector forecast`" in out
    _, out = run_cli(
        monkeypatch, capsys, "status", "--config", str(harbor), "--as-of", day, "--json"
    )
    assert json.loads(out)["expected_next_4_weeks"] is None
