"""`connector plan --json` one contract at a time (`sync.plan_stream`) prints what the whole
plan (`preview`) prints, to the byte: the same documents, the same skipped milestones in the
same order with the same messages, the same holds, whatever the file's order, line endings,
blank lines, duplicates, bad records and unknown contracts, and over books billed before. A
plan it cannot stream (an intent in doubt, a ledger that did not answer, TOML, a file the scan
does not expect) is made whole, as before."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as s
from rich.console import Console

from connector import exports, render
from connector.adapters.base import LedgerAdapter, LedgerProfile
from connector.errors import FatalTrackerError
from connector.models import Skip
from connector.sources.file_groups import scan
from connector.sync import plan_stream
from connector.sync.plan import books_in_order, preview
from connector.sync.plan_stream import Documents, show_streamed, write_streamed
from connector.sync.report import write_plan_json
from connector_sandbox.local import BooksLocalLedger, FaultyLocalLedger
from tests.conftest import AS_OF, Business, make_business

HEADER = "id,contract,title,percent,amount,status,completed,accepted"
ROWS = [
    "ACME-M1,ACME-WEB,Discovery,20,,done,2026-09-20,2026-09-22",
    'BETA-1,BETA-APP,"Prototype, ""first""\nand its second line",,4000.00,done,2026-10-05,'
    "2026-10-06",
    "GHOST-1,NOPE,Unknown contract,,100,done,2026-10-01,2026-10-02",
    "ACME-M2,ACME-WEB,Design,30,,done,2026-10-28,2026-11-02",
    "DUP,ACME-WEB,One,,10,done,2026-10-01,2026-10-02",
    "DUP,BETA-APP,Two,,10,done,2026-10-01,2026-10-02",
    "BAD-1,ACME-WEB,Bad amount,,-5,done,2026-10-01,",
    ",BETA-APP,No id,,5,open,,",
    "NOC,,No contract,,5,open,,",
    "GHOST-2,NOPE,Unknown too,,7,open,,",
    ",,,,,,,",
    "ACME-M3,ACME-WEB,Build,50,,done,2026-11-20,2026-11-25",
    "BETA-2,BETA-APP,Store release,,8000.00,open,,",
    "LATE-1,BETA-APP,Not accepted,,300,done,2026-11-24,",
]
# BETA-1 billable (its title above holds a line break, which is refused)
BILLABLE = [ROWS[0], "BETA-1,BETA-APP,Prototype,,4000.00,done,2026-10-05,2026-10-06", *ROWS[2:]]
EXTRA_CONTRACT = """
[[contracts]]
id = "QUIET-1"
customer = "Quiet Ltd"
value = "1000.00"
"""


def csv_business(
    root: Path, text: str, ledger: LedgerAdapter | None = None, on_change: str = "flag"
) -> Business:
    business = make_business(root, ledger=ledger, on_change=on_change)  # type: ignore[arg-type]
    config = business.config_path.read_text().replace('"milestones.toml"', '"milestones.csv"')
    business.config_path.write_text(config + EXTRA_CONTRACT)
    (root / "milestones.csv").write_bytes(text.encode("utf-8"))
    return business


def whole(business: Business, day: date = AS_OF) -> str:
    """The plan's JSON as `connector plan --json` printed it before it streamed."""
    config = business.config()
    _, decisions = preview(config, day, ledger=business.ledger)
    out = io.StringIO()
    invoices = decisions.invoices
    books = books_in_order(config, invoices)
    write_plan_json(out.write, config.business.name, day, invoices, decisions.skipped, books)
    return out.getvalue()


def whole_csv(business: Business, day: date = AS_OF) -> str:
    """The plan's CSV export as `connector plan --format csv` printed it before it streamed."""
    config = business.config()
    _, decisions = preview(config, day, ledger=business.ledger)
    out = io.StringIO()
    rows = exports.plan_rows(config.business.name, day, decisions.invoices, decisions.skipped)
    exports.write_csv(out.write, exports.PLAN_COLUMNS, rows)
    return out.getvalue()


