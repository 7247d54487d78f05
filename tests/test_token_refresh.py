"""A QuickBooks token refresh that goes wrong at any step never locks the business out where
Intuit's rules allow otherwise, and says so plainly where they do not.

Intuit keeps a refresh token's value for about a day, then hands out a new one and keeps the
previous one working for 24 hours more (the sources are named in
connector_sandbox/quickbooks_oauth.py, whose rules the sandbox follows). So every test here
starts a day after the connection was made, when the refresh rotates the token: the hard case.

The steps of a refresh, and what breaks at each: the request is never sent (killed before it);
it is applied by Intuit but its answer is lost (dropped; dropped and then killed); the answer
arrives but is not saved yet (killed); it is saved but the new access token is not used yet
(killed). Each time, a plain `connector sync` afterwards bills everything exactly once without
`connector auth`. The kills are real SIGKILLs of the real CLI in a subprocess.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import keyring
import pytest
from keyrings.alt.file import PlaintextKeyring

from connector.credentials import TokenStore
from tests import qbo_support
from tests.cli_support import AS_OF, sync
from tests.conftest import Business

TOKEN = "POST /oauth2/v1/tokens/bearer"

# The real CLI, killed with SIGKILL the `nth` time the QuickBooks session reaches `step`.
KILLED_CLI = """
import os, signal, sys
from connector.adapters.quickbooks.session import QuickBooksSession
step, nth = os.environ["KILL_AT"].rsplit("#", 1)
reached = []
def checkpoint(self, name):
    if name == step:
        reached.append(name)
        if len(reached) == int(nth):
            os.kill(os.getpid(), signal.SIGKILL)
QuickBooksSession.checkpoint = checkpoint
from connector import cli
sys.argv = ["connector", *sys.argv[1:]]
cli.main()
"""


@pytest.fixture
def file_keyring(tmp_path, monkeypatch):
    """A keyring file that this process and the killed CLI both use."""
    home = tmp_path / "keyring-home"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    previous = keyring.get_keyring()
    keyring.set_keyring(PlaintextKeyring())
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def a_day_later(tmp_path, qbo, file_keyring):
    """The business connected yesterday: its access token is long expired and the next refresh
    gets a new refresh token. Returns the config path."""
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    qbo_support.connect(qbo)  # again, now into the file keyring
    qbo.clock.advance(timedelta(hours=25))
    return business.config_path


def killed_sync(config: Path, kill_at: str) -> None:
    """`connector sync` in a subprocess, killed at `kill_at`; fails unless it died there."""
    done = subprocess.run(
        [sys.executable, "-c", KILLED_CLI, "sync", "--config", str(config), "--as-of", AS_OF],
        env={**os.environ, "KILL_AT": kill_at},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr


def billed_once(qbo, config: Path) -> bool:
    """Every invoice the state holds is in the ledger exactly once, and nothing else is."""
    numbers = Counter(i["DocNumber"] for i in qbo.invoices())
    rows = Business(config.parent, None).state().invoice_rows()  # type: ignore[arg-type]
    pushed = {r.reference for r in rows if r.ledger_id}
    return bool(pushed) and set(numbers) == pushed and max(numbers.values()) == 1


def refresh_token() -> str:
    return TokenStore("Northwind Studio", "quickbooks").load().refresh_token


@pytest.mark.parametrize(
    "age", [timedelta(hours=2), timedelta(hours=25)], ids=["same-day", "day-old"]
)
def test_a_lost_token_answer_is_asked_again_and_the_run_goes_on(
    tmp_path, qbo, file_keyring, monkeypatch, capsys, age
):
    business = qbo_support.qbo_business(tmp_path / "b", qbo)
    qbo_support.connect(qbo)
    before = refresh_token()
    qbo.clock.advance(age)  # the access token has expired
    qbo.faults.drop_after_commit(1, match=TOKEN)  # Intuit applies the refresh; its answer is lost
    code, printed = sync(business.config_path, monkeypatch, capsys)
    assert code == 0, printed
    assert billed_once(qbo, business.config_path)
    assert (refresh_token() != before) == (age > timedelta(hours=24))
    assert sync(business.config_path, monkeypatch, capsys)[0] == 0  # and every later night


def test_every_answer_lost_leaves_the_next_run_connected(a_day_later, qbo, monkeypatch, capsys):
    qbo.faults.drop_after_commit(50, match=TOKEN)  # the whole run long
    code, printed = sync(a_day_later, monkeypatch, capsys)
    assert code == 1 and "did not answer" in printed  # problems, not "reconnect"
    assert "connector auth" not in printed
    qbo.faults.clear()
    code, printed = sync(a_day_later, monkeypatch, capsys)  # within Intuit's 24 hours
    assert code == 0, printed
    assert billed_once(qbo, a_day_later)


@pytest.mark.parametrize(
    "kill_at",
    [
        "before:token-refresh#1",  # nothing sent yet
        "before:token-refresh#2",  # the first attempt was applied, its answer lost; then killed
        "after:token-refresh#1",  # the answer is in memory, not in the keyring
        "after:token-save#1",  # saved; the new access token not used yet
    ],
)
def test_a_kill_at_any_step_of_the_refresh_needs_no_new_sign_in(
    a_day_later, qbo, monkeypatch, capsys, kill_at
):
    if kill_at == "before:token-refresh#2":
        qbo.faults.drop_after_commit(1, match=TOKEN)
    killed_sync(a_day_later, kill_at)
    qbo.faults.clear()
    code, printed = sync(a_day_later, monkeypatch, capsys)
    assert code == 0, printed
    assert billed_once(qbo, a_day_later)
    assert sync(a_day_later, monkeypatch, capsys)[0] == 0


def test_after_intuits_24_hours_the_message_says_why_and_what_to_do(
    a_day_later, qbo, monkeypatch, capsys
):
    """Killed before the new refresh token was saved, and no run for more than a day: Intuit
    has retired the token the keyring holds, and nothing but a new sign-in helps."""
    killed_sync(a_day_later, "after:token-refresh#1")
    qbo.clock.advance(timedelta(hours=25))
    code, printed = sync(a_day_later, monkeypatch, capsys)
    flat = printed
    assert code == 2
    assert "invalid_grant" in flat and "24 hours" in flat
    assert f"connector auth quickbooks --config {a_day_later.resolve()}" in flat  # its own path
    assert "error: unexpected" not in flat


def test_where_the_old_token_dies_at_once_a_lost_answer_is_named(
    a_day_later, qbo, monkeypatch, capsys
):
    """Intuit's help article words it more strictly than its OAuth guide (the previous token
    expires when a new one is returned): then a lost answer cannot be recovered, and the
    message says that this is what happened."""
    qbo.oauth.previous_valid_for = timedelta(0)
    try:
        qbo.faults.drop_after_commit(1, match=TOKEN)
        code, printed = sync(a_day_later, monkeypatch, capsys)
    finally:
        qbo.oauth.previous_valid_for = timedelta(hours=24)
    flat = printed
    assert code == 2
    assert "answer to a token refresh did not arrive" in flat
    assert f"connector auth quickbooks --config {a_day_later.resolve()}" in flat  # its own path
