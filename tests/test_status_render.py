"""What a bookkeeper reads: the status tables at 60, 80 and 120 columns (piped, `COLUMNS`
honoured), key columns whole, overdue amounts emphasised, no number highlighted on its own,
no message's brackets eaten as markup, and the spreadsheet exports read back."""

from __future__ import annotations

import ast
import csv
import io
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from rich.markup import RE_TAGS

import connector
from connector.cli.common import CommandConsole, words_kept
from tests.conftest import add_change_order
from tests.test_cli import connector as run
from tests.test_status import taxed_business

ARGS = ("--as-of", "2026-11-26")
LINK = "https://pay.ledger.example/invoice/1002?locale=en_CA&cta=v3"


def status_text(business, monkeypatch, capsys, columns: str | None, *more: str) -> str:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    code, out, _ = run(
        monkeypatch, capsys, "status", "--config", str(business.config_path), *ARGS, *more
    )
    assert code == 1  # the refused email needs a person
    return out


@pytest.mark.parametrize("width", [60, 80, 120])
def test_the_status_fits_the_width_with_every_key_column_whole(
    business, monkeypatch, capsys, width
):
    rows = taxed_business(business)
    text = status_text(business, monkeypatch, capsys, str(width))
    assert "…" not in text
    for line in text.splitlines():
        assert len(line) <= width or line.strip().endswith(LINK), line
    lines = text.splitlines()
    for row in rows.values():  # each invoice on one line with its contract, both whole
        assert any(row.number in line and f" {row.contract} " in line for line in lines)
    for cid in ("ACME-WEB", "BETA-APP"):
        assert any(line.startswith(f" {cid} ") for line in lines)
    # nothing is lost by moving: every column is in some table
    for name in ("Value", "Billed", "Paid", "Outstanding", "Overdue", "Retainage", "For", "Due"):
        assert re.search(rf"\b{name}\b", text), name
    moved = "continued" in text
    assert moved == (width < 120), width  # 120 has room for every column


def test_piped_output_is_120_columns_unless_columns_says(business, monkeypatch, capsys):
    taxed_business(business)
    wide = status_text(business, monkeypatch, capsys, None)
    assert "continued" not in wide and max(len(line) for line in wide.splitlines()) > 80
    narrow = status_text(business, monkeypatch, capsys, "70")
    assert all(len(line) <= 70 or LINK in line for line in narrow.splitlines())


def test_overdue_amounts_are_bold_red_and_other_numbers_plain(business):
    from connector import render
    from connector.overview import business_status

    business.sync()
    screen = io.StringIO()
    console = CommandConsole(file=screen, width=120, force_terminal=True, color_system="standard")
    books = business_status(business.config(), business_day("2026-11-26"))
    render.status(console, books)
    text = screen.getvalue()
    late = next(i for i in books.invoices if i.days_overdue)
    on_time = next(i for i in books.invoices if not i.days_overdue)
    assert re.search(r"\x1b\[1;31m *" + re.escape(f"{late.total:,}"), text)
    assert f"{on_time.total:,} {on_time.currency}" in re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert not re.search(r"\x1b\[[0-9;]*m *" + re.escape(f"{on_time.total:,}"), text)
    screen.truncate(0)
    console.print("5 invoice(s) created, 2026-11-26, 12 (run 3)")  # rich would colour these
    assert "\x1b" not in screen.getvalue()


# -- no message's brackets are eaten as markup ---------------------------------------------------


