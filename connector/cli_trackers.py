"""`connector auth github|jira|asana` and `connector sandbox tracker`: connecting a business to
its tracker (a token kept in the OS keyring, checked against the tracker first) and serving a
local tracker holding the example milestones, for trying."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape as esc

from connector import config as config_mod
from connector.errors import RetriableTrackerError, TrackerError, UserError
from connector.sources.tokens import save_token

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="The business's TOML config.")]
PROMPTS = {
    "github": "GitHub personal access token (fine-grained, Issues: read-only)",
    "jira": "Atlassian API token (id.atlassian.com > Security > API tokens)",
    "asana": "Asana personal access token (My settings > Apps > Developer apps)",
}


def whoami(cfg: config_mod.Config, user: str, token: str) -> str:
    """Who the tracker says the token belongs to; `TrackerError` when it refuses it."""
    from connector.sources import asana, github, jira

    settings = cfg.tracker_settings
    if isinstance(settings, github.GitHubSettings):
        return github.identify(github.session(settings, token), settings)
    if isinstance(settings, jira.JiraSettings):
        me = jira.session(settings, user, token).get("/rest/api/3/myself").data
        return str(me.get("displayName") or me.get("emailAddress"))
    if isinstance(settings, asana.AsanaSettings):
        return str(asana.session(settings, token).get("/users/me").data["data"].get("name"))
    raise UserError(f"{cfg.path}: [tracker] kind {cfg.tracker_kind!r} takes no token")


def connect_tracker(kind: str, config: Path, out: Console) -> None:
    cfg = config_mod.load(config)
    if cfg.tracker_kind != kind:
        raise UserError(f'{cfg.path}: [tracker] kind is {cfg.tracker_kind!r}, not "{kind}"')
    user = typer.prompt("Atlassian account email") if kind == "jira" else ""
    token = typer.prompt(PROMPTS[kind], hide_input=True).strip()
    if not token:
        raise UserError("no token given; nothing was saved")
    try:
        who = whoami(cfg, user, token)
    except TrackerError as exc:
        if not isinstance(exc, RetriableTrackerError):
            raise UserError(f"{kind} refused the token, so it was not saved: {exc}") from None
        out.print(
            f"[yellow]Could not reach {kind} to check the token ({esc(str(exc))}); saved anyway."
        )
        who = None
    save_token(cfg.business.name, kind, token, user)
    shown = f" as {who}" if who else ""
    out.print(f"Connected {cfg.business.name} to {kind}{shown}; the token is in the OS keyring.")


def serve_tracker(kind: str, port: int, out: Console) -> None:
    from connector.demo import EXAMPLE
    from connector_sandbox.trackers_demo import TrackerDemo

    demo = TrackerDemo(kind, port=port)
    with demo:
        section = demo.tracker_section(EXAMPLE / "milestones.toml")
        user, token = demo.credentials()
        out.print(f"{kind} sandbox on {demo.url}, holding the example milestones")
        # the sandbox's own fixed test token, not anybody's secret: `connector auth` needs it
        out.print(
            f"  token for `connector auth {kind}`: {token}" + (f" (email {user})" if user else "")
        )
        out.print("  \\[tracker] section:\n")
        out.print(section, markup=False, highlight=False)
        demo.sandbox.serve_forever()


def register(auth_app: typer.Typer, sandbox_app: typer.Typer, out: Console) -> None:
    @auth_app.command("github")
    def auth_github(config: ConfigOpt) -> None:
        """Keep a GitHub token for the tracker in the OS keyring."""
        connect_tracker("github", config, out)

    @auth_app.command("jira")
    def auth_jira(config: ConfigOpt) -> None:
        """Keep the Jira Cloud account email and API token in the OS keyring."""
        connect_tracker("jira", config, out)

    @auth_app.command("asana")
    def auth_asana(config: ConfigOpt) -> None:
        """Keep an Asana personal access token in the OS keyring."""
        connect_tracker("asana", config, out)

    @sandbox_app.command("tracker")
    def sandbox_tracker(
        kind: Annotated[str, typer.Option("--kind", help="github, jira or asana.")],
        port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8766,
    ) -> None:
        """Serve a local GitHub, Jira or Asana holding the example milestones until Ctrl-C."""
        if kind not in ("github", "jira", "asana"):
            raise UserError(f"--kind: expected github, jira or asana, got {kind!r}")
        serve_tracker(kind, port, out)
