"""The dashboard's safety, over HTTP against the real server: it listens on 127.0.0.1 unless an
access token is in the keyring, answers only to loopback names there, sends its security
headers on every answer, takes no input, and turns a locked or mid-migration state database
into a notice (in the browser too), never a traceback. And its commands: `connector serve`,
`connector run --serve` and `connector demo --serve`."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import requests

from connector import config as config_mod
from connector.errors import UserError
from connector.sync import run_once
from connector.web import access
from connector.web.readers import Folder
from connector.web.server import Address, Dashboard
from tests.test_cli import connector
from tests.test_daemon import write_business

DAY = date(2026, 11, 26)
EXE = Path(sys.executable).with_name("connector")


@pytest.fixture
def books(tmp_path) -> Path:
    """Two businesses synced into local ledgers."""
    for name in ("alpha", "beta"):
        run_once(config_mod.load(write_business(tmp_path, name)), as_of=DAY)
    return tmp_path


@pytest.fixture
def site(books) -> Iterator[str]:
    with Dashboard(Folder(None, books, DAY), Address("127.0.0.1", 0)) as dashboard:
        yield dashboard.address.url.rstrip("/")


def test_every_answer_carries_the_security_headers(site):
    for path, code in (("/", 200), ("/b/alpha", 200), ("/b/alpha/invoices.csv", 200),
                       ("/b/nobody", 404), ("/static/dashboard.css", 200)):  # fmt: skip
        answer = requests.get(site + path, timeout=10)
        assert answer.status_code == code, path
        h = answer.headers
        csp = h["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "script-src" not in csp and "unsafe-inline" not in csp  # no script at all
        assert h["X-Frame-Options"] == "DENY"
        assert h["X-Content-Type-Options"] == "nosniff"
        assert h["Referrer-Policy"] == "no-referrer"
        assert "Server" not in h
        if not path.startswith("/static/"):
            assert h["Cache-Control"] == "no-store", path
    csv_answer = requests.get(site + "/b/alpha/invoices.csv", timeout=10)
    assert csv_answer.headers["Content-Type"].startswith("text/csv")
    assert csv_answer.text.startswith("Invoice,Contract,Customer")
    assert "<script" not in requests.get(site + "/", timeout=10).text


def test_it_takes_no_input_and_answers_only_to_this_machine(site):
    assert requests.post(site + "/", data={"a": "b"}, timeout=10).status_code == 405
    rebound = requests.get(site + "/", headers={"Host": "attacker.example:8080"}, timeout=10)
    assert rebound.status_code == 421  # a name pointed at 127.0.0.1 by somebody else's page
    assert "alpha" not in rebound.text
    port = site.rsplit(":", 1)[1]
    ok = requests.get(site + "/", headers={"Host": f"localhost:{port}"}, timeout=10)
    assert ok.status_code == 200  # as through `ssh -L 8080:127.0.0.1:8080`


def test_another_address_needs_the_access_token_from_the_keyring(books, memory_keyring):
    with pytest.raises(UserError, match="needs an access token: run `connector serve --new-token`"):
        Dashboard(Folder(None, books, DAY), Address("0.0.0.0", 0))
    token = access.new_token()
    assert memory_keyring.entries[("milestone-connector", "dashboard/access-token")] == token
    dashboard = Dashboard(Folder(None, books, DAY), Address("0.0.0.0", 0))
    assert "asks every visitor for the access token" in dashboard.greeting()
    assert token not in dashboard.greeting()
    with dashboard:
        url = f"http://127.0.0.1:{dashboard.address.port}/"
        refused = requests.get(url, timeout=10)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Basic ")
        assert "alpha" not in refused.text
        assert requests.get(url, auth=("me", token[:-1] + "x"), timeout=10).status_code == 401
        assert requests.get(url, auth=("anyone", token), timeout=10).status_code == 200
        bearer = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert bearer.status_code == 200 and "alpha" in bearer.text
        assert token not in bearer.text


def test_a_locked_state_database_is_a_notice_not_a_traceback(books, site):
    """In the browser, kept as a screenshot; SQLite keeps a reader waiting 5 s first."""
    from playwright.sync_api import sync_playwright

    from tests.web_support import CHROMIUM, artifacts

    holder = sqlite3.connect(books / "alpha.db", timeout=0, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # as a sync writing its results holds it
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1000, "height": 500})
            errors: list[str] = []
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            answer = page.goto(site + "/b/alpha")
            page.screenshot(path=str(artifacts("dashboard") / "notice-locked.png"))
            html, text = page.content(), page.locator("main").inner_text()
            browser.close()
        overview = requests.get(site + "/", timeout=30)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert answer is not None and answer.status == 503
    assert answer.headers["cache-control"] == "no-store"
    assert "Cannot show alpha right now" in text
    assert "the state database is busy" in text and "reload the page in a minute" in text
    assert "Traceback" not in html and "sqlalchemy" not in html.lower()
    # the one console line is Chromium's note of the 503 itself: no script, no style refused
    assert all("status of 503" in e for e in errors)
    assert overview.status_code == 200  # the other business is still shown
    assert "cannot load" in overview.text and "beta" in overview.text
    assert requests.get(site + "/b/alpha", timeout=30).status_code == 200  # once it is free


def test_a_state_database_waiting_for_its_migration_is_a_notice(books, site):
    with sqlite3.connect(books / "beta.db") as db:
        db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    page = requests.get(site + "/b/beta", timeout=30)
    assert page.status_code == 503
    assert "schema version 3; run `connector sync` once to upgrade it" in page.text
    assert "Traceback" not in page.text
    plan = requests.get(site + "/b/beta/plan", timeout=30)
    assert plan.status_code == 503 and "connector sync" in plan.text
    with sqlite3.connect(books / "beta.db") as db:  # nothing migrated it behind our back
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            "3",
        )


def test_a_config_holding_a_secret_is_a_notice_that_does_not_repeat_it(books, site):
    config = books / "alpha.toml"
    config.write_text(
        config.read_text().replace(
            '[ledger]\nkind = "local"', '[ledger]\nkind = "local"\nclient_secret = "S3CRET-42"'
        )
    )
    page = requests.get(site + "/b/alpha", timeout=30)
    overview = requests.get(site + "/", timeout=30)
    assert page.status_code == 503 and "credentials live in the OS keyring" in page.text
    for text in (page.text, overview.text, requests.get(site + "/attention.csv", timeout=30).text):
        assert "S3CRET-42" not in text


def test_a_config_file_whose_name_has_a_space_has_a_working_address(books, site):
    (books / "north west.toml").write_text((books / "alpha.toml").read_text())
    overview = requests.get(site + "/", timeout=30).text
    assert 'href="/b/north%20west"' in overview
    page = requests.get(site + "/b/north%20west", timeout=30)
    assert page.status_code == 200 and 'href="/b/north%20west/plan"' in page.text
    assert requests.get(site + "/b/north%20west/plan", timeout=30).status_code == 200


def test_a_business_never_synced_says_so_and_its_plan_says_what_it_lacks(books, site):
    write_business(books, "delta")  # its config and milestones, no state database yet
    overview = requests.get(site + "/", timeout=30)
    assert overview.status_code == 200 and "delta" in overview.text
    plan = requests.get(site + "/b/delta/plan", timeout=30)
    assert plan.status_code == 200
    assert "no sync has run yet" in plan.text  # only the deposits, which need no milestone
    assert not (books / "delta.db").exists()  # nothing created


# -- the commands ---------------------------------------------------------------------------


def test_serve_refuses_another_address_without_a_token(books, monkeypatch, capsys):
    code, _, err = connector(
        monkeypatch, capsys, "serve", "--config-dir", str(books), "--host", "0.0.0.0"
    )
    assert code == 2
    assert "needs an access token" in err and "SSH tunnel" in err


def test_serve_new_token_prints_it_once_and_keeps_it_in_the_keyring(monkeypatch, capsys):
    code, out, _ = connector(monkeypatch, capsys, "serve", "--new-token")
    assert code == 0
    token = access.stored_token()
    assert token and token in out and len(token) >= 40


def _read_until(stream, pattern: str, seconds: float = 30) -> re.Match[str]:
    """Lines of a child's output until one matches (the address it serves on)."""
    deadline = time.monotonic() + seconds
    seen = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError("".join(seen))


