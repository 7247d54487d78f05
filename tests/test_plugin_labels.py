"""A ledger and a tracker known only through their entry points, in no table of the core: the
CLI shows their labels and credential status wherever it shows a built-in's, and a tracker
without a token says which command stores one.

The plugins are a package and a `.dist-info` folder in a temporary folder on `sys.path` (and on
PYTHONPATH for a subprocess): `importlib.metadata` finds their entry points as it finds an
installed distribution's.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector import plugins
from connector.credentials import TokenSet, TokenStore
from connector.errors import PluginNotFound
from connector.sources.tokens import save_token
from tests.conftest import write_business
from tests.test_cli import connector

PLUGIN = '''
"""A third party's ledger (it keeps its books in a local file) and tracker (a milestones file
read only with a token): enough to be a plugin of each kind."""

from pydantic import BaseModel, ConfigDict

from connector.adapters.local import MemoryLedger
from connector.credentials import TokenStore
from connector.plugins import Credentials
from connector.sources.file import FileSource
from connector.sources.tokens import load_token


class FileSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str


class AbacusPlugin:
    name = "abacus"
    label = "Abacus Books"
    settings = FileSettings

    def create(self, settings, context):
        return MemoryLedger((context.base_dir / settings.path).resolve())

    def credentials(self, context):
        tokens = TokenStore(context.business, self.name).load()
        if tokens is None or not tokens.refresh_token:
            return Credentials(connected=False)
        return Credentials(True, tokens.company_id, tokens.refresh_days_left())

    def add_commands(self, groups):
        @groups.auth.command("abacus")
        def auth_abacus():
            """Sign in to Abacus Books."""
            groups.out.print("connected to abacus")


class TrelloSource(FileSource):
    def __init__(self, path, business):
        super().__init__(path)
        self.business = business

    def read(self, cursor):
        load_token(self.business, "trello")
        return super().read(cursor)


class TrelloPlugin:  # no label, no rank, no description of its token
    name = "trello"
    settings = FileSettings

    def create(self, settings, context):
        return TrelloSource((context.base_dir / settings.path).resolve(), context.business)

    def credentials(self, context):
        return Credentials(TokenStore(context.business, self.name).load() is not None)
'''

ENTRY_POINTS = """
[connector.adapters]
abacus = abacus_plugin:AbacusPlugin

[connector.sources]
trello = abacus_plugin:TrelloPlugin
"""

ABACUS = '[ledger]\nkind = "abacus"\npath = "ledger.json"\n'


def write_plugin(folder: Path) -> Path:
    """The plugin package and its distribution's metadata in `folder`, as pip would leave them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "abacus_plugin.py").write_text(PLUGIN)
    info = folder / "abacus_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: abacus-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return folder


@pytest.fixture
def installed(tmp_path, monkeypatch) -> Path:
    folder = write_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    sys.modules.pop("abacus_plugin", None)


def abacus_business(root: Path) -> Path:
    write_business(root, ledger_section=ABACUS)
    return root / "config.toml"


def trello_business(root: Path) -> Path:
    write_business(root)
    path = root / "config.toml"
    path.write_text(path.read_text().replace('kind = "file"', 'kind = "trello"'))
    return path


def connect_abacus(days: float) -> None:
    lapses = (datetime.now(UTC) + timedelta(days=days, hours=1)).isoformat()
    TokenStore("Northwind Studio", "abacus").save(
        TokenSet("id", "secret", refresh_token="r", refresh_expires_at=lapses, company_id="AB-7")
    )


def test_plugins_come_from_entry_points_built_ins_first(installed):
    assert plugins.installed(plugins.ADAPTERS) == ["local", "quickbooks", "xero", "abacus"]
    assert plugins.installed(plugins.SOURCES) == ["file", "github", "jira", "asana", "trello"]
    assert plugins.label(plugins.find(plugins.ADAPTERS, "abacus")) == "Abacus Books"
    assert plugins.label(plugins.find(plugins.SOURCES, "trello")) == "trello"  # its name
    assert plugins.label(plugins.find(plugins.ADAPTERS, "quickbooks")) == "QuickBooks"


def test_doctor_shows_a_third_party_ledgers_label_and_connection(
    installed, tmp_path, monkeypatch, capsys
):
    config = abacus_business(tmp_path / "b")
    code, out, _ = connector(monkeypatch, capsys, "doctor", "--config", str(config))
    flat = " ".join(out.split())
    assert code == 2, out
    assert "FAIL credentials Northwind Studio is not connected to Abacus Books yet" in flat
    assert "connector auth abacus --config" in flat and "ok keyring" in flat
    connect_abacus(days=100)
    code, out, _ = connector(monkeypatch, capsys, "doctor", "--config", str(config))
    flat = " ".join(out.split())
    assert code == 0, out
    assert "ok credentials connected to Abacus Books (AB-7)" in flat
    assert "lapses in 100 days" in flat and "ok ledger Abacus Books ready" in flat


