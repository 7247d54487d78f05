"""The `connector` command. `main` is the one place an error becomes words and an exit code
(0 ok, 1 finished but something needs a person, 2 could not run): each class in
`connector.errors` knows both.

One module per command group (`books`: plan, sync, status; `checks`: config check, doctor;
`daemon`: run; `sandbox`: demo and the emulators; `auth`); the commands are listed here in the
order `connector --help` shows them. A ledger or tracker plugin brings its own commands (its
`connector auth` sign-in) through `add_commands`, so the CLI names no vendor.

`python -m connector` is the same command (`connector/__main__.py`); Typer's shell completion is
on (`connector --install-completion`), and `connector --version` names the installed release.
"""

from __future__ import annotations

import sys
import traceback
from typing import TYPE_CHECKING, Annotated

import typer
import typer.main
from typer.core import TyperGroup

from connector import plugins
from connector.cli import aging, auth, books, checks, daemon, forecast, ledger, sandbox, serve
from connector.cli.common import out
from connector.errors import ConnectorError
from connector.perf import frozen_at_exit

if TYPE_CHECKING:  # the click Typer runs on (Typer 0.29 carries its own copy)
    from typer._click import Command, Context

PROG = "connector"  # also under `python -m connector`, so usage lines and completion match
DISTRIBUTION = "milestone-connector"


class _Commands(TyperGroup):
    """The `connector` group. The ledger and tracker plugins' commands live under `auth` and
    `sandbox`, and loading the plugins imports both vendor SDKs (a fifth of the start-up of
    `connector plan` or `status`), so they are added only when one of those groups is used
    (or listed, for help and completion)."""

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        lazy = _PLUGIN_GROUPS.get(cmd_name)
        with_plugins: set[str] = self.__dict__.setdefault("_with_plugins", set())
        if lazy is not None and cmd_name not in with_plugins:  # this group's, once
            _add_plugins_once()
            group = typer.main.get_group(lazy)
            group.name = cmd_name
            self.commands[cmd_name] = group
            with_plugins.add(cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    cls=_Commands,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Turn project milestones into ledger invoices, exactly once.",
)
_debug = {"on": False}


def version() -> str:
    """The installed distribution's version: what a bug report should name."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed; pip install -e .)"


def _print_version(wanted: bool) -> None:
    if wanted:
        out.print(f"{DISTRIBUTION} {version()}", highlight=False, markup=False)
        raise typer.Exit(0)


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the installed version and exit.",
        ),
    ] = False,
) -> None:
    _debug["on"] = debug


for command in (
    books.plan,
    books.sync,
    books.status,
    daemon.run,
    sandbox.demo,
    checks.doctor,
):
    app.command()(command)
app.add_typer(checks.config_app, name="config")
app.add_typer(sandbox.sandbox_app, name="sandbox")
app.add_typer(auth.auth_app, name="auth")
aging.register(app)
forecast.register(app)
serve.register(app)
ledger.register(app)


def add_plugin_commands(groups: plugins.CommandGroups) -> None:
    """The commands of every installed ledger and tracker plugin that has some, in the order
    `plugins.loaded` gives (the ranked ones, the built-ins, first; then the others by name). A
    plugin whose code fails to load is left out with a warning, so every other command works."""
    for kind in (plugins.ADAPTERS, plugins.SOURCES):
        for plugin in plugins.loaded(kind):
            if isinstance(plugin, plugins.HasCommands):
                plugin.add_commands(groups)


_PLUGIN_GROUPS = {"auth": auth.auth_app, "sandbox": sandbox.sandbox_app}
_plugins_added: list[bool] = []


def _add_plugins_once() -> None:
    if not _plugins_added:
        add_plugin_commands(
            plugins.CommandGroups(auth=auth.auth_app, sandbox=sandbox.sandbox_app, out=out)
        )
        _plugins_added.append(True)  # once they are all in


def main() -> None:
    frozen_at_exit()
    try:
        app(prog_name=PROG)  # usage errors: click's own message and exit code 2
    except ConnectorError as exc:
        _stderr(f"error: {exc.for_person()}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _stderr("interrupted; what was sent is recorded, the next sync goes on from there")
        sys.exit(130)
    except Exception as exc:  # anything unexpected: one line, traceback only on --debug
        if _debug["on"]:
            _stderr(traceback.format_exc())
        else:
            _stderr(f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)")
        sys.exit(2)


def _stderr(text: str) -> None:
    """The last words of a command; under systemd one journal entry, as an error, like the
    daemon's log lines (a config's list of problems would otherwise arrive line by line)."""
    from connector.logs import journal_line, stream_is_journal

    if stream_is_journal(sys.stderr):
        text = journal_line(3, text)
    sys.stderr.write(text.rstrip("\n") + "\n")
