"""The dashboard in a real browser: headless Chromium (Debian's package) on books built by real
syncs (tests/web_support.py says which). Each page loads with no console error (a script or a
style the Content-Security-Policy refused would be one), its figures are those of
`connector status --json`, `connector aging --format json` and `connector plan --json` for the
same state, its filters and CSV downloads work, it reads on a phone, and a screenshot of each
page is kept in tests/artifacts/dashboard/ (or $CONNECTOR_TEST_ARTIFACTS) to be looked at.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from connector.web.readers import Folder
from connector.web.server import Address, Dashboard
from tests.web_support import (
    AS_OF,
    CHROMIUM,
    DAY,
    FORMULA_CUSTOMER,
    World,
    artifacts,
    build_world,
    connector_json,
    tables_of,
    values,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory, qbo_server) -> World:
    return build_world(tmp_path_factory.mktemp("web") / "books", qbo_server)


@pytest.fixture(autouse=True)
def synced_keyring(world, memory_keyring) -> None:
    """The keyring the books were synced with: the connection the status reports on."""
    memory_keyring.entries.update(world.keys)


@pytest.fixture(scope="module")
def site(world) -> Iterator[str]:
    with Dashboard(Folder(None, world.folder, DAY), Address("127.0.0.1", 0)) as dashboard:
        yield dashboard.address.url.rstrip("/")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "install Debian's chromium (.ci/run does)"
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


class Visit:
    """One page in a fresh browser context: what it logged as errors, and its DOM."""

    def __init__(self, browser, url: str, *, width: int = 1280, height: int = 900):
        self.context = browser.new_context(
            viewport={"width": width, "height": height}, accept_downloads=True
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.response = self.page.goto(url)
        self.page.wait_for_load_state("load")

    @property
    def html(self) -> str:
        return self.page.content()

    @property
    def tables(self):
        return tables_of(self.html)

    def shot(self, name: str, *, full_page: bool = True) -> Path:
        path = artifacts("dashboard") / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        assert path.stat().st_size > 10_000  # a drawn page, not a blank one
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser) -> Iterator:
    opened: list[Visit] = []

    def open_page(url: str, **kw: int) -> Visit:
        v = Visit(browser, url, **kw)
        opened.append(v)
        assert v.response is not None and v.response.status == 200, url
        return v

    yield open_page
    for v in opened:
        v.close()


def per_currency(contracts: list[dict], field: str) -> str:
    sums: dict[str, Decimal] = {}
    for c in contracts:
        sums[c["currency"]] = sums.get(c["currency"], Decimal(0)) + Decimal(c[field])
    return "; ".join(f"{a:f} {c}" for c, a in sorted(sums.items()) if a) or "0"


def test_the_overview_shows_every_business_as_status_does(world, site, visit, monkeypatch, capsys):
    status = connector_json(
        monkeypatch, capsys, "status", "--config-dir", str(world.folder), "--as-of", AS_OF, "--json"
    )
    v = visit(site + "/")
    v.shot("overview")
    assert v.errors == []
    rows = {r["business"][0]: r for r in v.tables["businesses"]["tbody"]}
    by_name = {e["business"]: e for e in status if e.get("business")}
    assert set(rows) == {"alpha", "beta", "Northwind Studio", "gamma"}
    for name, books in by_name.items():
        row = rows[name]
        invoices = books["invoices"]
        assert row["open"][0] == str(
            sum(1 for i in invoices if i["status"] in ("open", "partially_paid"))
        )
        assert row["overdue"][0] == str(sum(1 for i in invoices if i["days_overdue"]))
        assert row["attention"][0] == str(len(books["attention"]))
        assert row["outstanding"][1] == per_currency(books["contracts"], "outstanding")
        assert row["overdue_amount"][1] == per_currency(books["contracts"], "overdue")
        assert row["outcome"][0] == books["last_run"]["outcome"]
        assert row["last_sync"][1] == books["last_run"]["finished_at"]
    assert rows["gamma"]["outcome"][0] == "cannot load"
    # by hand: alpha billed 50,160.00 USD (no retainage release while ALPHA-X is invalid),
    # of which 4,800.00 + 3,000.00 are paid; and 4,000.00 EUR
    assert rows["alpha"]["outstanding"][1] == "4000.00 EUR; 42360.00 USD"
    attention = v.tables["attention"]["tbody"]
    assert any(r["business"][0] == "alpha" and "ALPHA-X" in r["item"][0] for r in attention)
    assert any(r["business"][0] == "gamma" and "colour" in r["item"][0] for r in attention)
    forecast = connector_json(
        monkeypatch, capsys, "forecast", "--config-dir", str(world.folder), "--as-of", AS_OF,
        "--format", "json",
    )  # fmt: skip
    for f in forecast["businesses"]:
        if f.get("business"):
            four = [
                (c["currency"], sum(Decimal(w["expected"]["amount"]) for w in c["weeks"][:4]))
                for c in f["currencies"]
            ]
            shown = "; ".join(f"{a:f} {c}" for c, a in sorted(four) if a) or "0"
            assert rows[f["business"]]["expected"][1] == shown, f["business"]
    assert rows["alpha"]["expected"][1] != "0"  # something is expected of alpha's open invoices


@pytest.mark.parametrize("key", ["alpha", "northwind"])
def test_a_business_page_has_the_figures_of_status_and_aging(
    world, site, visit, monkeypatch, capsys, key
):
    config = str(world.folder / f"{key}.toml")
    status = connector_json(
        monkeypatch, capsys, "status", "--config", config, "--as-of", AS_OF, "--json"
    )
    aging = connector_json(
        monkeypatch, capsys, "aging", "--config", config, "--as-of", AS_OF, "--format", "json"
    )
    v = visit(f"{site}/b/{key}")
    v.shot(f"business-{key}")
    assert v.errors == []
    tables = v.tables
    contracts = tables["contracts"]["tbody"]
    assert [r["contract"][0] for r in contracts] == [c["contract"] for c in status["contracts"]]
    for row, c in zip(contracts, status["contracts"], strict=True):
        for field in ("value", "billed", "paid", "outstanding", "overdue", "retainage_held"):
            assert row[field][1] == (c[field] or ""), (c["contract"], field)
        assert row["customer"][0] == c["customer"]
    invoices = tables["invoices"]["tbody"]
    assert values(invoices, "number") == [i["number"] for i in status["invoices"]]
    for field in ("total", "paid", "balance", "status", "due_date"):
        assert values(invoices, field) == [i[field] for i in status["invoices"]], field
    assert values(invoices, "days_overdue") == [
        str(i["days_overdue"] or "") for i in status["invoices"]
    ]
    assert values(invoices, "for") == [
        ", ".join(i["milestones"]) or i["kind"] for i in status["invoices"]
    ]
    assert values(invoices, "payment_link") == [i["payment_link"] or "" for i in status["invoices"]]
    bars = tables_bars(v)
    acme = next(c for c in status["contracts"] if c["contract"] == "ACME-WEB")
    assert bars["ACME-WEB"] == [
        (label, Decimal(acme[label]), Decimal(acme["value"]))
        for label in ("billed", "paid", "outstanding")
    ]
    shown = tables["aging"]["tbody"]
    assert [(r["customer"][0], r["currency"][0]) for r in shown] == [
        (c["customer"], c["currency"]) for c in aging["customers"]
    ]
    for row, c in zip(shown, aging["customers"], strict=True):
        for field in ("current", "days_1_30", "days_31_60", "days_61_90", "days_over_90", "total"):
            assert row[field][1] == c[field], (c["customer"], field)
    assert [r["total"][1] for r in tables["aging"]["tfoot"]] == [
        t["total"] for t in aging["totals"]
    ]
    attention = tables.get("attention", {}).get("tbody", [])
    assert [(r["item"][0], r["held_up"][1] or None) for r in attention] == [
        (a["message"], a["amount"]) for a in status["attention_items"]
    ]
    forecast = connector_json(
        monkeypatch, capsys, "forecast", "--config", config, "--as-of", AS_OF, "--format", "json"
    )
    weeks = tables["forecast"]["tbody"]
    assert [(r["currency"][0], r["start"][0], r["expected"][1]) for r in weeks] == [
        (c["currency"], w["start"], w["expected"]["amount"])
        for c in forecast["currencies"]
        for w in c["weeks"]
    ]
    assert [r["late"][1] for r in weeks] == [
        w["late"]["amount"] for c in forecast["currencies"] for w in c["weeks"]
    ]
    chart = v.page.locator("figure.chart img")
    assert chart.evaluate("img => img.complete && img.naturalWidth > 0")  # the SVG was drawn
    if key == "northwind":
        links = [r["payment_link:href"][0] for r in invoices if "payment_link:href" in r]
        assert len(links) == 1 and links[0].startswith("https://")  # QuickBooks' online link
    if key == "alpha":
        held = [a for a in status["attention_items"] if a["amount"]]
        assert ["ACME-M2"] in [a["milestones"] for a in held]  # flagged: its value held up
        unbilled = {r["milestone"][0]: r["reason"][0] for r in tables["unbilled"]["tbody"]}
        assert unbilled == {
            "BETA-2": "not_done",
            "ALPHA-X": "invalid_milestone",
            "ACME-M2": "changed_after_invoicing",
        }
        assert [i["status"] for i in status["invoices"]][:2] == ["paid", "partially_paid"]


def tables_bars(v: Visit) -> dict[str, list[tuple[str, Decimal, Decimal]]]:
    """Each contract's progress bars as drawn: (label, value, max)."""
    out: dict[str, list[tuple[str, Decimal, Decimal]]] = {}
    for row in v.page.locator("table[data-table=contracts] tbody tr").all():
        contract = row.locator("td[data-col=contract]").inner_text().strip()
        out[contract] = [
            (
                str(bar.get_attribute("class")),
                Decimal(str(bar.get_attribute("value"))),
                Decimal(str(bar.get_attribute("max"))),
            )
            for bar in row.locator("progress").all()
        ]
    return out