def test_status_and_config_check_warn_before_a_third_party_connection_lapses(
    installed, tmp_path, monkeypatch, capsys
):
    config = abacus_business(tmp_path / "b")
    connect_abacus(days=3)
    code, out, _ = connector(monkeypatch, capsys, "status", "--config", str(config))
    flat = " ".join(out.split())
    assert "the Abacus Books connection expires in 3 day(s)" in flat, out
    assert "connector auth abacus --config" in flat
    code, _, err = connector(monkeypatch, capsys, "config", "check", "--config", str(config))
    assert code == 1 and "the Abacus Books connection expires" in " ".join(err.split())


def test_a_tracker_in_no_table_names_the_command_that_stores_its_token(
    installed, tmp_path, monkeypatch, capsys
):
    config = trello_business(tmp_path / "b")
    code, _, err = connector(monkeypatch, capsys, "plan", "--config", str(config))
    assert code == 2, err
    assert "Northwind Studio has no trello token yet" in err
    assert f"`connector auth trello --config {config.resolve()}` once" in " ".join(err.split())
    code, out, _ = connector(monkeypatch, capsys, "doctor", "--config", str(config))
    flat = " ".join(out.split())
    assert code == 2 and "ok keyring" in flat and "FAIL tracker" in flat
    assert "has no trello token yet" in flat
    save_token("Northwind Studio", "trello", "t0ken")
    code, out, _ = connector(monkeypatch, capsys, "doctor", "--config", str(config))
    assert code == 0, out
    assert "ok   tracker" in out


def test_doctor_in_a_new_process_finds_the_plugin_by_its_entry_point(tmp_path):
    """The way a user meets it: `pip install` put the plugin on the path, nothing else changed."""
    folder = write_plugin(tmp_path / "site")
    config = abacus_business(tmp_path / "b")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(folder), *sys.path]))
    env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    exe = Path(sys.executable).with_name("connector")
    done = subprocess.run(
        [str(exe), "doctor", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    flat = " ".join(done.stdout.split())
    assert done.returncode == 2, done.stdout + done.stderr
    assert "not connected to Abacus Books yet" in flat and "connector auth abacus" in flat
    help_text = subprocess.run(
        [str(exe), "auth", "--help"], capture_output=True, text=True, env=env, timeout=60
    ).stdout
    listed = [name for name in ("quickbooks", "xero", "abacus", "github") if name in help_text]
    assert listed == ["quickbooks", "xero", "abacus", "github"]
    assert help_text.index("xero") < help_text.index("abacus") < help_text.index("github")


def test_the_dist_info_is_what_registers_it(installed):
    """Without its metadata the package is just a module: not a plugin."""
    for info in installed.glob("*.dist-info"):
        for item in info.iterdir():
            item.unlink()
        info.rmdir()
    assert "abacus" not in plugins.available(plugins.ADAPTERS)
    with pytest.raises(PluginNotFound, match="no ledger adapter named 'abacus'"):
        plugins.find(plugins.ADAPTERS, "abacus")


VENDOR = re.compile("quickbooks|xero|github|jira|asana", re.IGNORECASE)
# The two places that start the bundled emulators by name; every vendor's own package is its own.
EMULATOR_STARTERS = {"connector/demo.py", "connector/cli/sandbox.py"}


def _code_words(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Names and string constants of a module, its docstrings left out (they may give examples)."""
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.lineno, node.value
        elif isinstance(node, ast.Name):
            yield node.lineno, node.id
        elif isinstance(node, ast.Attribute):
            yield node.lineno, node.attr
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            yield node.lineno, node.name


def test_no_core_module_names_a_vendor():
    """A new ledger or tracker needs no edit outside its own package."""
    repo = Path(__file__).resolve().parents[1]
    shared = ["connector/*.py", "connector/cli/*.py", "connector/sync/*.py"]
    shared += ["connector/adapters/*.py", "connector/sources/*.py"]
    found = [
        f"{path.relative_to(repo)}:{line}: {word!r}"
        for pattern in shared
        for path in sorted(repo.glob(pattern))
        if str(path.relative_to(repo)) not in EMULATOR_STARTERS
        for line, word in _code_words(ast.parse(path.read_text()))
        if VENDOR.search(word)
    ]
    assert found == []