def whole_table(business: Business, day: date = AS_OF, width: int = 100) -> str:
    """The plan's table as `connector plan` printed it before it streamed."""
    config = business.config()
    _, decisions = preview(config, day, ledger=business.ledger)
    screen = io.StringIO()
    invoices, skipped = decisions.invoices, decisions.skipped
    books = books_in_order(config, invoices)
    console = Console(file=screen, width=width, force_terminal=False)
    render.plan(console, config.business.name, day, invoices, skipped, decisions.caveats, books)
    return screen.getvalue()


def streamed_table(
    business: Business, day: date = AS_OF, width: int = 100
) -> tuple[str, bool | None]:
    screen = io.StringIO()
    console = Console(file=screen, width=width, force_terminal=False)
    name = business.config().business.name

    def table(documents: Documents, skipped: Iterator[Skip]) -> None:
        render.plan_items(console, name, day, documents, skipped)

    problems = show_streamed(business.config(), day, table, ledger=business.ledger)
    return screen.getvalue(), problems


def streamed(
    business: Business, day: date = AS_OF, *, csv: bool = False
) -> tuple[str, bool | None]:
    out = io.StringIO()
    problems = write_streamed(business.config(), day, out.write, ledger=business.ledger, csv=csv)
    return out.getvalue(), problems


def file_text(rows: list[str], crlf: bool, bom: bool, blanks: list[int]) -> str:
    lines = [HEADER, *rows]
    for at in sorted(blanks, reverse=True):
        lines.insert(min(at, len(lines)), "")
    end = "\r\n" if crlf else "\n"
    return ("\ufeff" if bom else "") + "\n".join(lines).replace("\n", end) + end


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=s.permutations(ROWS),
    crlf=s.booleans(),
    bom=s.booleans(),
    blanks=s.lists(s.integers(1, len(ROWS) + 1), max_size=3),
)
def test_a_streamed_plan_is_the_whole_plan_to_the_byte(tmp_path_factory, rows, crlf, bom, blanks):
    business = csv_business(tmp_path_factory.mktemp("b"), file_text(rows, crlf, bom, blanks))
    text, problems = streamed(business)
    assert problems is not None, "this plan should have been streamed"
    assert text == whole(business)
    assert streamed(business, csv=True) == (whole_csv(business), problems)
    assert streamed_table(business) == (whole_table(business), problems)
    plan = json.loads(text)
    skipped = {(x["milestone"], x["reason"]) for x in plan["skipped"]}
    # what a bookkeeper must see: every refused record, each with its reason
    assert {("DUP", "invalid_milestone"), ("BAD-1", "invalid_milestone")} <= skipped
    assert ("BETA-1", "invalid_milestone") in skipped  # its title holds a line break
    assert {("GHOST-1", "unknown_contract"), ("GHOST-2", "unknown_contract")} <= skipped
    assert ("NOC", "invalid_milestone") in skipped and ("?", "invalid_milestone") in skipped
    assert problems is True  # the command exits 1: some milestones need a person
    billed = {m for doc in plan["invoices"] for m in doc["milestones"]}
    assert billed == {"ACME-M1", "ACME-M2", "ACME-M3"}


def test_contracts_the_books_cannot_take_are_held_as_in_the_whole_plan(tmp_path):
    """A company without multicurrency: BETA-APP (EUR) is held, with the same skips."""
    us_only = LedgerProfile(country="US", home_currency="USD", multicurrency=False)
    business = csv_business(
        tmp_path / "b", file_text(BILLABLE, False, False, []), BooksLocalLedger(us_only)
    )
    text, _ = streamed(business)
    assert text == whole(business)
    assert streamed(business, csv=True)[0] == whole_csv(business)
    table, _ = streamed_table(business)
    assert table == whole_table(business) and "EUR" in table
    plan = json.loads(text)
    assert {doc["contract"] for doc in plan["invoices"]} == {"ACME-WEB"}
    held = [x for x in plan["skipped"] if x["reason"] == "invalid_contract"]
    assert {x["milestone"] for x in held} == {"BETA-1"} and "EUR" in held[0]["message"]
    assert business.ledger.calls["profile"] == 6  # once by each plan


