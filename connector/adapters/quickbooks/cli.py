"""`connector auth quickbooks`, added to the main command by the plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from connector.plugins import CommandGroups


def register(groups: CommandGroups) -> None:
    out = groups.out

    @groups.auth.command("quickbooks")
    def auth_quickbooks(
        config: Annotated[Path, typer.Option("--config", "-c", help="The business's TOML config.")],
        paste: Annotated[
            bool,
            typer.Option(
                "--paste",
                help="Paste the redirect URL instead of listening on 127.0.0.1 (servers).",
            ),
        ] = False,
    ) -> None:
        """Sign in to QuickBooks Online and keep the tokens in the OS keyring."""
        from connector.adapters.oauth_signin import sign_in
        from connector.adapters.quickbooks.auth import connect_quickbooks
        from connector.adapters.quickbooks.session import QuickBooksSettings

        cfg, _, tokens = sign_in(
            config,
            paste,
            kind="quickbooks",
            settings_type=QuickBooksSettings,
            app_name="QuickBooks",
            choose="company",
            connect=connect_quickbooks,
            out=out,
        )
        from connector.credentials import TokenStore

        facts = TokenStore(cfg.business.name, "quickbooks").company(tokens.company_id)
        what = (
            f'"{facts.name}" ({tokens.company_id})'
            if facts is not None
            else f"{tokens.company_id} (its name could not be read now)"
        )
        out.print(
            f"Connected {cfg.business.name} to QuickBooks company {what}; the tokens are in "
            "the OS keyring.",
            markup=False,
            highlight=False,
        )
