"""The conventions a user of a command-line tool and a systemd service expects: `--version`,
`python -m connector`, shell completion, `CONNECTOR_CONFIG_DIR`, journald-friendly log lines,
`$STATE_DIRECTORY`, a hardened unit that systemd accepts, and a fleet that names a stray *.toml.
(The sandboxes' ports and sections: test_demo_and_auth; the README's walk-through: test_cli.)"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from connector import cli
from connector import config as config_mod
from connector.errors import ConfigError
from connector.logs import JournalFormatter, JsonFormatter, formatter, stream_is_journal

REPO = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).with_name("connector")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed `connector` command, as a person runs it."""
    return subprocess.run(
        [str(EXE), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "100", **(env or {})},
    )


def connector(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["connector", *args])
    with pytest.raises(SystemExit) as stop:
        cli.main()
    captured = capsys.readouterr()
    return stop.value.code or 0, captured.out, captured.err


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """config.example.toml with the milestones it names, in a folder of its own."""
    shutil.copy(REPO / "config.example.toml", tmp_path / "config.example.toml")
    shutil.copytree(REPO / "connector" / "examples", tmp_path / "connector" / "examples")
    return tmp_path / "config.example.toml"


# --- the command ------------------------------------------------------------------------------


def test_version_is_the_installed_distributions():
    expected = f"milestone-connector {version('milestone-connector')}\n"
    done = run("--version")
    assert (done.returncode, done.stdout) == (0, expected), done.stderr
    module = subprocess.run(
        [sys.executable, "-m", "connector", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (module.returncode, module.stdout) == (0, expected), module.stderr


def test_python_dash_m_connector_is_the_same_command(example):
    done = subprocess.run(
        [sys.executable, "-m", "connector", "plan", "--config", str(example), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '"business": "Northwind Studio"' in done.stdout
    usage = subprocess.run(
        [sys.executable, "-m", "connector", "--help"], capture_output=True, text=True, check=False
    )
    assert "Usage: connector [OPTIONS] COMMAND" in usage.stdout  # not "__main__.py"


@pytest.mark.parametrize("launcher", ["script", "module"])
def test_shell_completion_completes_commands_and_options(launcher):
    command = [str(EXE)] if launcher == "script" else [sys.executable, "-m", "connector"]

    def complete(words: str) -> list[str]:
        env = {
            **os.environ,
            "_CONNECTOR_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        }
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert complete("connector sta") == ["status"]
    assert complete("connector sandbox ") == ["quickbooks", "xero", "tracker"]
    assert "--config-dir" in complete("connector run --conf")
    helped = run("--help").stdout
    assert "--install-completion" in helped and "--show-completion" in helped
    script = run("--show-completion", env={"SHELL": "/bin/bash"})
    assert script.returncode == 0 and "_CONNECTOR_COMPLETE" in script.stdout


def test_connector_config_dir_is_the_default_folder(example, monkeypatch, capsys):
    folder = example.parent
    monkeypatch.setenv("CONNECTOR_CONFIG_DIR", str(folder))
    code, out, err = connector(monkeypatch, capsys, "doctor")
    assert str(example) in out, out + err  # every business of the folder was checked
    # an explicit --config wins over the variable instead of clashing with it
    other = folder / "only.toml"
    shutil.copy(example, other)
    code, out, err = connector(monkeypatch, capsys, "doctor", "--config", str(other))
    assert str(other) in out and str(example) not in out, out + err
    # a variable that names no folder is one message naming the variable
    monkeypatch.setenv("CONNECTOR_CONFIG_DIR", str(folder / "gone"))
    code, out, err = connector(monkeypatch, capsys, "run")
    assert code == 2 and f"CONNECTOR_CONFIG_DIR={folder / 'gone'}: not a folder" in err
    monkeypatch.delenv("CONNECTOR_CONFIG_DIR")
    code, out, err = connector(monkeypatch, capsys, "doctor")
    assert code == 2 and "exactly one of --config FILE or --config-dir DIR" in err
    assert "CONNECTOR_CONFIG_DIR" in err


@pytest.mark.parametrize("command", ["run", "doctor"])
def test_help_says_the_variable_is_read(command):
    flat = " ".join(run(command, "--help").stdout.replace("│", " ").split())
    assert "--config-dir" in flat and "$CONNECTOR_CONFIG_DIR" in flat


# --- log lines --------------------------------------------------------------------------------


def record(level: int, message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError("bad\nworse")
        except ValueError:
            info = sys.exc_info()
    made = logging.LogRecord("connector.daemon", level, __file__, 1, message, args, info)
    made.where, made.business, made.run_id = "[alpha run 3] ", "alpha", 3
    return made


@pytest.mark.parametrize(
    ("level", "prefix"),
    [
        (logging.CRITICAL, "<2>"),
        (logging.ERROR, "<3>"),
        (logging.WARNING, "<4>"),
        (logging.INFO, "<6>"),
        (logging.DEBUG, "<7>"),
    ],
)
def test_journal_lines_start_with_their_priority(level, prefix):
    line = JournalFormatter().format(record(level, "sync finished: %s", "ok"))
    assert line == f"{prefix}{logging.getLevelName(level)} [alpha run 3] sync finished: ok"


def test_a_multi_line_entry_stays_one_journal_line():
    problems = "alpha.toml: 2 problems\n  business.name: required\n  ledger.kind: required"
    line = JournalFormatter().format(record(logging.ERROR, "skipping: %s", problems, exc=True))
    assert "\n" not in line and line.startswith("<3>ERROR [alpha run 3] skipping: alpha.toml")
    assert "\\n  business.name: required\\n" in line
    assert "Traceback (most recent call last):" in line and line.endswith("worse")


def test_json_stays_one_object_per_line_and_under_the_journal_gets_the_prefix():
    import json

    entry = record(logging.WARNING, "two\nlines", exc=True)
    plain = JsonFormatter().format(entry)
    assert "\n" not in plain and json.loads(plain)["message"] == "two\nlines"
    journal = formatter("json", journal=True).format(entry)
    assert journal.startswith("<4>{") and json.loads(journal[3:]) == json.loads(plain)


def test_the_journal_is_recognised_by_its_stream_not_by_the_variable(tmp_path, monkeypatch):
    with (tmp_path / "journal").open("w") as stream, (tmp_path / "other").open("w") as other:
        info = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino}")
        assert stream_is_journal(stream)
        # stderr redirected to a file by the unit (or a terminal under a systemd session)
        assert not stream_is_journal(other)
        monkeypatch.delenv("JOURNAL_STREAM")
        assert not stream_is_journal(stream)
    assert isinstance(formatter("auto", journal=True), JournalFormatter)
    assert not isinstance(formatter("auto", journal=False), JournalFormatter)
    assert isinstance(formatter("journal", journal=False), JournalFormatter)


def test_a_command_that_cannot_run_under_systemd_says_why_in_one_error_entry(tmp_path):
    """A config's list of problems, the daemon's last words before it stops, is one entry at
    priority error, not one entry per line at info."""
    (tmp_path / "alpha.toml").write_text('[business]\nname = 7\n[ledger]\nkind = "nope"\n')
    journal = tmp_path / "journal.log"
    with journal.open("w") as stream:
        info = os.fstat(stream.fileno())
        done = subprocess.run(
            [str(EXE), "config", "check", "--config", str(tmp_path / "alpha.toml")],
            stderr=stream,
            env={**os.environ, "JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"},
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    (line,) = journal.read_text().splitlines()
    assert line.startswith(f"<3>error: {tmp_path / 'alpha.toml'}: 3 problems\\n  business.name")


# --- $STATE_DIRECTORY -------------------------------------------------------------------------


def without_state_path(example: Path) -> Path:
    text = example.read_text().replace('path = "northwind.db"', "# default location")
    example.write_text(text)
    return example


def test_state_directory_holds_the_default_database(example, tmp_path, monkeypatch):
    without_state_path(example)
    home = tmp_path / "home-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    assert (
        config_mod.load(example).state_path == home / "milestone-connector" / "northwind-studio.db"
    )
    # systemd's StateDirectory=connector (several: colon-separated, the first is ours)
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path / 'lib'}:{tmp_path / 'other'}")
    cfg = config_mod.load(example)
    assert cfg.state_path == tmp_path / "lib" / "northwind-studio.db"
    assert cfg.state_url == f"sqlite:///{tmp_path / 'lib' / 'northwind-studio.db'}"


def test_an_existing_database_is_never_left_behind_for_an_empty_one(example, tmp_path, monkeypatch):
    """After an upgrade under systemd the business goes on with the state it had, and two
    databases for one business are refused rather than one of them picked."""
    without_state_path(example)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home-data"))
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "lib"))
    old = tmp_path / "home-data" / "milestone-connector" / "northwind-studio.db"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"")
    assert config_mod.load(example).state_path == old
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "northwind-studio.db").write_bytes(b"")
    with pytest.raises(ConfigError, match="two state databases for Northwind Studio"):
        config_mod.load(example)
    # a [state] path is the business's own choice, wherever systemd points
    text = example.read_text().replace("# default location", 'path = "mine.db"')
    example.write_text(text)
    assert config_mod.load(example).state_path == example.parent / "mine.db"


