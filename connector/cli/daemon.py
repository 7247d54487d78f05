"""`connector run`: the daemon that syncs every business on its own schedule."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from connector import config as config_mod
from connector.cli.common import ConfigDirOpt, OneConfigOpt, pick_configs
from connector.errors import UserError
from connector.logs import LOG_FORMATS


def run(
    config: OneConfigOpt = None,
    config_dir: ConfigDirOpt = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Businesses synced at once.")] = 4,
    run_now: Annotated[
        bool,
        typer.Option(
            "--run-now", help="Sync every business once at start, then keep the schedule."
        ),
    ] = False,
    log_format: Annotated[
        str,
        typer.Option(
            "--log-format",
            help="auto (journal when stderr is systemd's journal, else human), human, journal "
            "(one line per entry with its syslog priority, for journald) or json (one object "
            "per line, for log shippers).",
        ),
    ] = "auto",
    notify_config: Annotated[
        Path | None,
        typer.Option(
            "--notify-config", help="A TOML file with a notify section, told about every run."
        ),
    ] = None,
    tick: Annotated[
        int,
        typer.Option(
            min=1,
            max=60,
            help="Fleet only: seconds between looks for businesses due and for jobs of "
            "workers that stopped answering (a divisor of 60).",
        ),
    ] = 60,
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            help="Fleet only: pick each business's slot as if it were this time (ISO 8601 "
            "with its offset), for rehearsals and tests; give every worker the same.",
        ),
    ] = None,
    serve: Annotated[
        str | None,
        typer.Option(
            "--serve",
            metavar="HOST:PORT",
            help="Also serve the read-only dashboard (as `connector serve`) from this process, "
            "e.g. 127.0.0.1:8080; any address but a loopback one needs the access token.",
        ),
    ] = None,
) -> None:
    """Run as a daemon: sync every business on its own cron schedule until SIGTERM (exits 0).

    With every business's state in one PostgreSQL database this process is a worker of the
    fleet: start as many as wanted, on any machines, with the same config folder."""
    from connector.business_configs import config_files, load_all
    from connector.daemon import Daemon
    from connector.fleet import fleet_url
    from connector.logs import setup_logging

    config, config_dir = pick_configs(config, config_dir)
    _check(log_format, tick)
    fixed = _instant(now) if now is not None else None
    everyone = config_mod.load_notify(notify_config) if notify_config else None
    # A folder with no business configs is refused before logging is pointed at stderr
    paths = config_files(config, config_dir)
    setup_logging(log_format)
    url = fleet_url(b.config for b in load_all(paths).values())
    if url is None and (fixed is not None or tick != 60):
        raise UserError("--now and --tick are for a fleet (every business on one PostgreSQL)")
    if url is not None and run_now:
        raise UserError(
            "--run-now: a fleet syncs each business once per scheduled slot, whichever worker "
            "starts first; to sync a slot now, give every worker the same --now TIME"
        )
    with _dashboard(serve, config, config_dir):
        if url is None:
            Daemon(config, config_dir, workers=workers, run_now=run_now, notify=everyone).start()
            return
        from connector.fleet.jobs import FleetSettings
        from connector.fleet.worker import run_fleet

        run_fleet(FleetSettings(url, config, config_dir, workers, tick, fixed, everyone))


@contextmanager
def _dashboard(serve: str | None, config: Path | None, config_dir: Path | None) -> Iterator[None]:
    """The dashboard in a thread of the daemon while it runs (`--serve`), over the same
    businesses; it only reads their state, so it takes no lock the syncs need."""
    if serve is None:
        yield
        return
    import logging

    from connector.web.readers import Folder
    from connector.web.server import Address, Dashboard

    dashboard = Dashboard(Folder(config, config_dir), Address.parse(serve))
    logging.getLogger("connector.web").info(dashboard.greeting())
    with dashboard:
        yield


def _check(log_format: str, tick: int) -> None:
    if log_format not in LOG_FORMATS:
        raise UserError(
            f"--log-format: expected one of {', '.join(LOG_FORMATS)}, got {log_format!r}"
        )
    if 60 % tick:
        raise UserError(f"--tick: expected a divisor of 60 seconds, got {tick}")


def _instant(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"--now: expected a time like 2026-11-26T02:00:00-06:00, got {text!r}"
        ) from None
    if when.tzinfo is None:
        raise UserError(f"--now: {text!r} has no offset; add one (Z, +00:00, -06:00 ...)")
    return when
