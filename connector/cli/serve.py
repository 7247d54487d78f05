"""`connector serve`: the read-only dashboard of a folder of businesses (or of one), until
Ctrl-C or SIGTERM. It reads the state databases as `connector status` does and never writes
them, never calls a ledger or a tracker, and never shows a secret."""

from __future__ import annotations

import contextlib
import signal
from typing import Annotated

import typer

from connector.cli.common import AsOfOpt, ConfigDirOpt, OneConfigOpt, out, parse_as_of, pick_configs
from connector.web import DEFAULT_HOST, DEFAULT_PORT


def serve(
    config: OneConfigOpt = None,
    config_dir: ConfigDirOpt = None,
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on. Any address but a loopback one (127.0.0.1, ::1) needs "
            "the access token (--new-token); from another computer, an SSH tunnel to the "
            "default needs none."
        ),
    ] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = (
        DEFAULT_PORT
    ),
    as_of: AsOfOpt = None,
    new_token: Annotated[
        bool,
        typer.Option(
            "--new-token",
            help="Make a new access token, keep it in the OS keyring in place of the old one, "
            "print it once, and exit.",
        ),
    ] = False,
) -> None:
    """Serve the dashboard until Ctrl-C: every business's books, and per business its
    contracts, invoices, aging, forecast and the plan for the next night, as web pages with
    filters and CSV downloads. Read-only: it writes no state, calls no ledger or tracker."""
    from connector.web import access
    from connector.web.readers import Folder
    from connector.web.server import Address, Dashboard

    if new_token:
        token = access.new_token()
        out.print(
            "New dashboard access token (kept in the keyring; give it as the password when "
            "the browser asks, any user name):",
            highlight=False,
        )
        out.print(token, markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(0)
    config, config_dir = pick_configs(config, config_dir)
    folder = Folder(config, config_dir, parse_as_of(as_of))
    dashboard = Dashboard(folder, Address(host, port))
    out.print(dashboard.greeting(), markup=False, highlight=False, soft_wrap=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # the same clean end as Ctrl-C
    with contextlib.suppress(KeyboardInterrupt):
        dashboard.serve_forever()
    raise typer.Exit(0)


def register(app: typer.Typer) -> None:
    """Add `connector serve` to `app`."""
    app.command()(serve)
