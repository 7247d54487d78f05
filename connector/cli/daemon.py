"""`connector run`: the daemon that syncs every business on its own schedule."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from connector import config as config_mod
from connector.errors import UserError


def run(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="One business.")] = None,
    config_dir: Annotated[
        Path | None, typer.Option("--config-dir", help="Every *.toml in this folder is a business.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Businesses synced at once.")] = 4,
    run_now: Annotated[
        bool,
        typer.Option(
            "--run-now", help="Sync every business once at start, then keep the schedule."
        ),
    ] = False,
    log_format: Annotated[
        str, typer.Option("--log-format", help="human or json (for log shippers).")
    ] = "human",
    notify_config: Annotated[
        Path | None,
        typer.Option(
            "--notify-config", help="A TOML file with a notify section, told about every run."
        ),
    ] = None,
) -> None:
    """Run as a daemon: sync every business on its own cron schedule until SIGTERM (exits 0)."""
    from connector.daemon import Daemon, config_files
    from connector.logs import setup_logging

    if (config is None) == (config_dir is None):
        raise UserError("give exactly one of --config FILE or --config-dir DIR")
    if log_format not in ("human", "json"):
        raise UserError(f"--log-format: expected human or json, got {log_format!r}")
    everyone = config_mod.load_notify(notify_config) if notify_config else None
    # A folder with no business configs is refused before logging is pointed at stderr
    config_files(config, config_dir)
    setup_logging(log_format)
    Daemon(config, config_dir, workers=workers, run_now=run_now, notify=everyone).start()
