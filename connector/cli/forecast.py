"""`connector forecast`: expected receipts per week and per currency, early / expected / late,
with the items behind each figure, for one business or a folder of them; `--backtest WEEKS`
replays the forecast made that many weeks ago against what was paid; `--chart` draws it.

Reads each business's state read-only and its tracker read-only (a complete read; the state's
cache is not written); never calls a ledger. The figures are `connector.forecast`'s.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from connector import config as config_mod
from connector.cli.common import (
    AsOfOpt,
    ConfigDirOpt,
    OneConfigOpt,
    out,
    parse_as_of,
    pick_configs,
    print_json,
    tracker_settings,
)
from connector.errors import ConnectorError, UserError
from connector.forecast import chart, render
from connector.forecast.backtest import Backtest, backtest
from connector.forecast.compute import forecast as compute
from connector.forecast.load import known_from
from connector.forecast.records import Forecast
from connector.forecast.total import across

MAX_WEEKS = 104  # two years of weeks: past that, planned dates say little


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


FormatOpt = Annotated[
    Format,
    typer.Option(
        "--format",
        case_sensitive=False,
        help="table for people, json for programs, csv for a spreadsheet.",
    ),
]
WeeksOpt = Annotated[
    int, typer.Option("--weeks", help=f"How many weeks to forecast, 1 to {MAX_WEEKS}.")
]
ChartOpt = Annotated[
    Path | None,
    typer.Option("--chart", help="Also draw the weeks to FILE.svg, or FILE.png (Chromium)."),
]
BacktestOpt = Annotated[
    int | None,
    typer.Option(
        "--backtest",
        help="Replay the forecast made this many weeks ago against what was paid since "
        "(over those weeks; --weeks is not used then).",
        show_default=False,
    ),
]


@dataclass(frozen=True, slots=True)
class CannotForecast:
    """A business of the folder whose config or state cannot be read, and why."""

    config: str
    error: str

    def to_json(self) -> dict[str, str | None]:
        return {"business": None, "config": self.config, "error": self.error}


def _weeks(value: int, option: str) -> int:
    if not 1 <= value <= MAX_WEEKS:
        raise UserError(
            f"{option}: expected a whole number of weeks from 1 to {MAX_WEEKS}, got {value}"
        )
    return value


def _chart_target(path: Path | None) -> Path | None:
    if path is not None and path.suffix.lower() not in (".svg", ".png"):
        raise UserError(f"--chart {path}: expected a file ending in .svg or .png")
    return path


def _one(
    cfg: config_mod.Config, day: date | None, weeks: int, replay: int | None
) -> Forecast | Backtest:
    as_of = day or datetime.now(cfg.zone).date()
    with tracker_settings(cfg):
        known = known_from(cfg)
    if replay is not None:
        return backtest(known, as_of, replay)
    return compute(known, as_of, weeks)


def forecast(
    config: OneConfigOpt = None,
    config_dir: ConfigDirOpt = None,
    weeks: WeeksOpt = 13,
    as_of: AsOfOpt = None,
    output: FormatOpt = Format.TABLE,
    chart_file: ChartOpt = None,
    replay: BacktestOpt = None,
) -> None:
    """Expected receipts per week and per currency (never added together), each week with an
    early, expected and late figure and the invoices and milestones behind them: open invoices
    by each customer's payment habit, milestones not billed yet by billing itself run forward
    over their planned dates. --backtest WEEKS measures the forecast made WEEKS weeks ago
    against what was paid. Exits 1 when something is left out of the figures (the tracker
    could not be read, a business cannot load)."""
    from connector.business_configs import config_files

    _weeks(weeks, "--weeks")
    if replay is not None:
        _weeks(replay, "--backtest")
    target = _chart_target(chart_file)
    day = parse_as_of(as_of)
    config, config_dir = pick_configs(config, config_dir)
    if config is not None:
        entries: list[Forecast | Backtest | CannotForecast] = [
            _one(config_mod.load(config), day, weeks, replay)
        ]
    else:
        assert config_dir is not None
        entries = []
        for path in config_files(None, config_dir):
            try:
                entries.append(_one(config_mod.load(path), day, weeks, replay))
            except ConnectorError as exc:
                entries.append(CannotForecast(str(path), str(exc)))
    folder = config_dir is not None
    _show(entries, output, folder)
    if target is not None:
        forecasts = [e.then if isinstance(e, Backtest) else e for e in entries]
        made = [f for f in forecasts if isinstance(f, Forecast)]
        whole = _total(made) if folder else (made[0] if made else None)
        if whole is not None:
            chart.write(whole, target)
    left_out = any(
        isinstance(e, CannotForecast) or (e.then.caveats if isinstance(e, Backtest) else e.caveats)
        for e in entries
    )
    raise typer.Exit(1 if left_out else 0)


def _show(
    entries: list[Forecast | Backtest | CannotForecast], output: Format, folder: bool
) -> None:
    made = [e for e in entries if not isinstance(e, CannotForecast)]
    forecasts = [e for e in made if isinstance(e, Forecast)]
    tests = [e for e in made if isinstance(e, Backtest)]
    if output is Format.JSON:
        if not folder:
            print_json(entries[0].to_json())
            return
        data: dict[str, object] = {"businesses": [e.to_json() for e in entries]}
        whole = _total(forecasts)
        if whole is not None:
            data["totals"] = whole.to_json()["currencies"]
        print_json(data)
        return
    if output is Format.CSV:
        sys.stdout.write(render.backtest_csv(tests) if tests else render.forecast_csv(forecasts))
        for e in entries:
            if isinstance(e, CannotForecast):
                sys.stderr.write(f"cannot load: {e.config}: {e.error}\n")
        return
    for e in entries:
        if isinstance(e, Backtest):
            render.backtest(out, e)
        elif isinstance(e, Forecast):
            render.forecast(out, e)
        else:
            out.print(f"cannot load: {e.config}: {e.error}", highlight=False, markup=False)
    whole = _total(forecasts) if folder and len(forecasts) > 1 else None
    if whole is not None:
        render.forecast(out, whole)


def _total(forecasts: list[Forecast]) -> Forecast | None:
    """The folder's weeks added up, when its businesses share the as-of day (they do with
    --as-of; without it each is forecast from today in its own time zone)."""
    if not forecasts or len({f.as_of for f in forecasts}) != 1:
        return None
    return across(forecasts)


def register(app: typer.Typer) -> None:
    """Add `connector forecast` to `app`."""
    app.command()(forecast)
