"""`connector config check` and `connector doctor`: is a business ready to sync."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.markup import escape as esc
from rich.table import Table

from connector import config as config_mod
from connector.cli.common import (
    ConfigDirOpt,
    ConfigOpt,
    OneConfigOpt,
    about,
    err,
    out,
    pick_configs,
    tracker_settings,
)
from connector.errors import naming_config

if TYPE_CHECKING:  # doctor is imported when its command runs
    from connector.doctor import Check

config_app = typer.Typer(no_args_is_help=True, help="Check a business config file.")


@config_app.command("check")
def config_check(config: ConfigOpt) -> None:
    """Validate the config and read the tracker; report every problem at once."""
    with about(config):
        cfg = config_mod.load(config)
        with tracker_settings(cfg):
            batch = cfg.source().read(None)
    out.print(
        f"{cfg.path}: ok ({cfg.business.name}; {len(cfg.contracts)} contract(s); "
        f"tracker {cfg.tracker_kind}: {len(batch.milestones)} milestone(s); "
        f"ledger {cfg.ledger_kind}; state {cfg.state_path or 'database URL'})",
        markup=False,  # a business's own name is never markup
    )
    for bad in batch.invalid:
        err.print(f"[red]invalid milestone:[/red] {esc(bad.message)}")
    unknown = sorted({m.contract for m in batch.milestones} - set(cfg.contracts))
    for cid in unknown:
        err.print(
            f"[red]unknown contract:[/red] milestones name {esc(repr(cid))}, not in the config"
        )
    from connector.doctor import credentials_warning

    warning = credentials_warning(cfg)
    if warning:
        err.print(f"[red]credentials:[/red] {esc(naming_config(warning, cfg.path))}")
    raise typer.Exit(1 if batch.invalid or unknown or warning else 0)


def doctor(config: OneConfigOpt = None, config_dir: ConfigDirOpt = None) -> None:
    """Can each business sync tonight? Config, state, keyring, credentials, ledger (and the
    company's setup against what the config asks of it), tracker."""
    from connector.business_configs import config_files
    from connector.doctor import check_business

    config, config_dir = pick_configs(config, config_dir)
    failed = False
    for path in config_files(config, config_dir):
        out.print(f"[bold]{esc(str(path))}[/bold]")
        for check in check_business(path):  # each printed as soon as it is known
            failed |= not check.ok
            out.print(_check_lines(check), highlight=False)
    raise typer.Exit(2 if failed else 0)


def _check_lines(check: Check) -> Table:
    """One check: its mark, name and detail, then its further lines under the detail; a line
    too long for the terminal wraps within the detail's column, so the names stay readable."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=1)  # the indent under the config file's name
    grid.add_column(width=4, no_wrap=True)
    grid.add_column(width=12, no_wrap=True)
    grid.add_column(ratio=1, overflow="fold")
    mark = "[green]ok[/green]" if check.ok else "[red]FAIL[/red]"
    grid.add_row("", mark, esc(check.name), esc(check.detail))
    for line in check.more:
        grid.add_row("", "", "", esc(line))
    return grid
