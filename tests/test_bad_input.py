"""Bad input, as a bookkeeper meets it: drive the real `connector` command and check what it says.

Every test writes a small config and milestones file into `tmp_path`, runs `connector.cli.main()`
in-process (that is where `UserError` becomes a message and an exit code) and asserts on the exit
code and on the text or JSON a person would read. Exit codes: 0 ok, 1 some items need a person,
2 could not run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from connector import cli

REPO = Path(__file__).resolve().parents[1]
AS_OF = "2026-11-26"
SECRET_VALUE = "sk-live-9f8e7d6c5b4a3210"

CONTRACTS = """
[[contracts]]
id = "ACME"
customer = "Acme Corporation"
value = "1000.00"

[[contracts]]
id = "BETA"
customer = "Beta Bakery"
currency = "EUR"
value = "500.00"
"""


# -- helpers ------------------------------------------------------------------------------------


def write_config(
    tmp_path: Path,
    *,
    contracts: str = CONTRACTS,
    milestones: str = "milestones.toml",
    business: str = 'name = "Test Co"',
    tracker_extra: str = "",
    ledger_extra: str = "",
    extra: str = "",
    name: str = "config.toml",
) -> Path:
    """A config whose every part can be replaced; the state file lives under tmp_path."""
    text = f"""\
[business]
{business}

[state]
path = "data/state.db"

[tracker]
kind = "file"
path = "{milestones}"
{tracker_extra}

[ledger]
kind = "local"
path = "ledger.json"
{ledger_extra}

{extra}

{contracts}
"""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class Raw(str):
    """TOML text written as is: `Raw("48000.50")` is an unquoted float literal."""


def toml_value(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | date):
        return str(value)
    return json.dumps(value)


def milestone(
    mid: str,
    contract: str,
    *,
    status: str = "done",
    completed: date | None = date(2026, 10, 1),
    accepted: date | None = date(2026, 10, 2),
    **fields: Any,
) -> str:
    """One [[milestones]] table; done and accepted unless told otherwise. None omits a key."""
    keys = {
        "id": mid,
        "contract": contract,
        **fields,
        "status": status,
        "completed": completed,
        "accepted": accepted,
    }
    body = "\n".join(f"{k} = {toml_value(v)}" for k, v in keys.items() if v is not None)
    return f"[[milestones]]\n{body}\n"


def write_milestones(tmp_path: Path, *blocks: str, name: str = "milestones.toml") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


def header_lines(path: Path) -> list[int]:
    """Line numbers of the [[milestones]] headers, which is where messages point."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [n for n, line in enumerate(lines, 1) if line.strip() == "[[milestones]]"]