def test_a_ledger_that_cannot_send_holds_the_contracts_that_email(tmp_path):
    class CannotSend(FaultyLocalLedger):
        send_invoice = None  # a ledger without `SendsInvoices`

    business = csv_business(tmp_path / "b", file_text(BILLABLE, False, False, []), CannotSend())
    config = business.config_path.read_text().replace(
        "[billing]\n", '[billing]\nsend = "on-create"\n'
    )
    business.config_path.write_text(config)
    text, problems = streamed(business)
    assert text == whole(business) and problems is True
    plan = json.loads(text)
    assert plan["invoices"] == []
    messages = {x["message"] for x in plan["skipped"] if x["reason"] == "invalid_contract"}
    (message,) = messages
    assert "tonight's documents of contracts ACME-WEB, BETA-APP are held" in message


def test_a_company_setup_that_cannot_be_read_makes_the_plan_whole(tmp_path):
    """Nothing is printed before the books are read; when they cannot be, the whole plan
    (which reads only what tonight needs, and says why it could not) is made instead."""
    us_only = LedgerProfile(country="US", home_currency="USD", multicurrency=False)
    ledger = BooksLocalLedger(us_only)
    business = csv_business(tmp_path / "b", file_text(BILLABLE, False, False, []), ledger)
    ledger.fail_next("profile")
    assert streamed(business) == ("", None)
    ledger.fail_next("profile")
    assert "BETA-APP" in {doc["contract"] for doc in json.loads(whole(business))["invoices"]}


def test_two_problems_that_read_alike_hold_each_milestone_once(tmp_path):
    """Tracking keys that differ only in case get the same sentence from the books' check."""
    company = LedgerProfile(
        country="US",
        home_currency="USD",
        multicurrency=True,
        currencies=("USD", "EUR"),
        tracking=(("Region", ("North",)),),
    )
    rows = [ROWS[0]]
    business = csv_business(
        tmp_path / "b", file_text(rows, False, False, []), BooksLocalLedger(company)
    )
    config = business.config_path.read_text()
    marker = 'id = "ACME-WEB"\n'
    tracking = 'tracking = { Region = "Nowhere", region = "Nowhere" }\n'
    business.config_path.write_text(config.replace(marker, marker + tracking, 1))
    text, problems = streamed(business)
    assert text == whole(business) and problems is True
    held = [
        x["milestone"] for x in json.loads(text)["skipped"] if x["reason"] == "invalid_contract"
    ]
    assert sorted(held) == sorted(set(held)) and "ACME-M1" in held


def test_a_file_written_while_the_plan_reads_it_stops_the_plan(tmp_path):
    """A plan is of one version of the file: one renamed over it is not read, and one
    written in place stops the plan with one message, never a plan of neither version."""
    business = csv_business(tmp_path / "b", file_text(BILLABLE, False, False, []))
    path = business.dir / "milestones.csv"
    groups = scan(path)
    assert groups is not None
    replaced = path.with_name("new.csv")
    replaced.write_text(file_text(BILLABLE[:1], False, False, []))
    replaced.replace(path)  # a safe writer: the scanned file is still the one read
    with groups:
        read = groups.read("ACME-WEB")
    assert [m.id for _, m in read.milestones] == ["ACME-M1", "ACME-M2", "ACME-M3"]
    groups = scan(path)
    assert groups is not None
    with path.open("a") as f:  # written in place
        f.write("ACME-M9,ACME-WEB,Late,,1,open,,\n")
    with groups, pytest.raises(FatalTrackerError, match="changed while the plan read it"):
        groups.read("ACME-WEB")


