"""`connector auth jira`, registered into the main command by `connector.cli`."""

from __future__ import annotations

import typer
from rich.console import Console

from connector.sources.jira import JiraSettings, session
from connector.sources.signin import ConfigOpt, connect_tracker

PROMPT = "Atlassian API token (id.atlassian.com > Security > API tokens)"


def whoami(settings: JiraSettings, user: str, token: str) -> str:
    me = session(settings, user, token).get("/rest/api/3/myself").data
    return str(me.get("displayName") or me.get("emailAddress"))


def register(auth_app: typer.Typer, sandbox_app: typer.Typer, out: Console) -> None:
    @auth_app.command("jira")
    def auth_jira(config: ConfigOpt) -> None:
        """Keep the Jira Cloud account email and API token in the OS keyring."""
        connect_tracker(
            "jira", config, out, prompt=PROMPT, whoami=whoami, ask_user="Atlassian account email"
        )
