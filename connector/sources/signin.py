"""The steps `connector auth github|jira|asana` share: connecting a business to its tracker with a
token that is checked against the tracker first and then kept in the OS keyring. Each tracker's
package brings its own command, prompt and question of who the token belongs to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape as esc

from connector import config as config_mod
from connector.errors import RetriableTrackerError, TrackerError, UserError
from connector.sources.tokens import save_token

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="The business's TOML config.")]
# (the tracker's settings, user, token) -> who the tracker says the token belongs to; raises
# `TrackerError` when it refuses the token
WhoAmI = Callable[[Any, str, str], str]


def connect_tracker(
    kind: str,
    config: Path,
    out: Console,
    *,
    prompt: str,
    whoami: WhoAmI,
    ask_user: str | None = None,
) -> None:
    """Ask for the token (and first, with `ask_user`, the account it belongs to), check it with
    `whoami`, and keep it in the keyring; a tracker that cannot be reached does not stop it."""
    cfg = config_mod.load(config)
    if cfg.tracker_kind != kind:
        raise UserError(f'{cfg.path}: [tracker] kind is {cfg.tracker_kind!r}, not "{kind}"')
    user = typer.prompt(ask_user) if ask_user else ""
    token = typer.prompt(prompt, hide_input=True).strip()
    if not token:
        raise UserError("no token given; nothing was saved")
    try:
        who: str | None = whoami(cfg.tracker_settings, user, token)
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
