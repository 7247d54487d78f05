"""`connector auth xero` and `connector sandbox xero`, registered into the main command by
`connector.cli`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from connector.errors import UserError


def register(auth_app: typer.Typer, sandbox_app: typer.Typer, out: Console) -> None:
    @auth_app.command("xero")
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
        from connector import config as config_mod
        from connector.adapters.xero_session import XeroSettings
        from connector.auth_flow import listen_in_background
        from connector.credentials import TokenStore
        from connector.xero_auth import connect_xero

        cfg = config_mod.load(config)
        settings = cfg.ledger_settings
        if not isinstance(settings, XeroSettings):
            raise UserError(f'{cfg.path}: [ledger] kind is {cfg.ledger_kind!r}, not "xero"')
        store = TokenStore(cfg.business.name, "xero")
        known = store.load()
        client_id = known.client_id if known else typer.prompt("Xero app client ID")
        secret = known.client_secret if known else typer.prompt("Client secret", hide_input=True)
        waiting = None if paste else listen_in_background(settings.redirect_uri)

        def redirect(_: str) -> str:
            if waiting is None:
                return typer.prompt("Paste the address the browser was sent to")
            thread, box = waiting
            thread.join()
            if "error" in box:
                raise UserError(box["error"])
            return box["url"]

        tokens = connect_xero(
            settings,
            store,
            client_id,
            secret,
            lambda url: out.print(
                f"Open this address, sign in and choose the organisation:\n{url}"
            ),
            redirect,
        )
        pinned = (
            ""
            if settings.tenant_id
            else (f'; add tenant_id = "{tokens.company_id}" to [ledger] to pin it in the config')
        )
        out.print(
            f"Connected {cfg.business.name} to Xero organisation {tokens.company_id}; the "
            f"tokens are in the OS keyring{pinned}."
        )

    @sandbox_app.command("xero")
    def sandbox_xero(
        port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8766,
    ) -> None:
        """Serve a local Xero (identity and Accounting API) until Ctrl-C."""
        from connector.sandbox.xero import main as serve

        serve(port)