def _stop(proc: subprocess.Popen[str], how: int) -> int:
    proc.send_signal(how)
    try:
        return proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_connector_serve_serves_the_folder_until_sigterm(books):
    proc = subprocess.Popen(
        [str(EXE), "serve", "--config-dir", str(books), "--port", "0", "--as-of", "2026-11-26"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(),
    )  # fmt: skip
    try:
        url = _read_until(proc.stdout, r"dashboard on (http://127\.0\.0\.1:\d+/)").group(1)
        page = requests.get(url, timeout=10)
        assert page.status_code == 200 and "alpha" in page.text and "beta" in page.text
    finally:
        code = _stop(proc, signal.SIGTERM)
    assert code == 0


def test_connector_run_serves_the_dashboard_beside_the_daemon(books):
    proc = subprocess.Popen(
        [str(EXE), "run", "--config-dir", str(books), "--serve", "127.0.0.1:0",
         "--log-format", "human"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(),
    )  # fmt: skip
    try:
        url = _read_until(proc.stdout, r"dashboard on (http://127\.0\.0\.1:\d+/)").group(1)
        page = requests.get(url + "b/alpha", timeout=10)
        assert page.status_code == 200 and "ACME-WEB" in page.text
    finally:
        code = _stop(proc, signal.SIGTERM)
    assert code == 0


def test_demo_serve_ends_by_printing_the_dashboard_address():
    proc = subprocess.Popen(
        [str(EXE), "demo", "--serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )
    try:
        found = _read_until(proc.stdout, r"^(http://127\.0\.0\.1:\d+/)$", seconds=60)
        page = requests.get(found.group(1), timeout=10)
        assert page.status_code == 200 and "Northwind Studio" in page.text
        folder = re.search(r"demo files in (\S+)", requests.get(found.group(1), timeout=10).text)
        assert folder is None  # the page names no file of the machine
    finally:
        code = _stop(proc, signal.SIGINT)
    assert code == 0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"  # local ledgers need none
    env["COLUMNS"] = "200"
    return env
