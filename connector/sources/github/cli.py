"""`connector auth github`, added to the main command by the plugin."""

from __future__ import annotations

from connector.plugins import CommandGroups
from connector.sources.github import GitHubSettings, identify, session
from connector.sources.signin import ConfigOpt, connect_tracker

PROMPT = "GitHub personal access token (fine-grained, Issues: read-only)"


def whoami(settings: GitHubSettings, user: str, token: str) -> str:
    return identify(session(settings, token), settings)


def register(groups: CommandGroups) -> None:
    out = groups.out

    @groups.auth.command("github")
    def auth_github(config: ConfigOpt) -> None:
        """Keep a GitHub token for the tracker in the OS keyring."""
        connect_tracker("github", config, out, prompt=PROMPT, whoami=whoami)