def listing(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*"))


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        return json.loads(self.out)

    def skipped(self, milestone_id: str) -> list[dict[str, Any]]:
        return [s for s in self.json()["skipped"] if s["milestone"] == milestone_id]

    def billed(self) -> set[str]:
        return {m for inv in self.json()["invoices"] for m in inv["milestones"]}


Run = Callable[..., Result]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """`run("plan", "--config", path)`: the exit code and what was printed."""

    def invoke(*args: object) -> Result:
        monkeypatch.setattr(sys, "argv", ["connector", *map(str, args)])
        code: Any = 0
        try:
            cli.main()
        except SystemExit as exc:
            code = exc.code
        captured = capsys.readouterr()
        return Result(0 if code is None else int(code), captured.out, captured.err)

    return invoke


@pytest.fixture
def plan(run: Run) -> Callable[[Path], Result]:
    """`connector plan --config PATH --as-of 2026-11-26 --json`."""
    return lambda path: run("plan", "--config", path, "--as-of", AS_OF, "--json")


def contract_with(**keys: Any) -> str:
    """CONTRACTS with the first contract's keys replaced or added (None removes one)."""
    first = {"id": "ACME", "customer": "Acme Corporation", "value": "1000.00", **keys}
    body = "\n".join(f"{k} = {toml_value(v)}" for k, v in first.items() if v is not None)
    rest = CONTRACTS.split("[[contracts]]")[2]
    return f"[[contracts]]\n{body}\n\n[[contracts]]{rest}"


@pytest.fixture
def good_milestones(tmp_path: Path) -> Path:
    return write_milestones(tmp_path, milestone("M1", "ACME", amount="100.00"))


# -- the config file ----------------------------------------------------------------------------


def test_malformed_config_toml_names_file_and_line(tmp_path: Path, plan, good_milestones) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[business]\nname = "Test Co\n', encoding="utf-8")

    result = plan(path)

    assert result.code == 2
    assert "config.toml" in result.err
    assert "not valid TOML" in result.err
    assert "line 2" in result.err
    assert result.out == ""


@pytest.mark.parametrize(
    ("business", "contracts", "expected"),
    [
        ('timezone = "UTC"', CONTRACTS, "business.name: required key is missing"),
        (
            'name = "Test Co"',
            contract_with(customer=None),
            "contracts[0] (ACME).customer: required key is missing",
        ),
    ],
    ids=["business.name", "contracts[0].customer"],
)
def test_missing_required_key_names_the_key_path(
    tmp_path: Path, plan, good_milestones, business: str, contracts: str, expected: str
) -> None:
    result = plan(write_config(tmp_path, business=business, contracts=contracts))

    assert result.code == 2
    assert expected in result.err
    assert "1 problem" in result.err


def test_unknown_key_is_reported_with_the_expected_keys(tmp_path: Path, plan, good_milestones):
    result = plan(write_config(tmp_path, extra='[billing]\naproval = "none"'))

    assert result.code == 2
    line = next(ln for ln in result.err.splitlines() if "billing.aproval" in ln)
    assert "unknown key" in line
    for key in ("approval", "invoice_date", "terms_days", "on_change", "item"):
        assert key in line


def test_several_schema_problems_are_reported_in_one_message(
    tmp_path: Path, plan, good_milestones
) -> None:
    contracts = CONTRACTS.replace('currency = "EUR"', 'currency = "XYZ"')
    path = write_config(
        tmp_path,
        business='timezone = "Mars/Olympus"',
        extra='[billing]\naproval = "none"\nterms_days = -1',
        contracts=contracts,
    )

    result = plan(path)

    assert result.code == 2
    expected = [
        "business.name: required key is missing",
        "business.timezone:",
        "billing.aproval: unknown key",
        "billing.terms_days:",
        "contracts[1] (BETA).currency: unknown currency 'XYZ'",
    ]
    problems = [ln.strip() for ln in result.err.splitlines() if ln.startswith("  ")]
    assert f"{len(expected)} problems" in result.err
    assert len(problems) == len(expected)
    for text in expected:
        assert any(p.startswith(text) for p in problems), text


def test_problems_in_every_part_of_the_config_are_reported_together(
    tmp_path: Path, plan, good_milestones
) -> None:
    """A schema problem must not hide problems checked afterwards (amounts, plugin settings):
    otherwise the bookkeeper fixes one batch, reruns, and meets the next."""
    path = tmp_path / "config.toml"
    path.write_text(
        '[business]\ntimezone = "UTC"\n\n'  # business.name missing (schema)
        '[tracker]\nkind = "file"\npath = "milestones.toml"\n\n'
        '[ledger]\nkind = "local"\n\n'  # ledger.path missing (plugin settings)
        '[[contracts]]\nid = "ACME"\ncustomer = "Acme"\nvalue = "abc"\n',  # amount
        encoding="utf-8",
    )

    result = plan(path)

    assert result.code == 2
    assert "3 problems" in result.err
    assert "business.name: required key is missing" in result.err
    assert "ledger.path: required key is missing" in result.err
    assert "contracts[0] (ACME).value:" in result.err


@pytest.mark.parametrize(
    ("section", "key"),
    [("ledger", "client_secret"), ("tracker", "api_token"), ("ledger", "password")],
)
def test_secret_looking_key_is_refused_without_echoing_the_value(
    tmp_path: Path, plan, good_milestones, section: str, key: str
) -> None:
    setting = f'{key} = "{SECRET_VALUE}"'
    path = write_config(
        tmp_path,
        tracker_extra=setting if section == "tracker" else "",
        ledger_extra=setting if section == "ledger" else "",
    )

    result = plan(path)

    assert result.code == 2
    assert f"{section}.{key}" in result.err
    assert "credentials live in the OS keyring" in result.err
    assert SECRET_VALUE not in result.err
    assert SECRET_VALUE not in result.out


def test_unknown_currency_on_a_contract(tmp_path: Path, plan, good_milestones) -> None:
    result = plan(write_config(tmp_path, contracts=contract_with(currency="XYZ")))

    assert result.code == 2
    assert "contracts[0] (ACME).currency: unknown currency 'XYZ'" in result.err


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("-5.00", "zero or more"),
        ("abc", "expected an amount"),
        ("1,000.00", "expected an amount"),
        (True, "expected an amount"),  # a TOML boolean must not be read as 1
    ],
    ids=["negative", "text", "thousands-separator", "boolean"],
)
def test_negative_or_non_numeric_contract_value(
    tmp_path: Path, plan, good_milestones, value: object, says: str
) -> None:
    result = plan(write_config(tmp_path, contracts=contract_with(value=value)))

    assert result.code == 2
    line = next((ln for ln in result.err.splitlines() if "contracts[0] (ACME).value" in ln), "")
    assert says in line


def test_absurdly_large_contract_value_is_a_config_problem_not_a_crash(
    tmp_path: Path, plan, good_milestones
) -> None:
    value = "100000000000000000000000000000.00"
    result = plan(write_config(tmp_path, contracts=contract_with(value=value)))

    assert result.code == 2
    assert "contracts[0] (ACME).value" in result.err
    assert "unexpected" not in result.err


@pytest.mark.parametrize(
    ("currency", "value", "places"),
    [("USD", "10.005", 2), ("JPY", "100.5", 0), ("KWD", "1.0005", 3)],
)
def test_contract_value_with_more_decimals_than_the_currency_allows(
    tmp_path: Path, plan, good_milestones, currency: str, value: str, places: int
) -> None:
    contracts = contract_with(currency=currency, value=value)
    result = plan(write_config(tmp_path, contracts=contracts))

    assert result.code == 2
    assert f"contracts[0] (ACME).value: '{value}' has more decimal places" in result.err
    assert f"{currency} allows ({places})" in result.err


