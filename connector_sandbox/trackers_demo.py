"""The tracker stage of `connector demo --tracker KIND`: the example milestones served by a
local GitHub, Jira or Asana sandbox instead of the milestones file.

`tracker_section` enters the example milestones the way a bookkeeper would in that tracker (a
billing block, custom fields, an approval subtask) and returns the `[tracker]` table pointing at
the sandbox; `connect` stores the sandbox's token exactly as `connector auth KIND` does. The
demo then bills exactly what it bills from the file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from connector.sources.tokens import save_token
from connector_sandbox.asana import TOKEN as ASANA_TOKEN
from connector_sandbox.asana import AsanaPerson, AsanaSandbox
from connector_sandbox.demo_stage import SandboxStage
from connector_sandbox.github import TOKEN as GITHUB_TOKEN
from connector_sandbox.github import GitHubPerson, GitHubSandbox
from connector_sandbox.jira import EMAIL as JIRA_EMAIL
from connector_sandbox.jira import TOKEN as JIRA_TOKEN
from connector_sandbox.jira import JiraPerson, JiraSandbox

KINDS = ("github", "jira", "asana")
GITHUB_REPO = "northwind/client-work"


def example_records(path: Path) -> list[dict[str, Any]]:
    """The [[milestones]] of a file-source TOML file, as plain records."""
    return list(tomllib.loads(path.read_text(encoding="utf-8")).get("milestones", []))


class TrackerDemo(SandboxStage[Any]):
    def __init__(self, kind: str, port: int = 0):
        if kind not in KINDS:
            raise ValueError(f"expected one of {', '.join(KINDS)}, got {kind!r}")
        self.kind = kind
        self.sandbox: Any = {"github": GitHubSandbox, "jira": JiraSandbox, "asana": AsanaSandbox}[
            kind
        ](port=port)
        self.person: Any = None

    def seed(self) -> None:
        """The person who enters the example milestones, once the sandbox is up."""
        if self.kind == "github":
            self.person = GitHubPerson(self.sandbox, GITHUB_REPO)
        elif self.kind == "jira":
            self.person = JiraPerson(self.sandbox, "NW")
        else:
            # the example's fixed amounts are all on its EUR contract (the USD one bills by
            # percent), and an Asana currency field holds one currency
            self.person = AsanaPerson(self.sandbox, "Northwind client work", currency="EUR")

    def tracker_section(self, example: Path) -> str:
        self.person.seed(example_records(example))
        return self.section()

    def section(self) -> str:
        """The [tracker] table for this sandbox, with a comment per key."""
        if self.kind == "github":
            return (
                "[tracker]\n"
                'kind = "github"\n'
                f'repos = ["{GITHUB_REPO}"]\n'
                f'api_url = "{self.url}"           # the local GitHub sandbox\n'
            )
        if self.kind == "jira":
            return (
                "[tracker]\n"
                'kind = "jira"\n'
                'site = "northwind"\n'
                f'api_url = "{self.url}"           # the local Jira sandbox\n'
                "jql = 'project = NW AND issuetype = \"Billing Milestone\"'\n"
                "\n[tracker.fields]\n"
                'id = "Milestone ID"               # keeps the ids the milestones file used\n'
                'terms_days = "Payment terms (days)"\n'
            )
        return (
            "[tracker]\n"
            'kind = "asana"\n'
            f'projects = ["{self.person.project}"]\n'
            f'api_url = "{self.url}/api/1.0"   # the local Asana sandbox\n'
            "\n[tracker.fields]\n"
            'id = "Milestone ID"                # keeps the ids the milestones file used\n'
            'terms_days = "Payment terms (days)"\n'
        )

    def credentials(self) -> tuple[str, str]:
        """(user, token) of the sandbox: its own fixed test values, nobody's secret."""
        return {
            "github": ("", GITHUB_TOKEN),
            "jira": (JIRA_EMAIL, JIRA_TOKEN),
            "asana": ("", ASANA_TOKEN),
        }[self.kind]

    def connect(self, business: str) -> None:
        user, token = self.credentials()
        save_token(business, self.kind, token, user)
