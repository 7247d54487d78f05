"""The `connector` command end to end on the bundled example, as a new user runs it."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from connector import cli
from connector import config as config_mod
from connector.sync.lock import business_lock
from tests.test_conventions import EXE
from tests.test_demo_and_auth import connect_to, free_port, served_section

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def example(tmp_path: Path) -> Path:
    shutil.copy(REPO / "config.example.toml", tmp_path / "config.example.toml")
    (tmp_path / "connector").mkdir()
    shutil.copytree(REPO / "connector" / "examples", tmp_path / "connector" / "examples")
    return tmp_path / "config.example.toml"


def connector(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["connector", *args])
    with pytest.raises(SystemExit) as stop:
        cli.main()
    captured = capsys.readouterr()
    return stop.value.code or 0, captured.out, captured.err


def test_readme_first_command_works_on_a_fresh_checkout(example):
    """`connector plan --config config.example.toml`, through the installed console script."""
    exe = Path(sys.executable).with_name("connector")
    done = subprocess.run(
        [str(exe), "plan", "--config", str(example)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Northwind Studio" in done.stdout and "Deposit applied" in done.stdout
    assert sorted(p.name for p in example.parent.iterdir()) == ["config.example.toml", "connector"]


def test_plan_json_is_the_documented_shape(example, monkeypatch, capsys):
    code, out, _ = connector(
        monkeypatch, capsys, "plan", "--config", str(example), "--as-of", "2026-11-26", "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"business", "as_of", "invoices", "skipped"}
    assert data["as_of"] == "2026-11-26"
    m1 = next(i for i in data["invoices"] if i["milestones"] == ["ACME-M1"])
    assert m1 == {
        "contract": "ACME-WEB",
        "customer": "Acme Corporation",
        "currency": "USD",
        "kind": "milestone",
        "milestones": ["ACME-M1"],
        "date": "2026-09-22",
        "due_date": "2026-10-07",
        "lines": [
            {"description": "Discovery and wireframes (20% of 48000.00 USD)", "amount": "9600.00"},
            {"description": "Deposit applied", "amount": "-960.00"},
            {"description": "Retainage withheld (5%)", "amount": "-480.00"},
        ],
        "total": "8160.00",
        "document": "invoice",
        # how the ledger books it: the config names no tax code and sends nothing
        "books": {"tax": "ledger_settings", "tax_code": None, "amounts": None, "emailed": False},
    }
    assert [i["kind"] for i in data["invoices"]] == [
        "deposit",
        "milestone",
        "milestone",
        "milestone",
    ]
    assert {(s["milestone"], s["reason"]) for s in data["skipped"]} == {
        ("ACME-M3", "awaiting_approval"),
        ("BETA-2", "not_done"),
        ("BETA-3", "cancelled"),
    }
    assert set(data["skipped"][0]) == {"milestone", "contract", "reason", "message"}


def test_sync_twice_then_status(example, monkeypatch, capsys):
    code, out, _ = connector(
        monkeypatch, capsys, "sync", "--config", str(example), "--as-of", "2026-11-26"
    )
    assert code == 0
    assert out.count("created invoice INV-") == 4
    code, out, _ = connector(
        monkeypatch, capsys, "sync", "--config", str(example), "--as-of", "2026-11-26"
    )
    assert code == 0 and "created" not in out.replace("invoice(s) created", "")
    code, out, _ = connector(
        monkeypatch, capsys, "status", "--config", str(example), "--as-of", "2026-11-26", "--json"
    )
    data = json.loads(out)
    acme = next(c for c in data["contracts"] if c["contract"] == "ACME-WEB")
    assert (acme["billed"], acme["paid"], acme["retainage_held"]) == ("26730.00", "0.00", "1290.00")
    assert {i["status"] for i in data["invoices"]} == {"open"}
    assert set(data["invoices"][0]) == {
        "number",
        "contract",
        "kind",
        "milestones",
        "currency",
        "total",
        "date",
        "due_date",
        "paid",
        "balance",
        "status",
        "days_overdue",
        "error",
        # what the ledger computed and delivered (issue 13), added beside the fields above
        "net",
        "tax",
        "gross",
        "emailed",
        "sent_at",
        "payment_link",
    }
    assert {i["emailed"] for i in data["invoices"]} == {"never"}  # [billing] send is unset
    assert data["last_run"]["outcome"] == "ok"
    code, out, _ = connector(
        monkeypatch, capsys, "status", "--config", str(example), "--as-of", "2026-11-26"
    )
    assert "26,730.00" in out and "INV-1002" in out


def test_a_second_sync_of_the_same_business_is_refused(example, monkeypatch, capsys):
    from connector import config as config_mod

    with business_lock(config_mod.load(example)):
        code, _, err = connector(monkeypatch, capsys, "sync", "--config", str(example))
    assert code == 2
    assert "'Northwind Studio' is being synced by connector" in err
    assert f"pid {os.getpid()} on {socket.gethostname()}" in err
    assert "Traceback" not in err


def test_problems_make_sync_exit_1_and_are_listed(example, monkeypatch, capsys):
    milestones = example.parent / "connector" / "examples" / "milestones.toml"
    milestones.write_text(
        milestones.read_text() + '\n[[milestones]]\nid = "X"\n'
        'contract = "ACME-WEB"\namount = "-5"\n'
    )
    code, out, err = connector(
        monkeypatch, capsys, "sync", "--config", str(example), "--as-of", "2026-11-26"
    )
    assert code == 1
    assert "problems" in out
    assert "milestone X" in err and "zero or more" in err
    assert out.count("created invoice INV-") == 4  # the others are billed all the same


def test_a_night_of_many_milestone_problems_lists_fifty_and_counts_the_rest(
    example, monkeypatch, capsys
):
    """120 invalid milestones: the first 50 are listed, one line counts the other 70 and names
    the command that lists each with its config, and the rest of the report is as always."""
    milestones = example.parent / "connector" / "examples" / "milestones.toml"
    bad = "".join(
        f'\n[[milestones]]\nid = "X{n}"\ncontract = "ACME-WEB"\namount = "-5"\n' for n in range(120)
    )
    milestones.write_text(milestones.read_text() + bad)
    code, out, err = connector(
        monkeypatch, capsys, "sync", "--config", str(example), "--as-of", "2026-11-26"
    )
    assert code == 1
    lines = [line for line in err.splitlines() if "needs attention:" in line]
    assert len(lines) == 51
    assert "milestone X0:" in lines[0] and "milestone X49:" in lines[49]
    assert "milestone X50:" not in err
    assert " ".join(err.split()).endswith(
        "needs attention: 70 more problem(s) of milestones not billed; "
        f"`connector plan --config {example}` lists each milestone with its reason"
    )
    assert out.count("created invoice INV-") == 4


def test_a_bad_as_of_date_is_one_clear_message(example, monkeypatch, capsys):
    code, _, err = connector(
        monkeypatch, capsys, "plan", "--config", str(example), "--as-of", "26/11/2026"
    )
    assert code == 2
    assert err.strip() == "error: --as-of: expected a date like 2026-11-26, got '26/11/2026'"


def test_every_installed_plugin_brings_its_own_commands(tmp_path, monkeypatch):
    """The CLI names no vendor: each plugin found through its entry point adds its commands,
    the built-ins first (by their rank), then the others."""
    import typer
    from typer.testing import CliRunner

    from connector import plugins
    from tests.test_plugin_labels import write_plugin

    monkeypatch.syspath_prepend(str(write_plugin(tmp_path / "site")))
    auth, sandbox = typer.Typer(), typer.Typer()
    app = typer.Typer()
    app.add_typer(auth, name="auth")
    app.add_typer(sandbox, name="sandbox")
    cli.add_plugin_commands(plugins.CommandGroups(auth=auth, sandbox=sandbox, out=cli.out))
    listed = [command.name for command in auth.registered_commands]
    assert listed == ["quickbooks", "xero", "abacus", "github", "jira", "asana"]
    assert sandbox.registered_commands == []
    answer = CliRunner().invoke(app, ["auth", "abacus"])
    assert answer.exit_code == 0 and "connected to abacus" in answer.output
    sys.modules.pop("abacus_plugin", None)


def test_plan_says_who_puts_the_tax_on_and_what_is_emailed(example, monkeypatch, capsys):
    """A business that names a tax code and sends on create sees both under each document;
    the README's first plan (no such keys) shows no such line."""
    item = 'item = "Services"                # ledger item'
    text = example.read_text().replace(item, f'tax_code = "HST ON"\nsend = "on-create"\n{item}', 1)
    example.write_text(
        text.replace('value = "12000.00"\n', 'value = "12000.00"\namounts = "inclusive"\n', 1)
    )
    code, out, _ = connector(
        monkeypatch, capsys, "plan", "--config", str(example), "--as-of", "2026-11-26"
    )
    assert code == 0
    flat = " ".join(out.split())
    assert (
        "the ledger computes the tax with tax code HST ON; emailed to the client once the "
        "ledger has it" in flat
    )
    assert "with tax code HST ON (the amounts include it)" in flat  # BETA-APP
    code, out, _ = connector(
        monkeypatch, capsys, "plan", "--config", str(example), "--as-of", "2026-11-26", "--json"
    )
    beta = next(i for i in json.loads(out)["invoices"] if i["contract"] == "BETA-APP")
    assert beta["books"] == {
        "tax": "ledger",
        "tax_code": "HST ON",
        "amounts": "inclusive",
        "emailed": True,
    }