@pytest.mark.parametrize(
    ("currency", "amount"), [("USD", "10.005"), ("JPY", "100.5"), ("USD", "0.001")]
)
def test_milestone_amount_with_more_decimals_than_the_currency_allows(
    tmp_path: Path, plan, currency: str, amount: str
) -> None:
    """The amount cannot be invoiced as written; it must not be planned (and must not crash
    `sync` later when the amount is stored in minor units)."""
    write_milestones(
        tmp_path,
        milestone("M1", "ACME", amount=amount),
        milestone("M2", "ACME", amount="100"),
    )
    contracts = contract_with(currency=currency, value="1000")

    result = plan(write_config(tmp_path, contracts=contracts))

    assert result.code == 1
    [skip] = result.skipped("M1")
    assert skip["reason"] == "invalid_milestone"
    assert amount in skip["message"]
    assert result.billed() == {"M2"}


def test_plan_shows_fixed_amounts_at_the_currency_minor_unit(tmp_path: Path, plan) -> None:
    """`amount = "100"` is invoiced (and stored, and shown by `status`) as 100.00 USD; the plan
    a bookkeeper checks beforehand must show the same figure."""
    write_milestones(
        tmp_path,
        milestone("A1", "ACME", amount="100"),
        milestone("A2", "ACME", amount="12.5"),
        milestone("B1", "BETA", amount="7"),
    )

    result = plan(write_config(tmp_path))

    assert result.code == 0, result.err
    amounts = {inv["milestones"][0]: inv["lines"][0]["amount"] for inv in result.json()["invoices"]}
    assert amounts == {"A1": "100.00", "A2": "12.50", "B1": "7.00"}
    totals = {inv["milestones"][0]: inv["total"] for inv in result.json()["invoices"]}
    assert totals == {"A1": "100.00", "A2": "12.50", "B1": "7.00"}


def test_float_literals_are_read_exactly(tmp_path: Path, plan) -> None:
    """Unquoted TOML floats become Decimal as written: no binary rounding anywhere."""
    contracts = (
        '[[contracts]]\nid = "ACME"\ncustomer = "Acme"\nvalue = 48000.50\n\n'
        '[[contracts]]\nid = "TINY"\ncustomer = "Tiny"\nvalue = 1.15\n'
    )
    write_milestones(
        tmp_path,
        milestone("A1", "ACME", percent="12.5"),  # quoted
        milestone("A2", "ACME", amount=Raw("1234.56")),
        milestone("T1", "TINY", percent=Raw("50.0")),
    )

    result = plan(write_config(tmp_path, contracts=contracts))

    assert result.code == 0, result.err
    lines = {
        inv["milestones"][0]: inv["lines"] for inv in result.json()["invoices"] if inv["milestones"]
    }
    assert lines["A1"][0] == {
        "description": "A1 (12.5% of 48000.50 USD)",
        "amount": "6000.06",  # 6000.0625, rounded once
    }
    assert lines["A2"][0]["amount"] == "1234.56"
    # exactly 0.575, rounded half up; 1.15 as a binary float is 1.149999... and would give 0.57
    assert lines["T1"][0] == {"description": "T1 (50% of 1.15 USD)", "amount": "0.58"}


# -- the milestones file ------------------------------------------------------------------------


def test_missing_milestones_file_names_the_path(tmp_path: Path, plan) -> None:
    result = plan(write_config(tmp_path, milestones="nowhere/milestones.toml"))

    assert result.code == 2
    assert str((tmp_path / "nowhere" / "milestones.toml").resolve()) in result.err
    assert "not found" in result.err


def test_malformed_milestones_toml_names_the_line(tmp_path: Path, plan) -> None:
    (tmp_path / "milestones.toml").write_text(
        '[[milestones]]\nid = "M1"\ncontract = \n', encoding="utf-8"
    )

    result = plan(write_config(tmp_path))

    assert result.code == 2
    assert "milestones.toml" in result.err
    assert "not valid TOML" in result.err
    assert "line 3" in result.err


def test_milestone_with_percent_and_amount_is_skipped_and_others_planned(
    tmp_path: Path, plan
) -> None:
    path = write_milestones(
        tmp_path,
        milestone("M1", "ACME", amount="100.00"),
        milestone("M2", "ACME", amount="50.00", percent="10"),
        milestone("B1", "BETA", amount="200.00"),
    )

    result = plan(write_config(tmp_path))

    assert result.code == 1
    [skip] = result.skipped("M2")
    assert skip["reason"] == "invalid_milestone"
    assert f"milestones.toml, line {header_lines(path)[1]}" in skip["message"]
    assert "exactly one of percent or amount" in skip["message"]
    assert result.billed() == {"M1", "B1"}


def test_percents_over_100_invalidate_only_that_contract(tmp_path: Path, plan) -> None:
    write_milestones(
        tmp_path,
        milestone("A1", "ACME", percent="60"),
        milestone("A2", "ACME", percent="50", status="open", completed=None, accepted=None),
        milestone("B1", "BETA", percent="100"),
    )

    result = plan(write_config(tmp_path))

    assert result.code == 1
    for mid in ("A1", "A2"):
        [skip] = result.skipped(mid)
        assert skip["reason"] == "invalid_contract"
        assert "110%" in skip["message"]
    assert result.billed() == {"B1"}