def test_plans_it_cannot_stream_are_made_whole(tmp_path, monkeypatch):
    lone_cr = csv_business(tmp_path / "cr", HEADER + "\r" + ROWS[0] + "\r")
    assert scan(lone_cr.dir / "milestones.csv") is None
    assert streamed(lone_cr) == ("", None)
    bad_header = csv_business(tmp_path / "hdr", "id,contract,colour\nA,ACME-WEB,red\n")
    assert streamed(bad_header) == ("", None)
    toml = make_business(tmp_path / "toml")
    assert streamed(toml) == ("", None)
    billed = csv_business(tmp_path / "billed", file_text(BILLABLE, False, False, []))
    billed.sync()  # small books billed before: the whole plan is quicker
    assert streamed(billed) == ("", None)
    monkeypatch.setattr(plan_stream, "STREAM_HISTORY_AT", 1)  # as if they were large
    assert streamed(billed)[1] is not None
    doubt = csv_business(tmp_path / "doubt", file_text(BILLABLE, False, False, []))
    doubt.ledger.fail_next("create_invoices", "drop")  # created, and the answer lost
    assert doubt.sync().in_doubt  # an intent in doubt: looked up first, so the plan is whole
    assert streamed(doubt) == ("", None)
    unasked = csv_business(tmp_path / "unasked", file_text(BILLABLE, False, False, []))
    unasked.sync()
    unasked.ledger.fail_next("payment_changes")  # the whole plan says the ledger was not asked
    assert streamed(unasked) == ("", None)


# What may happen to the milestones between a night that billed them and the plan: each
# changes the file's rows (`BILLABLE`) for the second plan.
LATER = {
    "a percent changed": lambda rows: [r.replace("Discovery,20,", "Discovery,25,") for r in rows],
    "a billed milestone removed": lambda rows: [r for r in rows if not r.startswith("ACME-M2,")],
    "a billed milestone now invalid": lambda rows: [
        r.replace("Build,50,,", "Build,50,7,") for r in rows
    ],
    "a billed milestone now without a contract": lambda rows: [
        r.replace("BETA-1,BETA-APP,", "BETA-1,,") for r in rows
    ],
    "a billed milestone moved to another contract": lambda rows: [
        r.replace("BETA-1,BETA-APP,", "BETA-1,QUIET-1,") for r in rows
    ],
    "a milestone accepted since": lambda rows: [
        r.replace(
            "Not accepted,,300,done,2026-11-24,", "Not accepted,,300,done,2026-11-24,2026-11-25"
        )
        for r in rows
    ],
    "a milestone added": lambda rows: [
        *rows,
        "ACME-M4,ACME-WEB,Extra,,500,done,2026-11-21,2026-11-22",
    ],
}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    later=s.lists(s.sampled_from(sorted(LATER)), unique=True, max_size=4),
    paid=s.lists(s.sampled_from(["all", "part", "none"]), min_size=5, max_size=5),
    reissue=s.booleans(),
    rows=s.permutations(range(len(BILLABLE))),
)
def test_a_plan_over_billed_books_streams_to_the_byte(
    tmp_path_factory, monkeypatch, later, paid, reissue, rows
):
    """A night billed the file; since then its milestones changed, were removed, moved or went
    invalid, and the customer paid some invoices. The plan over those books, a contract at a
    time, is the whole plan's, to the byte (JSON, CSV and table), and so is its problems flag:
    the payments since the night applied, and a billed milestone invalid anywhere in the file
    not taken for removed."""
    monkeypatch.setattr(plan_stream, "STREAM_HISTORY_AT", 1)  # small books streamed too
    business = csv_business(
        tmp_path_factory.mktemp("b"),
        file_text(BILLABLE, False, False, []),
        on_change="credit-and-reissue" if reissue else "flag",
    )
    assert business.sync().created
    invoices = [d for d in business.ledger.documents() if not d.is_credit]
    for doc, how in zip(invoices, paid, strict=False):
        if how != "none":
            amount = doc.total if how == "all" else (doc.total / 2).quantize(doc.total)
            business.ledger.record_payment(doc.ledger_id, amount, AS_OF)
    changed = [BILLABLE[n] for n in rows]
    for name in later:
        changed = LATER[name](changed)
    (business.dir / "milestones.csv").write_text(file_text(changed, False, False, []))
    day = date(2026, 11, 27)
    text, problems = streamed(business, day)
    assert problems is not None, "a plan over billed books with nothing in doubt streams"
    assert text == whole(business, day)
    assert streamed(business, day, csv=True) == (whole_csv(business, day), problems)
    assert streamed_table(business, day) == (whole_table(business, day), problems)
    _, decisions = preview(business.config(), day, ledger=business.ledger)
    assert problems is bool(decisions.problems)