def _literals(tree: ast.AST) -> list[str]:
    """Every string the code writes, an f-string's fixed parts joined by a placeholder."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            out.append(
                "".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append(node.value)
    return out


def _not_styles(text: str) -> list[str]:
    """The bracketed words rich would take for markup that are not styles."""
    console = CommandConsole(file=io.StringIO())
    found = []
    for match in RE_TAGS.finditer(text):
        if len(match.group(2)) % 2:
            continue
        tag = match.group(3)
        try:
            console.get_style(tag.lstrip("/"))
        except Exception:
            found.append(f"[{tag}]")
    return found


def test_every_message_with_brackets_is_printed_with_them():
    """Each string in the code with a bracketed word that is not a style ("[ledger]",
    "[[contracts]]", "[billing] amounts") survives the command's console: printed as it is,
    brackets and all, also where a message was printed without `escape`."""
    root = Path(connector.__file__).parent
    messages = {
        text
        for path in root.rglob("*.py")
        for text in _literals(ast.parse(path.read_text()))
        if _not_styles(text)
    }
    assert len(messages) > 20  # the config's sections, the sign-in's [ledger], ...
    assert any("add tenant_id to [ledger]" in m for m in messages)
    for text in sorted(messages):
        screen = io.StringIO()
        CommandConsole(file=screen, width=10_000, soft_wrap=True).print(text)
        shown = screen.getvalue()
        for tag in _not_styles(text):
            assert tag in shown, (tag, text)


def test_styles_stay_markup_and_escaped_brackets_stay_escaped():
    kept = words_kept("[red]needs attention:[/red] add it to [ledger]; \\[x] stays")
    assert kept.startswith("[red]needs attention:[/red]") and "\\[ledger]" in kept
    assert "\\[x] stays" in kept and "\\\\[x]" not in kept


# -- exports ---------------------------------------------------------------------------------


def parse_csv(text: str) -> list[dict[str, str]]:
    assert text.count("\r\n") == len(text.splitlines())  # the CSV RFC's line ends
    rows = list(csv.DictReader(io.StringIO(text)))
    header = text.splitlines()[0]
    assert header.startswith("record,") and header not in text.splitlines()[1:]  # one header
    return rows


def test_status_csv_reads_back_with_plain_amounts_and_safe_text(business, monkeypatch, capsys):
    """A customer named like a formula shows as text; a credit note's negative total stays a
    number the spreadsheet can add."""
    text = business.config_path.read_text()
    business.config_path.write_text(
        text.replace('customer = "Acme Corporation"', 'customer = "=HYPERLINK(\\"x\\")"')
    )
    business.sync()
    add_change_order(business, "CO-2", "-1000.00", "2026-11-27")
    business.sync(as_of=business_day("2026-11-28"))
    args = ("status", "--config", str(business.config_path), "--as-of", "2026-11-28")
    code, out, _ = run(monkeypatch, capsys, *args, "--format", "csv")
    rows = parse_csv(out)
    _, as_json, _ = run(monkeypatch, capsys, *args, "--json")
    data = json.loads(as_json)
    contracts = [r for r in rows if r["record"] == "contract"]
    invoices = [r for r in rows if r["record"] == "invoice"]
    assert len(contracts) == len(data["contracts"]) and len(invoices) == len(data["invoices"])
    acme = next(r for r in contracts if r["contract"] == "ACME-WEB")
    assert acme["customer"] == '\'=HYPERLINK("x")'
    credit = next(r for r in invoices if r["status"] == "credit_note")
    assert Decimal(credit["total"]) == Decimal("-1000.00") and credit["total"] == "-1000.00"
    for r in invoices:  # plain decimal strings, as the JSON has them
        shown = next(i for i in data["invoices"] if i["number"] == r["invoice"])
        assert (r["total"], r["balance"], r["paid"]) == (
            shown["total"],
            shown["balance"],
            shown["paid"],
        )
        assert "," not in r["total"]
    assert code == 0 or [r for r in rows if r["record"] == "attention"]


def business_day(text: str):
    from datetime import date

    return date.fromisoformat(text)


def test_status_csv_lists_what_needs_a_person_with_the_money_held_up(business, monkeypatch, capsys):
    taxed_business(business)
    args = ("status", "--config", str(business.config_path), *ARGS)
    code, out, _ = run(monkeypatch, capsys, *args, "--format", "csv")
    assert code == 1
    [refused] = [r for r in parse_csv(out) if r["record"] == "attention"]
    assert refused["kind"] == "email_refused" and refused["contract"] == "BETA-APP"
    assert (refused["held_up"], refused["currency"]) == ("4000.00", "EUR")
    code, folder, _ = run(
        monkeypatch, capsys, "status", "--config-dir", str(business.dir), *ARGS, "--format", "csv"
    )
    assert code == 1 and parse_csv(folder) == parse_csv(out)


def test_plan_csv_reads_back_line_by_line(business, monkeypatch, capsys):
    args = ("plan", "--config", str(business.config_path), *ARGS)
    code, out, _ = run(monkeypatch, capsys, *args, "--format", "csv")
    assert code == 0
    rows = parse_csv(out)
    _, as_json, _ = run(monkeypatch, capsys, *args, "--format", "json")
    _, alias, _ = run(monkeypatch, capsys, *args, "--json")
    assert as_json == alias
    data = json.loads(as_json)
    totals = [r for r in rows if r["record"] == "total"]
    assert [Decimal(r["amount"]) for r in totals] == [Decimal(i["total"]) for i in data["invoices"]]
    lines = [r for r in rows if r["record"] == "line"]
    assert len(lines) == sum(len(i["lines"]) for i in data["invoices"])
    withheld = [r for r in lines if Decimal(r["amount"]) < 0]  # no apostrophe on a number
    assert withheld and all(r["amount"].startswith("-") for r in withheld)
    skipped = [r for r in rows if r["record"] == "skipped"]
    assert {r["milestones"] for r in skipped} == {s["milestone"] for s in data["skipped"]}
    assert all(r["reason"] for r in skipped)


def test_json_and_format_must_agree(business, monkeypatch, capsys):
    args = ("status", "--config", str(business.config_path), "--json", "--format", "csv")
    code, _, err = run(monkeypatch, capsys, *args)
    assert code == 2 and "--json and --format csv disagree" in err


def test_status_takes_its_folder_from_connector_config_dir(business, monkeypatch, capsys):
    business.sync()
    monkeypatch.setenv("CONNECTOR_CONFIG_DIR", str(business.dir))
    code, out, _ = run(monkeypatch, capsys, "status", *ARGS, "--json")
    assert code == 0 and [e["business"] for e in json.loads(out)] == ["Northwind Studio"]
    _, out, _ = run(
        monkeypatch, capsys, "status", "--config", str(business.config_path), *ARGS, "--json"
    )
    assert json.loads(out)["business"] == "Northwind Studio"  # --config still wins


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_a_plan_line_that_looks_like_a_formula_is_text_in_the_spreadsheet(
    business, monkeypatch, capsys, start
):
    """A milestone title is a plan line's description; whoever typed it, the spreadsheet shows
    it and never runs it. The amounts beside it stay numbers, negative ones too."""
    from tests.conftest import MILESTONES

    title = f"{start}HYPERLINK('http://x.example','Build')"
    business.milestones(MILESTONES.replace('title = "Build"', f'title = "{title}"'))
    args = ("plan", "--config", str(business.config_path), *ARGS, "--format", "csv")
    _, out, _ = run(monkeypatch, capsys, *args)
    rows = parse_csv(out)
    [line] = [r for r in rows if "HYPERLINK" in r["description"]]
    assert line["description"].startswith("'" + start) and Decimal(line["amount"]) > 0
    assert any(Decimal(r["amount"]) < 0 and r["amount"][0] == "-" for r in rows if r["amount"])


def test_every_formula_start_is_neutralised_and_no_amount_is():
    """A milestones file strips a title's leading tab or carriage return before it reaches a
    plan; a customer name or a ledger's words are not stripped, so every start counts."""
    from connector.exports import cell

    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert cell(f"{start}1+1") == f"'{start}1+1"
    assert cell("Acme") == "Acme" and cell("") == ""
    assert cell(Decimal("-1000.00")) == "-1000.00" and cell(Decimal("1E+2")) == "100"