@pytest.mark.parametrize(
    "fields",
    [
        {"amount": "-5.00"},
        {"amount": "abc"},
        {"amount": True},  # must not be read as 1
        {"percent": "abc"},
        {"percent": "150"},
        {"percent": True},  # must not be read as 1%
    ],
    ids=["negative", "text", "bool-amount", "text-percent", "percent-over-100", "bool-percent"],
)
def test_bad_milestone_amount_or_percent_is_invalid_milestone(
    tmp_path: Path, plan, fields: dict[str, Any]
) -> None:
    path = write_milestones(
        tmp_path, milestone("M1", "ACME", **fields), milestone("M2", "ACME", amount="10.00")
    )

    result = plan(write_config(tmp_path))

    assert result.code == 1
    [skip] = result.skipped("M1")
    assert skip["reason"] == "invalid_milestone"
    assert f"milestones.toml, line {header_lines(path)[0]}" in skip["message"]
    assert result.billed() == {"M2"}


def test_duplicate_ids_invalidate_both_and_point_at_each_other(tmp_path: Path, plan) -> None:
    path = write_milestones(
        tmp_path,
        milestone("M1", "ACME", amount="100.00"),
        milestone("M2", "ACME", amount="10.00"),
        milestone("M1", "BETA", amount="200.00"),
    )
    first, _, second = header_lines(path)

    result = plan(write_config(tmp_path))

    assert result.code == 1
    skips = result.skipped("M1")
    assert [s["reason"] for s in skips] == ["invalid_milestone", "invalid_milestone"]
    at_first = next(s["message"] for s in skips if s["contract"] == "ACME")
    at_second = next(s["message"] for s in skips if s["contract"] == "BETA")
    assert at_first.startswith(f"milestones.toml, line {first}:")
    assert at_second.startswith(f"milestones.toml, line {second}:")
    # each message also points at the other occurrence, so neither has to be hunted for
    assert re.search(rf"line {second}\b", at_first.split(":", 1)[1]), at_first
    assert re.search(rf"line {first}\b", at_second.split(":", 1)[1]), at_second
    assert result.billed() == {"M2"}


def test_done_milestone_without_completed_date(tmp_path: Path, plan) -> None:
    write_milestones(
        tmp_path,
        milestone("M1", "ACME", amount="100.00", completed=None),
        milestone("M2", "ACME", amount="10.00"),
    )

    result = plan(write_config(tmp_path))

    assert result.code == 1
    [skip] = result.skipped("M1")
    assert skip["reason"] == "invalid_milestone"
    assert "completed is missing" in skip["message"]
    assert result.billed() == {"M2"}


def test_milestone_naming_an_unknown_contract(tmp_path: Path, plan) -> None:
    path = write_milestones(
        tmp_path,
        milestone("M1", "ACME", amount="100.00"),
        milestone("X1", "NOPE", amount="10.00"),
    )

    result = plan(write_config(tmp_path))

    assert result.code == 1
    [skip] = result.skipped("X1")
    assert skip["reason"] == "unknown_contract"
    assert "'NOPE'" in skip["message"]
    assert f"milestones.toml, line {header_lines(path)[1]}" in skip["message"]
    assert "ACME, BETA" in skip["message"]
    assert result.billed() == {"M1"}


CSV_COLUMNS = ["id", "contract", "title", "percent", "amount", "status", "completed", "accepted"]
CSV_ROWS = [
    ["A1", "ACME", "Design, phase 1", "20", "", "done", "2026-09-20", "2026-09-22"],
    ["A2", "ACME", "Build", "30", "", "done", "2026-10-28", ""],
    ["A3", "ACME", "Launch", "50", "", "open", "", ""],
    ["B1", "BETA", "Prototype", "", "125.50", "done", "2026-10-05", "2026-10-06"],
    ["B2", "BETA", "Release", "", "99", "cancelled", "", ""],
]


def test_csv_and_toml_milestones_give_the_same_plan(tmp_path: Path, plan) -> None:
    csv_lines = [",".join(CSV_COLUMNS)]
    csv_lines += [",".join(f'"{c}"' if "," in c else c for c in row) for row in CSV_ROWS]
    (tmp_path / "milestones.csv").write_text("\n".join(csv_lines) + "\n", encoding="utf-8")
    blocks = []
    for row in CSV_ROWS:
        fields: dict[str, Any] = {
            key: (date.fromisoformat(cell) if key in ("completed", "accepted") else cell)
            if cell
            else None
            for key, cell in zip(CSV_COLUMNS, row, strict=True)
        }
        blocks.append(milestone(fields.pop("id"), fields.pop("contract"), **fields))
    write_milestones(tmp_path, *blocks)

    from_toml = plan(write_config(tmp_path, milestones="milestones.toml", name="toml.toml"))
    from_csv = plan(write_config(tmp_path, milestones="milestones.csv", name="csv.toml"))

    assert from_toml.code == from_csv.code == 0, (from_toml.err, from_csv.err)
    assert from_csv.json() == from_toml.json()
    assert from_csv.billed() == {"A1", "B1"}


def test_csv_with_an_unknown_column_names_the_column(tmp_path: Path, plan) -> None:
    (tmp_path / "milestones.csv").write_text(
        "id,contract,amount,colour\nM1,ACME,10.00,red\n", encoding="utf-8"
    )

    result = plan(write_config(tmp_path, milestones="milestones.csv"))

    assert result.code == 2
    assert "milestones.csv" in result.err
    assert "unknown column 'colour'" in result.err


# -- commands that must not write ---------------------------------------------------------------


