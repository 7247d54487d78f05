"""`connector auth ...`: connecting a business, once. The SMTP password is here; each ledger and
tracker plugin adds its own sign-in (see `connector.cli.add_plugin_commands`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from connector import config as config_mod
from connector.cli.common import out
from connector.errors import UserError

auth_app = typer.Typer(
    no_args_is_help=True, help="Connect a business to its ledger or tracker, once."
)


@auth_app.command("smtp")
def auth_smtp(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="One business.")] = None,
    notify_config: Annotated[
        Path | None,
        typer.Option(
            "--notify-config", help="The daemon-wide notify file (see run --notify-config)."
        ),
    ] = None,
) -> None:
    """Keep the SMTP password for notification emails in the OS keyring."""
    from connector.notify import DAEMON_SMTP_KEY, save_smtp_password

    if (config is None) == (notify_config is None):
        raise UserError("give exactly one of --config FILE or --notify-config FILE")
    if config is not None:
        cfg = config_mod.load(config)
        settings, key, where = cfg.notify, cfg.business.name, cfg.path
    else:
        assert notify_config is not None
        settings, key, where = config_mod.load_notify(notify_config), DAEMON_SMTP_KEY, notify_config
    if not settings.smtp_username:
        raise UserError(f"{where}: [notify] smtp_username is not set; no password is needed")
    password = typer.prompt(f"SMTP password for {settings.smtp_username}", hide_input=True)
    save_smtp_password(key, password)
    out.print("Saved in the OS keyring.")