def test_a_plan_over_billed_books_retires_and_credits_as_the_sync_does(tmp_path, monkeypatch):
    """The cases a bookkeeper reads the plan for, said plainly: a removed unpaid milestone's
    invoice is voided, a paid one's credited, and a billed milestone whose record is now
    invalid under no contract is neither (it is said invalid)."""
    monkeypatch.setattr(plan_stream, "STREAM_HISTORY_AT", 1)
    business = csv_business(
        tmp_path / "b", file_text(BILLABLE, False, False, []), on_change="credit-and-reissue"
    )
    business.sync()
    (design,) = [r for r in business.state().invoice_rows() if r.milestones == ("ACME-M2",)]
    assert design.ledger_id is not None
    business.ledger.record_payment(design.ledger_id, design.total, AS_OF)
    rows = LATER["a billed milestone removed"](BILLABLE)  # ACME-M2 (Design, paid) removed
    rows = [r for r in rows if not r.startswith("ACME-M1,")]  # and ACME-M1, unpaid
    rows = LATER["a billed milestone now without a contract"](rows)
    (business.dir / "milestones.csv").write_text(file_text(rows, False, False, []))
    day = date(2026, 11, 27)
    text, problems = streamed(business, day)
    assert text == whole(business, day) and problems is True
    plan = json.loads(text)
    said = {doc["lines"][0]["description"].split(":")[0] for doc in plan["invoices"]}
    (voided, credited) = [
        row.number
        for m in ("ACME-M1", "ACME-M2")
        for row in business.state().invoice_rows()
        if row.milestones == (m,)
    ]
    assert {f"Void invoice {voided}", f"Credit note for invoice {credited}"} <= said
    assert not any("BETA-1" in doc["milestones"] for doc in plan["invoices"])
    assert ("BETA-1", "invalid_milestone") in {
        (x["milestone"], x["reason"]) for x in plan["skipped"]
    }