def test_plan_writes_nothing(tmp_path: Path, plan) -> None:
    write_milestones(tmp_path, milestone("M1", "ACME", amount="100.00"))
    config = write_config(tmp_path)
    before = listing(tmp_path)

    result = plan(config)

    assert result.code == 0, result.err
    assert result.billed() == {"M1"}
    assert not (tmp_path / "data" / "state.db").exists()
    assert listing(tmp_path) == before


def test_config_check_accepts_the_shipped_example(tmp_path: Path, run: Run) -> None:
    shutil.copy(REPO / "config.example.toml", tmp_path / "config.example.toml")
    (tmp_path / "connector" / "examples").mkdir(parents=True)
    shutil.copy(
        REPO / "connector" / "examples" / "milestones.toml",
        tmp_path / "connector" / "examples" / "milestones.toml",
    )

    result = run("config", "check", "--config", tmp_path / "config.example.toml")

    assert result.code == 0, result.err
    said = " ".join(result.out.split())  # rich wraps long lines
    assert "ok (Northwind Studio; 2 contract(s); tracker file: 6 milestone(s)" in said


def test_a_password_in_the_state_url_is_refused(tmp_path: Path, plan, good_milestones) -> None:
    path = write_config(tmp_path)
    path.write_text(
        path.read_text().replace(
            'path = "data/state.db"', f'url = "postgresql://books:{SECRET_VALUE}@db/connector"'
        )
    )
    result = plan(path)
    assert result.code == 2
    assert "state.url: holds a password" in result.err
    assert SECRET_VALUE not in result.err + result.out


def test_an_endpoint_address_is_not_taken_for_a_credential(tmp_path: Path) -> None:
    from connector import config as config_mod
    from connector.errors import ConfigError

    path = tmp_path / "xero.toml"
    path.write_text(
        '[business]\nname = "N"\n[tracker]\nkind = "file"\npath = "m.toml"\n'
        '[ledger]\nkind = "xero"\ntoken_url = "http://127.0.0.1:9/connect/token"\n'
        'client_secret_hint = "x"\n'
    )
    with pytest.raises(ConfigError) as refused:
        config_mod.load(path)
    assert refused.value.problems[0] == (
        "ledger.client_secret_hint: looks like a credential; credentials live in the OS keyring, "
        "never in the config file: remove this key"
    )
    assert not any(p.startswith("ledger.token_url") for p in refused.value.problems)
    path.write_text(path.read_text().replace('client_secret_hint = "x"\n', ""))
    assert config_mod.load(path).ledger_settings.token_url == "http://127.0.0.1:9/connect/token"


# -- bad input that used to get a wrong answer or an "unexpected" error (issue 11) --------------


def invoices_in_state(tmp_path: Path) -> int:
    """Invoice rows the state database holds (0 when there is none), read with sqlite3 itself."""
    db = tmp_path / "data" / "state.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM invoices").fetchone()[0]


def assert_nothing_billed(tmp_path: Path) -> None:
    assert not (tmp_path / "ledger.json").exists()
    assert invoices_in_state(tmp_path) == 0


def sync(run: Run, config: Path) -> Result:
    return run("sync", "--config", config, "--as-of", AS_OF)


def test_a_csv_column_given_twice_is_refused_naming_it(tmp_path: Path, run: Run) -> None:
    """`percent,percent` with 10 and 90 used to bill the last one, silently."""
    (tmp_path / "milestones.csv").write_text(
        "id,contract,percent,percent,status,completed,accepted\n"
        "M1,ACME,10,90,done,2026-10-01,2026-10-02\n",
        encoding="utf-8",
    )

    result = sync(run, write_config(tmp_path, milestones="milestones.csv"))

    assert result.code == 2
    assert "milestones.csv, line 1: column 'percent' appears twice (columns 3 and 4)" in result.err
    assert "unexpected" not in result.err
    assert_nothing_billed(tmp_path)


