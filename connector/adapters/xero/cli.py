"""`connector auth xero`, added to the main command by the plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from connector.plugins import CommandGroups


def register(groups: CommandGroups) -> None:
    out = groups.out

    @groups.auth.command("xero")
    def auth_xero(
        config: Annotated[Path, typer.Option("--config", "-c", help="The business's TOML config.")],
        paste: Annotated[
            bool,
            typer.Option(
                "--paste", help="Paste the redirect URL instead of listening on 127.0.0.1."
            ),
        ] = False,
    ) -> None:
        """Sign in to Xero, pick the organisation, and keep the tokens in the OS keyring."""
        from connector.adapters.oauth_signin import sign_in
        from connector.adapters.xero.auth import connect_xero
        from connector.adapters.xero.session import XeroSettings
        from connector.credentials import TokenStore

        cfg, settings, tokens = sign_in(
            config,
            paste,
            kind="xero",
            settings_type=XeroSettings,
            app_name="Xero",
            choose="organisation",
            connect=connect_xero,
            out=out,
        )
        facts = TokenStore(cfg.business.name, "xero").company(tokens.company_id)
        what = (
            f'"{facts.name}" ({tokens.company_id}), base currency {facts.home_currency}'
            if facts is not None
            else f"{tokens.company_id} (its settings could not be read now; the first night "
            "that bills reads them)"
        )
        out.print(
            f"Connected {cfg.business.name} to Xero organisation {what}; the tokens are in "
            "the OS keyring.",
            markup=False,
            highlight=False,
        )
        if not settings.tenant_id:  # the line to copy, whole on its own at any width
            out.print("To pin it in the config, add tenant_id to [ledger]:")
            out.print(f'tenant_id = "{tokens.company_id}"', soft_wrap=True, highlight=False)