# --- the unit file ----------------------------------------------------------------------------

UNIT = REPO / "deploy" / "connector.service"
HARDENING = {
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "ProtectKernelLogs": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "SystemCallFilter": "@system-service",
    "ProtectProc": "invisible",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "StateDirectory": "connector",
}


def unit_keys(text: str) -> dict[str, dict[str, list[str]]]:
    """The unit's sections and keys (a key may repeat, as Environment= does)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_the_unit_is_hardened():
    service = unit_keys(UNIT.read_text())["Service"]
    for key, value in HARDENING.items():
        assert service.get(key) == [value], key
    assert service["ExecStart"][0].split()[1:3] == ["run", "--config-dir"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_accepts_the_unit(tmp_path):
    """`systemd-analyze verify` on the unit as installed, its ExecStart pointing at this
    environment's `connector` (verify refuses a program that is not there)."""
    text = UNIT.read_text().replace("/opt/connector/venv/bin/connector", str(EXE))
    unit = tmp_path / "connector.service"
    unit.write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_the_fleet_warns_of_a_stray_toml_when_it_appears_not_every_tick(tmp_path, caplog):
    from connector.fleet.folder import Folder
    from tests.test_daemon import write_business

    write_business(tmp_path, "alpha")
    (tmp_path / "old-milestones.toml").write_text("[[milestones]]\n")
    folder = Folder(None, tmp_path)
    with caplog.at_level(logging.INFO, logger="connector"):
        folder.scan()
        folder.scan()  # the next tick: nothing new to say
        (tmp_path / "notes.toml").write_text("title = 'not a business'\n")
        write_business(tmp_path, "beta")  # and a business joins the folder
        folder.scan()
    (added,) = [r.getMessage() for r in caplog.records if "scheduled beta" in r.getMessage()]
    assert re.match(r"scheduled beta \(0 2 \* \* \*, America/Chicago\): next run 20", added)
    strays = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ignoring")]
    assert [s.split(":")[0] for s in strays] == [
        f"ignoring {tmp_path / 'old-milestones.toml'}",
        f"ignoring {tmp_path / 'notes.toml'}",
    ]
    assert all(r.levelno == logging.WARNING for r in caplog.records if "ignoring" in r.message)