def test_the_command_streams_and_prints_the_whole_plan(tmp_path):
    """Through the real `connector plan --json` (the local ledger file of the config)."""
    rows = [*BILLABLE[:2], *BILLABLE[3:4], *BILLABLE[11:]]  # no problem: the command exits 0
    business = csv_business(tmp_path / "b", file_text(rows, True, True, [2]))
    business.ledger = business.config().ledger()  # the config's own, as the command makes it
    command = [sys.executable, "-m", "connector", "plan", "--config", str(business.config_path)]
    done = subprocess.run(
        [*command, "--as-of", AS_OF.isoformat(), "--json"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr  # LATE-1 waits for acceptance: no problem
    assert done.stdout == whole(business)
    assert json.loads(done.stdout)["invoices"] and done.stderr == ""
    table = subprocess.run(
        [*command, "--as-of", AS_OF.isoformat()],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert table.returncode == 0, table.stderr
    assert table.stdout == whole_table(business, width=100)
    assert "ACME-WEB milestone ACME-M1" in table.stdout
    exported = subprocess.run(  # bytes: the CSV's lines end in CRLF
        [*command, "--as-of", AS_OF.isoformat(), "--format", "csv"], capture_output=True
    )
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.decode() == whole_csv(business)


@pytest.mark.parametrize("width", [100, 60])
def test_a_large_streamed_table_is_the_whole_table(tmp_path, width):
    """Over 300 documents the table is written as text; a document too wide for the terminal
    (its long title, at 60 columns) goes through rich, in its place, in both."""
    rows = [f"B{i:04},BETA-APP,Phase {i},,10.00,done,2026-10-01,2026-10-02" for i in range(340)]
    long_title = "Fit-out of the east wing, second floor, including the stairwell and lifts"
    rows.insert(170, f'B-LONG,BETA-APP,"{long_title}",,99.00,done,2026-10-01,2026-10-02')
    rows.append("ACME-M1,ACME-WEB,Discovery,20,,done,2026-09-20,2026-09-22")
    # and over 300 not billed: their table too is written as text, from a temporary file
    rows += [f"W{i:04},BETA-APP,Later {i},,5.00,open,," for i in range(320)]
    rows.append("工程-1,BETA-APP,Wide ids are measured as the terminal shows them,,5.00,open,,")
    business = csv_business(tmp_path / "b", file_text(rows, False, False, []))
    table, problems = streamed_table(business, width=width)
    assert problems is False
    assert table == whole_table(business, width=width)
    assert table.count("BETA-APP milestone B") == 341 and "ACME-WEB milestone ACME-M1" in table
    assert "Not billed" in table and table.count("is not done yet") == 321
    assert ("Fit-out of the east wing" in table) and max(map(len, table.splitlines())) <= width


def test_the_scan_keeps_a_sorted_contract_in_one_run(tmp_path):
    rows = [f"M{i:05},C{i // 100:03},Phase,,10.00,done,2026-10-01,2026-10-02" for i in range(2000)]
    path = tmp_path / "m.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    groups = scan(path)
    assert groups is not None and len(groups.keys) == 20
    with groups:
        read = groups.read("C007")
    assert [m.id for _, m in read.milestones] == [f"M{i:05}" for i in range(700, 800)]
    assert read.milestones[0][0] == 702  # the line it is on, header first
    assert len(groups._runs["C007"].starts) == 1


CELLS = {
    "id": ["A1", "A2", " A1", "A1 ", "B1", "DUP", "", "É", "x\ty"],
    "contract": ["ACME-WEB", "BETA-APP", "QUIET-1", " ACME-WEB", "BETA-APP  ", "NOPE", ""],
    "title": ["t", '"q,uoted"', '"two\nlines"', '"crlf\r\nin"', '"a ""b"" c"', "  sp  ", "é✓"],
    "percent": ["", "", "10", "50", "x"],
    "amount": ["", "5", "100.00", "-1", "1.001"],
    "status": ["done", "open", "cancelled", "", "bogus"],
    "completed": ["2026-10-01", "", "2026-13-01"],
    "accepted": ["2026-10-02", "", "2026-12-30"],
}
row_of_cells = s.tuples(*(s.sampled_from(v) for v in CELLS.values())).map(",".join)
odd_row = s.sampled_from(["", ",,,,,,,", "   ", '""', ",", "A9,ACME-WEB"])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=s.lists(s.one_of(row_of_cells, row_of_cells, odd_row), max_size=12),
    end=s.sampled_from(["\n", "\r\n"]),
    last=s.booleans(),
    bom=s.booleans(),
)
def test_any_such_file_streams_to_the_whole_plan_or_is_read_whole(
    tmp_path_factory, rows, end, last, bom
):
    """Cells with spaces, quotes, line breaks and bad values, short and empty rows: the
    streamed plan is the whole one, or it is not streamed at all."""
    text = ("\ufeff" if bom else "") + end.join([HEADER, *rows]) + (end if last else "")
    business = csv_business(tmp_path_factory.mktemp("any"), text)
    streamed_json, problems = streamed(business)
    if problems is None:
        assert streamed_json == ""
        return
    assert (streamed_json, streamed(business, csv=True)) == (
        whole(business),
        (whole_csv(business), problems),
    )