def test_an_empty_completed_on_a_done_milestone_is_invalid(tmp_path: Path, plan) -> None:
    """`completed = ""` used to read as "not done yet" (exit 0); an empty CSV cell is invalid."""
    path = write_milestones(
        tmp_path,
        milestone("M1", "ACME", amount="100.00", completed=""),  # type: ignore[arg-type]
        milestone("M2", "ACME", amount="10.00"),
    )
    config = write_config(tmp_path)
    before = listing(tmp_path)

    result = plan(config)

    assert result.code == 1
    [skip] = result.skipped("M1")
    assert skip["reason"] == "invalid_milestone"
    assert skip["message"].startswith(f"milestones.toml, line {header_lines(path)[0]}:")
    assert "status is done but completed is empty" in skip["message"]
    assert result.billed() == {"M2"}
    assert listing(tmp_path) == before


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://books:{SECRET_VALUE}@db/connector",
        f"postgresql://books@db/connector?password={SECRET_VALUE}",
        f"postgresql://books@db/connector?sslmode=require&sslpassword={SECRET_VALUE}",
    ],
    ids=["user-part", "query-string", "ssl-key-password"],
)
def test_a_password_anywhere_in_the_state_url_is_refused(
    tmp_path: Path, run: Run, good_milestones, url: str
) -> None:
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace('path = "data/state.db"', f'url = "{url}"'))

    result = sync(run, path)

    assert result.code == 2
    assert str(path) in result.err
    assert "state.url: holds a password" in result.err
    assert SECRET_VALUE not in result.err + result.out
    assert not (tmp_path / "ledger.json").exists()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a database url", "state.url: expected a database URL like postgresql://"),
        ("postgresql://books@db:fivefour/connector", "state.url: the port after the host"),
        ("mysqlx://books@db/connector", "state.url: unknown database kind 'mysqlx'"),
    ],
    ids=["not-a-url", "bad-port", "unknown-kind"],
)
def test_an_unparseable_state_url_is_a_config_error(
    tmp_path: Path, run: Run, good_milestones, url: str, says: str
) -> None:
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace('path = "data/state.db"', f'url = "{url}"'))

    for command in ("sync", "plan", "status"):
        result = run(command, "--config", path)
        assert result.code == 2, command
        assert f"{path}: 1 problem" in result.err and says in result.err, result.err
        assert "unexpected" not in result.err
    assert not (tmp_path / "ledger.json").exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_postgresql_is_named(tmp_path: Path, run: Run, good_milestones) -> None:
    url = f"postgresql://books@127.0.0.1:{_closed_port()}/connector"
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace('path = "data/state.db"', f'url = "{url}"'))

    for command in ("sync", "plan", "status"):
        result = run(command, "--config", path, "--as-of", AS_OF)
        assert result.code == 2, command
        assert f"cannot reach the state database {url} (state.url)" in result.err, result.err
        assert "unexpected" not in result.err and "run with --debug" not in result.err
    assert not (tmp_path / "ledger.json").exists()


@pytest.fixture
def read_only() -> Iterator[Callable[[Path], None]]:
    """Make a file or folder read-only even for root (who ignores mode bits): `chattr +i`
    where the file system has it, mode bits otherwise; undone afterwards."""
    made: list[Path] = []

    def make(path: Path) -> None:
        if os.geteuid() != 0:
            path.chmod(0o555 if path.is_dir() else 0o444)
        elif subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("cannot make a file read-only for root here (no chattr +i)")
        made.append(path)

    yield make
    for path in made:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=False)
        path.chmod(0o755 if path.is_dir() else 0o644)


def _synced_once(tmp_path: Path, run: Run) -> Path:
    """A business synced once (M1 in the ledger), with M2 added since."""
    write_milestones(tmp_path, milestone("M1", "ACME", amount="100.00"))
    config = write_config(tmp_path)
    first = sync(run, config)
    assert first.code in (0, 1) and invoices_in_state(tmp_path) == 1, first.err
    write_milestones(
        tmp_path,
        milestone("M1", "ACME", amount="100.00"),
        milestone("M2", "ACME", amount="20.00"),
    )
    return config


def test_a_read_only_state_database_is_named_before_anything_is_sent(
    tmp_path: Path, run: Run, read_only
) -> None:
    config = _synced_once(tmp_path, run)
    ledger = (tmp_path / "ledger.json").read_bytes()
    db = tmp_path / "data" / "state.db"
    read_only(db)

    result = sync(run, config)

    assert result.code == 2
    assert f"the state database {db} is read-only" in result.err
    assert "unexpected" not in result.err
    assert (tmp_path / "ledger.json").read_bytes() == ledger  # M2 was not sent
    assert invoices_in_state(tmp_path) == 1


def test_a_read_only_state_folder_is_named(tmp_path: Path, run: Run, read_only) -> None:
    config = _synced_once(tmp_path, run)
    ledger = (tmp_path / "ledger.json").read_bytes()
    read_only(tmp_path / "data")

    result = sync(run, config)

    assert result.code == 2
    assert f"cannot write the lock file {tmp_path / 'data' / 'state.db.lock'}" in result.err
    assert f"must be able to write in {tmp_path / 'data'}" in result.err
    assert "unexpected" not in result.err
    assert (tmp_path / "ledger.json").read_bytes() == ledger
    assert invoices_in_state(tmp_path) == 1


def test_a_state_folder_that_cannot_be_created_is_named(
    tmp_path: Path, run: Run, read_only, good_milestones
) -> None:
    config = write_config(tmp_path)
    read_only(tmp_path)

    result = sync(run, config)

    assert result.code == 2
    assert f"cannot write the lock file {tmp_path / 'data' / 'state.db.lock'}" in result.err
    assert "unexpected" not in result.err


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "ledger.json (ledger.path) is a folder; ledger.path must name"),
        ('{"seq": 3, "customers": [', "(ledger.path) is not valid JSON (line 1, column 26"),
        ("[]", "(ledger.path) is JSON but not a ledger this connector wrote"),
        ('{"seq": 1}', "(ledger.path) is JSON but not a ledger this connector wrote"),
    ],
    ids=["folder", "corrupt", "a-list", "keys-missing"],
)
def test_a_local_ledger_file_that_cannot_be_read_is_named_and_left_alone(
    tmp_path: Path, run: Run, good_milestones, content: str | None, says: str
) -> None:
    ledger = tmp_path / "ledger.json"
    if content is None:
        ledger.mkdir()
    else:
        ledger.write_text(content, encoding="utf-8")

    result = sync(run, write_config(tmp_path))

    assert result.code == 2
    assert str(ledger) in result.err and says in result.err, result.err
    assert "unexpected" not in result.err
    if content is None:
        assert ledger.is_dir() and not any(ledger.iterdir())
    else:
        assert ledger.read_text(encoding="utf-8") == content  # never replaced by an empty one
    assert invoices_in_state(tmp_path) == 0


