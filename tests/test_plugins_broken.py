"""An installed plugin whose code fails to load stops only what needs it.

`shaky-plugins` registers a ledger whose module imports an SDK that is not installed, a tracker
whose module raises as it is imported (a two-line message), and a ledger whose plugin class
raises when it is made. It is a package and a `.dist-info` folder in a temporary folder on
`sys.path` (and on PYTHONPATH for the real `connector` in a new process), found by
`importlib.metadata` as an installed distribution's entry points are. Listing the plugins
skips each with one warning naming its entry point, its distribution and the first line of what
it raised; a config that names one fails with exit 2, saying so; every other command works.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector import config as config_mod
from connector import plugins
from connector.errors import ConfigError, PluginNotFound
from tests.conftest import write_business

SHAKY_BOOKS = '''
"""A ledger built on an SDK that is not installed."""

import shaky_books_sdk  # noqa: F401


class ShakyBooksPlugin:
    name = "shaky"
'''

SHAKY_TASKS = '''
"""A tracker that cannot start without its environment."""

raise RuntimeError("SHAKY_HOME is not set\\nsee the Shaky Tasks manual, chapter 2")
'''

SHAKY_MAKER = '''
"""A ledger whose plugin class fails when it is made."""


class MakerPlugin:
    name = "shaky-maker"

    def __init__(self):
        raise ValueError("no licence file found")
'''

ENTRY_POINTS = """
[connector.adapters]
shaky = shaky_books:ShakyBooksPlugin
shaky-maker = shaky_maker:MakerPlugin

[connector.sources]
shaky-tasks = shaky_tasks:Plugin
"""

MODULES = ("shaky_books", "shaky_tasks", "shaky_maker")
BOOKS_FAILED = (
    "the ledger adapter 'shaky' failed to load: ModuleNotFoundError: No module named "
    "'shaky_books_sdk' (entry point 'shaky = shaky_books:ShakyBooksPlugin' of shaky-plugins 0.3)"
)
TASKS_FAILED = (
    "the tracker source 'shaky-tasks' failed to load: RuntimeError: SHAKY_HOME is not set "
    "(entry point 'shaky-tasks = shaky_tasks:Plugin' of shaky-plugins 0.3)"
)
MAKER_FAILED = (
    "the ledger adapter 'shaky-maker' failed to load: ValueError: no licence file found "
    "(entry point 'shaky-maker = shaky_maker:MakerPlugin' of shaky-plugins 0.3)"
)

FAILED = (BOOKS_FAILED, MAKER_FAILED, TASKS_FAILED)
WARNINGS = sorted(f"warning: {failed}; it is left out" for failed in FAILED)


def write_shaky(folder: Path) -> Path:
    """The plugins and their distribution's metadata in `folder`, as pip would leave them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shaky_books.py").write_text(SHAKY_BOOKS)
    (folder / "shaky_tasks.py").write_text(SHAKY_TASKS)
    (folder / "shaky_maker.py").write_text(SHAKY_MAKER)
    info = folder / "shaky_plugins-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shaky-plugins\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return folder


@pytest.fixture
def shaky(tmp_path, monkeypatch) -> Iterator[Path]:
    folder = write_shaky(tmp_path / "site")
    monkeypatch.syspath_prepend(str(folder))
    # the warning is said once per process: each test starts as a new process would
    monkeypatch.setattr(plugins, "_warned", set())
    yield folder
    for name in MODULES:
        sys.modules.pop(name, None)


