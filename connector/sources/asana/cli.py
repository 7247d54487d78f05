"""`connector auth asana`, registered into the main command by `connector.cli`."""

from __future__ import annotations

import typer
from rich.console import Console

from connector.sources.asana import AsanaSettings, session
from connector.sources.signin import ConfigOpt, connect_tracker

PROMPT = "Asana personal access token (My settings > Apps > Developer apps)"


def whoami(settings: AsanaSettings, user: str, token: str) -> str:
    return str(session(settings, token).get("/users/me").data["data"].get("name"))


def register(auth_app: typer.Typer, sandbox_app: typer.Typer, out: Console) -> None:
    @auth_app.command("asana")
    def auth_asana(config: ConfigOpt) -> None:
        """Keep an Asana personal access token in the OS keyring."""
        connect_tracker("asana", config, out, prompt=PROMPT, whoami=whoami)