def test_a_csv_cell_over_the_csv_field_limit_names_the_line(tmp_path: Path, run: Run) -> None:
    """A quote opened and never closed swallows the rest of the file into one cell."""
    (tmp_path / "milestones.csv").write_text(
        "id,contract,amount,status,completed,accepted,title\n"
        "M1,ACME,10.00,done,2026-10-01,2026-10-02,Design\n"
        'M2,ACME,20.00,done,2026-10-01,2026-10-02,"Build\n' + "x" * 140_000 + "\n"
        "M3,ACME,30.00,done,2026-10-01,2026-10-02,Launch\n",
        encoding="utf-8",
    )

    result = sync(run, write_config(tmp_path, milestones="milestones.csv"))

    assert result.code == 2
    assert "milestones.csv, line 3: a cell is longer than 131,072 characters" in result.err
    assert "unexpected" not in result.err
    assert_nothing_billed(tmp_path)


def test_a_csv_record_over_two_lines_is_reported_at_its_first_line(tmp_path: Path, plan) -> None:
    (tmp_path / "milestones.csv").write_text(
        "id,contract,amount,percent,status,completed,accepted,title\n"
        'M1,ACME,-5.00,,done,2026-10-01,2026-10-02,"Design,\n'
        'phase 1"\n'
        "M2,ACME,,150,done,2026-10-01,2026-10-02,Build\n"
        "M3,ACME,10.00,,done,2026-10-01,2026-10-02,Launch\n",
        encoding="utf-8",
    )

    result = plan(write_config(tmp_path, milestones="milestones.csv"))

    assert result.code == 1
    [m1] = result.skipped("M1")
    [m2] = result.skipped("M2")
    assert m1["message"].startswith("milestones.csv, line 2: milestone M1:"), m1["message"]
    assert "amount: expected zero or more" in m1["message"]
    assert m2["message"].startswith("milestones.csv, line 4: milestone M2:"), m2["message"]
    assert result.billed() == {"M3"}


def test_a_config_with_a_byte_order_mark_is_read(tmp_path: Path, plan, good_milestones) -> None:
    """Notepad saves UTF-8 with a BOM; the config used to fail at "line 1, column 1"."""
    path = write_config(tmp_path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())

    result = plan(path)

    assert result.code == 0, result.err
    assert result.billed() == {"M1"}


# Characters that must never reach a ledger: how each is written in TOML, and its code point.
UNSAFE = [
    ("\\u0000", "U+0000 (NUL)"),
    ("\\u0007", "U+0007 (BEL)"),
    ("\\u001b[31m", "U+001B (ESC)"),
    ("\\n", "U+000A (line break)"),
    ("\\u0085", "U+0085 (a control character)"),
    ("\\u202e", "U+202E (an invisible text-direction control)"),
    ("\\u2066", "U+2066 (an invisible text-direction control)"),
]
UNSAFE_IDS = ["NUL", "BEL", "ESC", "line-break", "C1-NEL", "RLO", "LRI"]


@pytest.mark.parametrize(("escape", "named"), UNSAFE, ids=UNSAFE_IDS)
@pytest.mark.parametrize("key", ["title", "id"])
def test_a_control_or_direction_character_in_a_milestone_makes_it_invalid(
    tmp_path: Path, plan, key: str, escape: str, named: str
) -> None:
    fields = {"title": "Design"}
    mid = "M1"
    if key == "title":
        fields["title"] = Raw(f'"Des{escape}ign"')
    else:
        mid = Raw(f'"M{escape}1"')  # type: ignore[assignment]
    path = write_milestones(
        tmp_path,
        milestone(mid, "ACME", amount="100.00", **fields),
        milestone("M2", "ACME", amount="10.00", title="Build"),
    )

    result = plan(write_config(tmp_path))

    assert result.code == 1
    [bad] = [s for s in result.json()["skipped"] if s["milestone"] != "M2"]
    assert bad["reason"] == "invalid_milestone"
    assert bad["message"].startswith(f"milestones.toml, line {header_lines(path)[0]}: milestone ")
    position = 4 if key == "title" else 2
    assert f"{key}: holds {named} at character {position}" in bad["message"]
    assert bad["message"].endswith("; remove it")
    assert result.billed() == {"M2"}
    raw = json.loads(f'"{escape}"')
    assert raw not in bad["message"]  # the message shows the code point, never the character


def test_a_tab_in_a_title_is_kept(tmp_path: Path, plan) -> None:
    write_milestones(tmp_path, milestone("M1", "ACME", amount="100.00", title="Design\tphase 1"))

    result = plan(write_config(tmp_path))

    assert result.code == 0, result.err
    [invoice] = result.json()["invoices"]
    assert invoice["lines"][0]["description"].startswith("Design\tphase 1")