def warnings_said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_listing_skips_each_broken_plugin_with_one_warning(shaky, caplog):
    caplog.set_level(logging.WARNING, logger="connector.plugins")
    for _ in range(3):  # the CLI, doctor and status may each list them
        assert plugins.installed(plugins.ADAPTERS) == ["local", "quickbooks", "xero"]
        assert plugins.installed(plugins.SOURCES) == ["file", "github", "jira", "asana"]
        assert [p.name for p in plugins.loaded(plugins.ADAPTERS)] == ["local", "quickbooks", "xero"]
    assert sorted(warnings_said(caplog)) == sorted(
        f"warning: {failed}; it is left out"
        for failed in (BOOKS_FAILED, MAKER_FAILED, TASKS_FAILED)
    )
    # the names stay registered: `find` says why one cannot be used
    assert {"shaky", "shaky-maker"} <= set(plugins.available(plugins.ADAPTERS))


def test_finding_a_broken_plugin_says_it_failed_to_load_and_why(shaky):
    with pytest.raises(PluginNotFound) as books:
        plugins.find(plugins.ADAPTERS, "shaky")
    assert str(books.value) == f"{BOOKS_FAILED}; reinstall or remove shaky-plugins 0.3"
    with pytest.raises(PluginNotFound) as tasks:
        plugins.find(plugins.SOURCES, "shaky-tasks")
    assert "chapter 2" not in str(tasks.value)  # the first line only
    assert str(tasks.value).startswith(TASKS_FAILED)
    assert plugins.find(plugins.ADAPTERS, "local").name == "local"  # the others still load


def test_a_config_naming_a_broken_plugin_is_one_config_problem(shaky, tmp_path):
    write_business(tmp_path / "b", ledger_section='[ledger]\nkind = "shaky-maker"\n')
    with pytest.raises(ConfigError) as caught:
        config_mod.load(tmp_path / "b" / "config.toml")
    assert caught.value.problems == [
        f"ledger.kind: {MAKER_FAILED}; reinstall or remove shaky-plugins 0.3"
    ]
    assert caught.value.exit_code == 2


def test_an_entry_point_with_no_distribution_is_named_as_one(shaky):
    """An entry point made by hand (as a tool embedding the connector might) has no metadata."""
    from importlib.metadata import EntryPoint

    ep = EntryPoint("shaky-tasks", "shaky_tasks:Plugin", plugins.SOURCES)
    broken = plugins.load(ep)
    assert isinstance(broken, plugins.BrokenPlugin)
    assert str(broken) == TASKS_FAILED.replace("shaky-plugins 0.3", "an unknown distribution")


# -- the real `connector`, in a new process, as a user meets it after `pip install` -------------


def connector(tmp_path: Path, site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), *sys.path]))
    env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    exe = Path(sys.executable).with_name("connector")
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_commands_that_do_not_need_the_broken_plugins_work(tmp_path):
    site = write_shaky(tmp_path / "site")
    write_business(tmp_path / "b")  # the file tracker and the local ledger
    config = str(tmp_path / "b" / "config.toml")
    done = connector(tmp_path, site, "plan", "--config", config, "--as-of", "2026-11-26")
    assert done.returncode == 0, done.stderr
    assert "Northwind Studio" in done.stdout
    assert done.stderr == ""  # the plugins it does not use are not even loaded
    helped = connector(tmp_path, site, "auth", "--help")  # where every plugin is listed
    assert helped.returncode == 0 and "quickbooks" in helped.stdout and "github" in helped.stdout
    assert sorted(helped.stderr.splitlines()) == sorted(
        f"warning: {failed}; it is left out"
        for failed in (BOOKS_FAILED, MAKER_FAILED, TASKS_FAILED)
    )


def test_a_command_whose_config_names_a_broken_plugin_exits_2_saying_why(tmp_path):
    site = write_shaky(tmp_path / "site")
    write_business(tmp_path / "b", ledger_section='[ledger]\nkind = "shaky"\n')
    config = str(tmp_path / "b" / "config.toml")
    done = connector(tmp_path, site, "plan", "--config", config)
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if not line.startswith("warning: ")]
    assert errors == [
        f"error: {config}: 1 problem",
        f"  ledger.kind: {BOOKS_FAILED}; reinstall or remove shaky-plugins 0.3",
    ]
    assert "Traceback" not in done.stderr
