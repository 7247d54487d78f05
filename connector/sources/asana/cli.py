"""`connector auth asana`, added to the main command by the plugin."""

from __future__ import annotations

from connector.plugins import CommandGroups
from connector.sources.asana import AsanaSettings, session
from connector.sources.signin import ConfigOpt, connect_tracker

PROMPT = "Asana personal access token (My settings > Apps > Developer apps)"


def whoami(settings: AsanaSettings, user: str, token: str) -> str:
    return str(session(settings, token).get("/users/me").data["data"].get("name"))


def register(groups: CommandGroups) -> None:
    out = groups.out

    @groups.auth.command("asana")
    def auth_asana(config: ConfigOpt) -> None:
        """Keep an Asana personal access token in the OS keyring."""
        connect_tracker("asana", config, out, prompt=PROMPT, whoami=whoami)