def test_a_control_character_in_a_csv_cell_names_the_line(tmp_path: Path, plan) -> None:
    (tmp_path / "milestones.csv").write_text(
        "id,contract,amount,status,completed,accepted,title\n"
        "M1,ACME,10.00,done,2026-10-01,2026-10-02,Design\x00\n"
        "M2,ACME,20.00,done,2026-10-01,2026-10-02,Build\n",
        encoding="utf-8",
    )

    result = plan(write_config(tmp_path, milestones="milestones.csv"))

    assert result.code == 1
    [skip] = result.skipped("M1")
    assert skip["message"] == (
        "milestones.csv, line 2: milestone M1: title: holds U+0000 (NUL) at character 7; remove it"
    )
    assert result.billed() == {"M2"}


@pytest.mark.parametrize(("escape", "named"), UNSAFE, ids=UNSAFE_IDS)
@pytest.mark.parametrize(
    ("key", "where"),
    [
        ("customer", "contracts[0] (ACME).customer"),
        ("id", "contracts[0] ('AC"),
        ("business", "business.name"),
    ],
    ids=["customer", "contract-id", "business-name"],
)
def test_a_control_or_direction_character_in_a_config_name_is_a_config_error(
    tmp_path: Path, run: Run, good_milestones, key: str, where: str, escape: str, named: str
) -> None:
    written = {"business": f"Test{escape}Co", "customer": f"Acme{escape}", "id": f"AC{escape}ME"}
    if key == "business":
        config = write_config(tmp_path, business=f'name = "{written[key]}"')
    else:
        config = write_config(tmp_path, contracts=contract_with(**{key: Raw(f'"{written[key]}"')}))

    result = sync(run, config)

    assert result.code == 2
    assert f"{config}: 1 problem" in result.err
    line = next(ln for ln in result.err.splitlines() if ln.strip().startswith(where))
    assert f"holds {named} at character" in line
    assert json.loads(f'"{written[key]}"') not in result.err  # never printed as it is
    assert_nothing_billed(tmp_path)


@pytest.mark.parametrize(
    ("deposit", "says"),
    [
        ("1500.00", "contracts[0] (ACME).deposit: 1500.00 is more than the contract value 1000.00"),
        ("150%", "contracts[0] (ACME).deposit: expected a percent from 0 to 100, got '150%'"),
    ],
    ids=["fixed-over-value", "percent-over-100"],
)
def test_a_deposit_larger_than_the_contract_is_a_config_error(
    tmp_path: Path, run: Run, good_milestones, deposit: str, says: str
) -> None:
    """Issue 10: a 90,000.00 deposit on a 48,000.00 contract used to be billed."""
    config = write_config(tmp_path, contracts=contract_with(deposit=deposit))

    result = sync(run, config)

    assert result.code == 2
    assert f"{config}: 1 problem" in result.err and says in result.err
    assert_nothing_billed(tmp_path)


def test_a_deposit_of_the_whole_value_is_accepted(tmp_path: Path, plan, good_milestones) -> None:
    result = plan(write_config(tmp_path, contracts=contract_with(deposit="1000.00")))
    assert result.code == 0, result.err


@pytest.mark.parametrize(
    "command", [["sandbox", "quickbooks"], ["sandbox", "tracker", "--kind", "github"]]
)
def test_a_sandbox_port_in_use_is_one_sentence(run: Run, command: list[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = run(*command, "--port", port)

    assert result.code == 2
    assert (
        f"error: port {port} on 127.0.0.1 is already in use (another sandbox, or another "
        "program, is listening there); stop it or choose another with --port\n"
    ) in result.err
    assert "unexpected" not in result.err


def test_a_milestone_id_with_an_escape_is_shown_by_code_point_on_the_terminal(
    tmp_path: Path, run
) -> None:
    """The "Not billed" table and status print the id; an ESC in it must not reach the
    terminal, where it could recolour or rewrite what a bookkeeper reads."""
    write_milestones(
        tmp_path,
        milestone(Raw('"M\\u001b[2J1"'), "ACME", amount="100.00"),  # type: ignore[arg-type]
        milestone("M2", "ACME", amount="900.00"),
    )
    result = run("plan", "--config", write_config(tmp_path), "--as-of", AS_OF)
    assert result.code == 1
    assert "\x1b" not in result.out + result.err
    assert "M<U+001B>[2J1" in result.out


def test_an_unknown_section_lists_the_sections_in_the_same_order_every_time(
    tmp_path: Path, plan, good_milestones
) -> None:
    """A message that reorders itself on every run looks like a different problem each time."""
    result = plan(write_config(tmp_path, extra='[bilings]\nitem = "x"'))

    assert result.code == 2
    line = " ".join(ln for ln in result.err.split("\n") if ln.strip())
    listed = line.split("expected one of: ", 1)[1].split(";")[0].split()[:8]
    names = [word.strip(",") for word in listed]
    assert "billing" in names and names == sorted(names)


def test_a_config_problem_reads_the_same_whatever_the_hash_seed(tmp_path: Path) -> None:
    """Sets of names are ordered by string hashes, which change with every process: a list
    built from one read differently on each run. Two processes, two seeds, one message."""
    import os
    import subprocess
    import sys

    config = write_config(tmp_path, extra='[bilings]\nitem = "x"')
    text = config.read_text().replace("[billing]\n", '[billing]\ncolour = "red"\n', 1)
    config.write_text(text)
    said = []
    for seed in ("1", "2", "3"):
        done = subprocess.run(
            [sys.executable, "-m", "connector", "plan", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert done.returncode == 2 and "expected one of" in done.stderr
        said.append(done.stderr)
    assert said[0] == said[1] == said[2]