# --- README -----------------------------------------------------------------------------------


def test_every_link_of_the_readme_to_a_file_leads_somewhere():
    text = (REPO / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#]+)\)", text)
    local = [t for t in targets if not re.match(r"[a-z]+:", t)]
    assert local, "no links found"
    missing = [t for t in local if not (REPO / t).exists()]
    assert not missing


def readme_walk() -> list[str]:
    """The README's commands on the example and on `northwind.toml`, in the README's order:
    every line of its ```sh blocks that runs `connector` or `cp` on one of them (and the
    sandbox they are tried on), comments cut."""
    text = (REPO / "README.md").read_text()
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        for raw in block.splitlines():
            line = raw.split("#")[0].strip()
            if line.startswith(("connector ", "cp ")) and (
                "config.example.toml" in line
                or "northwind.toml" in line
                or line == "connector sandbox quickbooks"
            ):
                commands.append(line)
    return commands


def test_the_readme_walk_through_runs_in_its_order(tmp_path, monkeypatch, capsys, memory_keyring):
    """From a fresh copy of the files a clone has, each command as the README gives it: the
    practice ledger, the example copied to northwind.toml, then the QuickBooks sandbox."""
    from connector_sandbox.demo_stage import follow_consent

    shutil.copy(REPO / "config.example.toml", tmp_path / "config.example.toml")
    shutil.copytree(REPO / "connector" / "examples", tmp_path / "connector" / "examples")
    monkeypatch.chdir(tmp_path)
    walk = readme_walk()
    assert walk[:5] == [
        "connector plan --config config.example.toml --as-of 2026-11-26",
        "connector sync --config config.example.toml",
        "connector sync --config config.example.toml",
        "connector status --config config.example.toml",
        "cp config.example.toml northwind.toml",
    ], walk
    sandbox: subprocess.Popen[str] | None = None
    try:
        for line in walk:
            words = line.split()
            if words[0] == "cp":
                shutil.copy(words[1], words[2])
            elif words[1:3] == ["sandbox", "quickbooks"]:
                sandbox = start_sandbox_as_the_readme_says(tmp_path / "northwind.toml")
            elif words[1:3] == ["auth", "quickbooks"]:
                connect_to("quickbooks", config_mod.load(Path(words[-1])), follow_consent)
            else:
                code, out, err = connector(monkeypatch, capsys, *words[1:])
                assert code == 0, f"{line}\n{out}{err}"
                if words[1] == "plan":
                    assert (
                        "ACME-WEB milestone ACME-M1 for Acme Corporation: dated 2026-09-22" in out
                    )
                    assert "Discovery and wireframes (20% of 48000.00 USD)" in out
    finally:
        if sandbox is not None:
            sandbox.terminate()
            sandbox.wait(timeout=30)
    assert sandbox is not None, "the README's QuickBooks sandbox walk-through is gone"
    assert "BETA-1" in out and "EUR" in out  # the last sync: the example's EUR contract too


def start_sandbox_as_the_readme_says(config: Path) -> subprocess.Popen[str]:
    """`connector sandbox quickbooks`, its [ledger] section pasted over the config's and
    `[state]` given the file the README names."""
    readme = (REPO / "README.md").read_text()
    (state,) = re.findall(r"give \[state\] its own file: (path = \"[^\"]+\")", readme)
    proc = subprocess.Popen(
        [str(EXE), "sandbox", "quickbooks", "--port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    text = config.read_text()
    start, end = text.index("[ledger]\n"), text.index("\n[billing]")
    text = text[:start] + served_section(proc) + text[end:]
    config.write_text(text.replace('path = "northwind.db"', state))
    return proc


def test_commands_that_sign_in_nowhere_start_without_the_vendor_sdks():
    """`connector plan`, `status`, `sync` and the rest start without importing the QuickBooks
    and Xero SDKs (a fifth of their start-up): only `auth` and `sandbox`, where the plugins'
    commands live, load every plugin."""
    probe = (
        "import sys; from connector.cli import app; import typer.main; "
        "cli = typer.main.get_command(app); ctx = cli.make_context('connector', ['plan']); "
        "cli.get_command(ctx, 'plan'); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'quickbooks', 'xero_python'})); "
        "cli.get_command(ctx, 'auth'); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'quickbooks', 'xero_python'}))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.splitlines() == ["[]", "['quickbooks', 'xero_python']"], done.stderr


def test_every_command_object_of_the_cli_has_the_plugins_sign_ins():
    """Each click group made of the app (a shell completion, a test runner) lists them."""
    import typer.main

    from connector.cli import app

    first, second = typer.main.get_command(app), typer.main.get_command(app)
    for made in (first, second):
        ctx = made.make_context("connector", ["auth"])
        group = made.get_command(ctx, "auth")  # type: ignore[attr-defined]
        assert group is not None and {"quickbooks", "xero", "github", "smtp"} <= set(
            group.commands  # type: ignore[attr-defined]
        )
