"""`connector auth github`, registered into the main command by `connector.cli`."""

from __future__ import annotations

import typer
from rich.console import Console

from connector.sources.github import GitHubSettings, identify, session
from connector.sources.signin import ConfigOpt, connect_tracker

PROMPT = "GitHub personal access token (fine-grained, Issues: read-only)"


def whoami(settings: GitHubSettings, user: str, token: str) -> str:
    return identify(session(settings, token), settings)


def register(auth_app: typer.Typer, sandbox_app: typer.Typer, out: Console) -> None:
    @auth_app.command("github")
    def auth_github(config: ConfigOpt) -> None:
        """Keep a GitHub token for the tracker in the OS keyring."""
        connect_tracker("github", config, out, prompt=PROMPT, whoami=whoami)
