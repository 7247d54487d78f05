"""`connector status` for one business or a folder of them: the books, the last run, and
everything that needs a person, including what only the keyring knows (a connection about to
lapse). Reads only: nothing is created, migrated or sent."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from connector import config as config_mod
from connector.doctor import credentials_warning
from connector.errors import ConnectorError
from connector.sync import state as st
from connector.sync.status import status_data


def business_status(cfg: config_mod.Config, as_of: date | None) -> dict[str, Any]:
    day = as_of or datetime.now(cfg.zone).date()
    state = st.State.open(cfg.state_url, cfg.business.name, path=cfg.state_path, read_only=True)
    data = status_data(cfg.business.name, cfg.contracts, state, day)
    extra: list[str] = []
    last = state.last_run()
    if last and last["outcome"] == "failed":
        problems = json.loads(last["problems"] or "[]")
        extra.append(f"the last sync failed: {problems[-1] if problems else 'see the log'}")
    warning = credentials_warning(cfg)
    if warning:
        extra.append(warning)
    data["attention"] = extra + data["attention"]
    if data["last_run"]:  # shown beside "as of" (a local day), so in local time too
        for key in ("started_at", "finished_at"):
            if data["last_run"][key]:
                moment = datetime.fromisoformat(data["last_run"][key]).astimezone(cfg.zone)
                data["last_run"][key] = moment.isoformat(timespec="minutes")
    return data


def overview(paths: list[Path], as_of: date | None) -> list[dict[str, Any]]:
    """One entry per config file; a file that cannot be read says why instead."""
    out: list[dict[str, Any]] = []
    for path in paths:
        try:
            out.append(business_status(config_mod.load(path), as_of))
        except ConnectorError as exc:
            out.append({"business": None, "config": str(path), "error": str(exc)})
    return out
