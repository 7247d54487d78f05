"""`connector aging`: receivables per customer by days past due, for one business or a folder
of them, as a table, JSON or CSV. Reads each business's state only (never migrating it) and
never calls a ledger or a tracker; the figures are `connector.aging`'s."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import typer

from connector import config as config_mod
from connector import render_aging
from connector.aging import Aging, AgingOverview, across, aging_of
from connector.cli.common import (
    AsOfOpt,
    ConfigDirOpt,
    Format,
    FormatOpt,
    OneConfigOpt,
    out,
    parse_as_of,
    pick_configs,
    print_json,
)
from connector.errors import ConnectorError
from connector.sync.state import State


def business_aging(cfg: config_mod.Config, as_of: date | None) -> Aging:
    """The business's aging from its state, read-only, as of `as_of` or today in its time zone.
    The engine is disposed of at once: a folder of businesses holds no connections."""
    day = as_of or datetime.now(cfg.zone).date()
    state = State.open(cfg.state_url, cfg.business.name, path=cfg.state_path, read_only=True)
    try:
        rows = state.invoice_rows()
    finally:
        state.engine.dispose()
    return aging_of(cfg.business.name, rows, day)


def folder_aging(paths: list[Path], as_of: date | None) -> AgingOverview:
    """One entry per config file; one that cannot be read (or whose state cannot) says why."""
    from connector.overview import CannotLoad

    entries: list[Aging | CannotLoad] = []
    for path in paths:
        try:
            entries.append(business_aging(config_mod.load(path), as_of))
        except ConnectorError as exc:
            entries.append(CannotLoad(str(path), str(exc)))
    return across(entries)


def aging(
    config: OneConfigOpt = None,
    config_dir: ConfigDirOpt = None,
    as_of: AsOfOpt = None,
    output: FormatOpt = None,
) -> None:
    """What each customer owes, current and 1-30 / 31-60 / 61-90 / 90+ days past due, per
    currency (never added together): for one business, or for every business in a folder and
    across them all. Exits 1 when something is left out of the figures (an invoice the ledger
    has not confirmed, a business that cannot load)."""
    from connector.business_configs import config_files

    config, config_dir = pick_configs(config, config_dir)  # or the folder in $CONNECTOR_CONFIG_DIR
    day = parse_as_of(as_of)
    output = output or Format.TABLE
    if config is not None:
        one = business_aging(config_mod.load(config), day)
        _show_business(one, output)
        raise typer.Exit(1 if one.attention else 0)
    assert config_dir is not None
    folder = folder_aging(config_files(None, config_dir), day)
    _show_folder(folder, output)
    raise typer.Exit(1 if folder.attention else 0)


def _show_business(one: Aging, output: Format) -> None:
    if output is Format.JSON:
        print_json(one.to_json())
    elif output is Format.CSV:
        sys.stdout.write(render_aging.csv_text([one]))
        _left_out(one.attention)
    else:
        render_aging.business(out, one)


def _show_folder(folder: AgingOverview, output: Format) -> None:
    if output is Format.JSON:
        print_json(folder.to_json())
    elif output is Format.CSV:
        sys.stdout.write(render_aging.csv_text(folder.businesses, folder.totals))
        for entry in folder.entries:
            if isinstance(entry, Aging):
                _left_out(entry.attention, f"{entry.business}: ")
            else:
                sys.stderr.write(f"cannot load: {entry.config}: {entry.error}\n")
    else:
        render_aging.overview(out, folder)


def _left_out(items: tuple[str, ...], who: str = "") -> None:
    """CSV has no room for what the figures leave out: it goes to stderr, one line each."""
    for item in items:
        sys.stderr.write(f"not counted: {who}{item}\n")


def register(app: typer.Typer) -> None:
    """Add `connector aging` to `app`."""
    app.command()(aging)
