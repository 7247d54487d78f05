"""`connector auth jira`, added to the main command by the plugin."""

from __future__ import annotations

from connector.plugins import CommandGroups
from connector.sources.jira import JiraSettings, session
from connector.sources.signin import ConfigOpt, connect_tracker

PROMPT = "Atlassian API token (id.atlassian.com > Security > API tokens)"


def whoami(settings: JiraSettings, user: str, token: str) -> str:
    me = session(settings, user, token).get("/rest/api/3/myself").data
    return str(me.get("displayName") or me.get("emailAddress"))


def register(groups: CommandGroups) -> None:
    out = groups.out

    @groups.auth.command("jira")
    def auth_jira(config: ConfigOpt) -> None:
        """Keep the Jira Cloud account email and API token in the OS keyring."""
        connect_tracker(
            "jira", config, out, prompt=PROMPT, whoami=whoami, ask_user="Atlassian account email"
        )