def test_the_plan_page_is_connector_plan_and_writes_nothing(
    world, site, visit, monkeypatch, capsys
):
    config = str(world.folder / "beta.toml")
    before = {p.name: digest(p) for p in world.folder.iterdir() if p.is_file()}
    plan = connector_json(
        monkeypatch, capsys, "plan", "--config", config, "--as-of", AS_OF, "--json"
    )
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}  # piped: 120 columns
    exe = Path(sys.executable).with_name("connector")
    done = subprocess.run(
        [str(exe), "plan", "--config", config, "--as-of", AS_OF],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    printed = done.stdout
    v = visit(f"{site}/b/beta/plan")
    v.shot("plan-beta")
    assert v.errors == []
    docs = v.tables["plan"]["tbody"]
    assert len(docs) == len(plan["invoices"]) == 4
    for row, doc in zip(docs, plan["invoices"], strict=True):
        for field in ("contract", "customer", "document", "kind", "date", "due_date", "currency"):
            assert row[field][0] == doc[field], field
        assert row["total"][1] == doc["total"]
        assert row["milestones"][0] == ", ".join(doc["milestones"])
    skipped = v.tables["skipped"]["tbody"]
    assert [(r["milestone"][0], r["reason"][0], r["message"][0]) for r in skipped] == [
        (s["milestone"], s["reason"], s["message"]) for s in plan["skipped"]
    ]
    # the text is `connector plan`'s, with its notes that the ledger was not asked
    text = v.page.locator("pre.plan-text").inner_text()
    notes = [line for line in text.splitlines() if line.startswith("note: ")]
    assert notes and all("the dashboard never asks the ledger" in n for n in notes)
    assert without_notes(text) == without_notes(printed)
    after = {p.name: digest(p) for p in world.folder.iterdir() if p.is_file()}
    assert after == before  # no state, ledger or lock file written


def without_notes(text: str) -> list[str]:
    """The plan's lines without its notes: they stand between its first line and the first
    blank one (a long note wraps onto lines of its own)."""
    lines = [line.rstrip() for line in text.rstrip().splitlines()]
    return [lines[0], *lines[lines.index("") :]]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_filters_narrow_the_invoices_and_the_csv_is_the_table(
    world, site, visit, monkeypatch, capsys
):
    status = connector_json(
        monkeypatch, capsys, "status", "--config-dir", str(world.folder), "--as-of", AS_OF, "--json"
    )
    v = visit(site + "/invoices")
    assert v.errors == []
    every = v.tables["invoices"]["tbody"]
    assert len(every) == sum(len(e.get("invoices", [])) for e in status)
    v.page.select_option("select[name=customer]", "Acme Corporation")
    v.page.select_option("select[name=status]", "overdue")
    with v.page.expect_navigation():
        v.page.click("form.filters button[type=submit]")
    assert "customer=Acme+Corporation" in v.page.url and "status=overdue" in v.page.url
    v.shot("invoices-filtered")
    assert v.errors == []
    rows = v.tables["invoices"]["tbody"]
    expected = [
        (e["business"], i["number"])
        for e in status
        if e.get("business")
        for i in e["invoices"]
        if i["days_overdue"] > 0 and i["contract"] == "ACME-WEB"
    ]
    assert [(r["business"][0], r["number"][0]) for r in rows] == expected
    assert len(expected) >= 3
    with v.page.expect_download() as download:
        v.page.click("#invoices a.csv")
    got = list(csv.reader(io.StringIO(Path(download.value.path()).read_text("utf-8"))))
    assert got[0][:3] == ["Business", "Invoice", "Contract"]
    assert [(r[0], r[1]) for r in got[1:]] == expected
    assert [r[11] for r in got[1:]] == values(rows, "balance")  # plain decimal text


def test_the_contracts_csv_neutralises_a_formula_and_keeps_numbers(site, visit):
    v = visit(site + "/b/alpha")
    with v.page.expect_download() as download:
        v.page.click("#contracts a.csv")
    assert download.value.suggested_filename == "alpha-contracts.csv"
    got = list(csv.reader(io.StringIO(Path(download.value.path()).read_text("utf-8"))))
    assert got[0] == [
        "Contract", "Customer", "Currency", "Value", "Billed", "Paid", "Outstanding",
        "Overdue", "Retainage held", "Credit",
    ]  # fmt: skip
    beta = next(r for r in got if r[0] == "BETA-APP")
    assert beta[1] == "'" + FORMULA_CUSTOMER  # shown as text by a spreadsheet, never run
    assert beta[3] == "12000.00"
    page_customers = {r["customer"][0] for r in v.tables["contracts"]["tbody"]}
    assert FORMULA_CUSTOMER in page_customers  # the page shows the name as it is


def test_the_business_filter_of_the_overview_and_a_customer_filter_of_a_business(site, visit):
    v = visit(site + "/?business=beta")
    assert [r["business"][0] for r in v.tables["businesses"]["tbody"]] == ["beta"]
    v = visit(site + "/?status=cannot_load")
    assert [r["business"][0] for r in v.tables["businesses"]["tbody"]] == ["gamma"]
    v = visit(site + "/b/alpha?customer=Acme+Corporation")
    assert [r["contract"][0] for r in v.tables["contracts"]["tbody"]] == ["ACME-WEB"]
    assert {r["customer"][0] for r in v.tables["aging"]["tbody"]} == {"Acme Corporation"}
    assert {r["contract"][0] for r in v.tables["invoices"]["tbody"]} == {"ACME-WEB"}
    assert v.errors == []


@pytest.mark.parametrize(("path", "name"), [("/", "overview"), ("/b/alpha", "business-alpha")])
def test_pages_read_on_a_phone(site, visit, path, name):
    v = visit(site + path, width=390, height=844)
    v.shot(f"phone-{name}", full_page=False)
    assert v.errors == []
    assert v.page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    first = v.page.locator("table[data-table] tbody tr").first
    assert first.bounding_box()["width"] <= 390


def test_no_page_and_no_csv_shows_a_secret(world, site):
    import requests

    secrets = world.secrets()
    assert len(secrets) >= 2  # the QuickBooks connection's refresh and access tokens at least
    paths = ["/", "/invoices", "/businesses.csv", "/attention.csv", "/invoices.csv", "/b/gamma"]
    key = "northwind"  # the business whose ledger connection is in the keyring
    paths += [f"/b/{key}", f"/b/{key}/plan", f"/b/{key}/plan.csv", f"/b/{key}/skipped.csv"]
    paths += [f"/b/{key}/{t}.csv" for t in ("invoices", "contracts", "aging", "attention")]
    paths += [f"/b/{key}/{t}" for t in ("unbilled.csv", "forecast.csv", "forecast.svg")]
    for path in paths:
        answer = requests.get(site + path, timeout=30)
        assert answer.status_code == (503 if path == "/b/gamma" else 200), path
        for secret in secrets:
            assert secret not in answer.text, path
