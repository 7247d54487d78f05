"""Exit codes by what happens next, through the real `connector` command and the daemon against
the local tracker sandboxes: a tracker that is down (503 after the retries, a refused
connection) is tonight's problem and exits 1, the run recorded and the next one reading it again;
a refused or missing tracker token is a person's to fix and exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector import config as config_mod
from connector import errors
from connector.daemon import Business, sync_business
from connector.demo import EXAMPLE
from connector.sources.tokens import save_token
from connector.sync.state import State
from connector_sandbox.trackers_demo import TrackerDemo
from tests.cli_support import run_cli, sync
from tests.conftest import Hook
from tests.tracker_support import BUSINESS, business_config

TRACKERS = ["github", "jira", "asana"]
LABELS = {"github": "GitHub", "jira": "Jira", "asana": "Asana"}
NEXT_RUN = "could not read the tracker tonight; the next run tries again"


@pytest.fixture(params=TRACKERS)
def demo(request):
    with TrackerDemo(request.param) as stage:
        yield stage


def config_for(root: Path, section: str) -> Path:
    # back off for a tenth of a second at most, so five attempts take no time
    return business_config(root, section.replace("[tracker]\n", "[tracker]\nmax_wait = 0.1\n", 1))


def last_run(path: Path) -> dict:
    cfg = config_mod.load(path)
    state = State.open(cfg.state_url, cfg.business.name, path=cfg.state_path, read_only=True)
    return dict(state.last_run())


def test_a_tracker_answering_503_exits_1_records_the_run_and_the_next_run_reads_it(
    tmp_path, monkeypatch, capsys, demo
):
    path = config_for(tmp_path, demo.tracker_section(EXAMPLE / "milestones.toml"))
    demo.connect(BUSINESS)
    demo.sandbox.faults.fail(1000, status=503)
    code, printed = sync(path, monkeypatch, capsys)
    assert code == 1, printed
    assert f"error: {LABELS[demo.kind]}: HTTP 503" in printed and NEXT_RUN in printed
    assert "unexpected" not in printed
    run = last_run(path)
    assert run["finished_at"] and run["outcome"] == "failed" and "HTTP 503" in run["problems"]
    code, printed = run_cli(monkeypatch, capsys, "status", "--config", str(path))
    assert code == 1 and "the last sync failed" in printed and "HTTP 503" in printed

    demo.sandbox.faults.clear()
    code, printed = sync(path, monkeypatch, capsys)
    assert code == 0 and "4 invoice(s) created" in printed, printed
    assert last_run(path)["outcome"] == "ok"


def test_a_tracker_that_refuses_connections_exits_1(tmp_path, monkeypatch, capsys):
    section = '[tracker]\nkind = "jira"\nsite = "northwind"\napi_url = "http://127.0.0.1:9"\n'
    path = config_for(tmp_path, section)
    save_token(BUSINESS, "jira", "token", "ada@example.com")
    code, printed = sync(path, monkeypatch, capsys)
    assert code == 1 and "could not reach http://127.0.0.1:9" in printed and NEXT_RUN in printed


def test_plan_and_config_check_say_the_same_of_a_tracker_that_is_down(
    tmp_path, monkeypatch, capsys
):
    with TrackerDemo("jira") as demo:
        path = config_for(tmp_path, demo.tracker_section(EXAMPLE / "milestones.toml"))
        demo.connect(BUSINESS)
        demo.sandbox.faults.fail(1000, status=503)
        for command in (["plan"], ["config", "check"]):
            code, printed = run_cli(monkeypatch, capsys, *command, "--config", str(path))
            assert code == 1 and "Jira: HTTP 503" in printed and NEXT_RUN in printed, command


def test_a_refused_tracker_token_still_exits_2(tmp_path, monkeypatch, capsys, demo):
    path = config_for(tmp_path, demo.tracker_section(EXAMPLE / "milestones.toml"))
    user, _ = demo.credentials()
    save_token(BUSINESS, demo.kind, "not-the-token", user)
    code, printed = sync(path, monkeypatch, capsys)
    assert code == 2, printed
    assert "token was refused" in printed and f"connector auth {demo.kind}" in printed
    assert NEXT_RUN not in printed and "unexpected" not in printed


def test_a_missing_tracker_token_still_exits_2(tmp_path, monkeypatch, capsys):
    with TrackerDemo("github") as demo:
        path = config_for(tmp_path, demo.tracker_section(EXAMPLE / "milestones.toml"))
        code, printed = sync(path, monkeypatch, capsys)
    assert code == 2 and "no github token yet" in printed and NEXT_RUN not in printed


def test_the_daemon_reports_a_tracker_that_is_down_as_a_problem_not_a_failure(tmp_path, webhook):
    with TrackerDemo("jira") as demo:
        path = config_for(tmp_path, demo.tracker_section(EXAMPLE / "milestones.toml"))
        path.write_text(path.read_text() + f'\n[notify]\nwebhook_url = "{webhook}/hook"\n')
        demo.connect(BUSINESS)
        demo.sandbox.faults.fail(1000, status=503)
        outcomes: list[tuple[str, str]] = []
        business = Business(path, config_mod.load(path), 0.0)
        sync_business(business, on_done=lambda name, outcome: outcomes.append((name, outcome)))
    assert outcomes == [(BUSINESS, "problems")]
    ((_, payload),) = Hook.received
    assert payload["outcome"] == "problems" and payload["exit_code"] == 1
    (problem,) = payload["problems"]
    assert problem.startswith("Jira: HTTP 503") and problem.endswith(NEXT_RUN)


def test_the_daemon_still_reports_a_refused_tracker_token_as_could_not_run(tmp_path, webhook):
    with TrackerDemo("jira") as demo:
        path = config_for(tmp_path, demo.tracker_section(EXAMPLE / "milestones.toml"))
        path.write_text(path.read_text() + f'\n[notify]\nwebhook_url = "{webhook}/hook"\n')
        save_token(BUSINESS, "jira", "not-the-token", "ada@example.com")
        outcomes: list[tuple[str, str]] = []
        business = Business(path, config_mod.load(path), 0.0)
        sync_business(business, on_done=lambda name, outcome: outcomes.append((name, outcome)))
    assert outcomes == [(BUSINESS, "failed")]
    ((_, payload),) = Hook.received
    assert payload["exit_code"] == 2
    assert any(p.startswith("could not run: Jira") for p in payload["problems"])


# -- every class says its exit code; main() says it in one place --------------------------------

EXITS = [
    (errors.UserError("x"), 2),
    (errors.ConfigError("c.toml", ["bad"]), 2),
    (errors.LockHeld("x"), 2),
    (errors.CredentialsMissing("x"), 2),
    (errors.RetriableTrackerError("down", tracker="Jira", status=503), 1),
    (errors.PageTokenExpired("stale", tracker="Jira", status=400), 1),
    (errors.FatalTrackerError("refused", tracker="Jira", status=401), 2),
    (errors.SettingRefused("tracker.fields.amount", "no such field"), 2),
    (errors.RetriableLedgerError("QuickBooks server error: 503"), 1),
    (errors.FatalLedgerError("QuickBooks rejected the keys"), 2),
    (errors.AuthExpired("QuickBooks rejected the access token"), 2),
    (errors.SkippableLedgerError("rejected"), 1),
    (errors.MoneyError("not an amount"), 2),
]


@pytest.mark.parametrize(("error", "code"), EXITS, ids=lambda e: type(e).__name__)
def test_each_error_knows_its_exit_code(error, code):
    assert isinstance(error, errors.ConnectorError) and error.exit_code == code


def test_every_error_class_in_the_product_is_in_the_one_tree():
    import connector.credentials
    import connector.money
    import connector.sources.http

    assert connector.credentials.CredentialsMissing is errors.CredentialsMissing
    assert connector.money.MoneyError is errors.MoneyError
    assert connector.sources.http.TrackerError is errors.TrackerError
    assert errors.SourceError is errors.FatalTrackerError
    assert issubclass(errors.MoneyError, ValueError)  # pydantic validators rely on it


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.RetriableLedgerError("QuickBooks is throttling requests"), 1),
        (errors.FatalLedgerError("Xero refused the client id"), 2),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_ledger_error_that_reaches_the_command_is_said_not_unexpected(
    business, monkeypatch, capsys, error, code
):
    from connector.cli import books

    def fails(*args, **kwargs):
        raise error

    monkeypatch.setattr(books, "run_once", fails)
    got, printed = sync(business.config_path, monkeypatch, capsys)
    assert got == code and f"error: {error}" in printed and "unexpected" not in printed
    assert (error.next_step or "error:") in printed
