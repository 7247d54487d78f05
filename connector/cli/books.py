"""`connector plan`, `sync` and `status`: what one business's books will get, get, and hold."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated

import typer
from rich.progress import Progress

from connector import config as config_mod
from connector import exports, render
from connector.cli.common import (
    AsOfOpt,
    ConfigDirOpt,
    ConfigOpt,
    Format,
    FormatOpt,
    JsonOpt,
    OneConfigOpt,
    about,
    err,
    out,
    parse_as_of,
    pick_configs,
    pick_format,
    print_json,
    tracker_settings,
)
from connector.fleet.by_hand import shared_budgets
from connector.models import Skip
from connector.perf import paused_gc
from connector.sync import billing, preview, run_once
from connector.sync.plan_stream import Documents, show_streamed, write_streamed
from connector.sync.report import indented, write_plan_json


def plan(
    config: ConfigOpt,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
    output: FormatOpt = None,
) -> None:
    """Show what the next sync would do. Writes nothing anywhere and calls no ledger."""
    shown = pick_format(output, as_json)
    with about(config):
        cfg = config_mod.load(config)
        with paused_gc():  # a large plan: 100,000s of small records, decided and printed
            with tracker_settings(cfg), shared_budgets(cfg.state_url, "connector plan"):
                day = parse_as_of(as_of) or datetime.now(cfg.zone).date()
                problems = _streamed(cfg, day, shown)  # nothing billed yet: a contract at a time
                if problems is not None:
                    raise typer.Exit(1 if problems else 0)
                day, decisions = preview(cfg, day)
            _print_plan(cfg, day, decisions, shown)
    raise typer.Exit(1 if decisions.problems else 0)


def _streamed(cfg: config_mod.Config, day: date, shown: Format) -> bool | None:
    """The plan shown a contract at a time (`plan_stream`): True when it has problems, None
    when it cannot be (nothing was shown: the plan is made whole)."""
    if shown is not Format.TABLE:
        return write_streamed(cfg, day, sys.stdout.write, csv=shown is Format.CSV)
    name = cfg.business.name

    def table(documents: Documents, skipped: Iterator[Skip]) -> None:
        render.plan_items(out, name, day, documents, skipped)

    return show_streamed(cfg, day, table)


def _print_plan(
    cfg: config_mod.Config, day: date, decisions: billing.Decisions, shown: Format
) -> None:
    from connector.sync.plan import books_in_order

    invoices, skipped = decisions.invoices, decisions.skipped
    if shown is Format.CSV:
        rows = exports.plan_rows(cfg.business.name, day, invoices, skipped)
        exports.write_csv(sys.stdout.write, exports.PLAN_COLUMNS, rows)
        return
    books = books_in_order(cfg, invoices)  # who puts the tax on; emailed or not
    if shown is Format.JSON:  # written a document at a time, as print_json would print it whole
        write_plan_json(sys.stdout.write, cfg.business.name, day, invoices, skipped, books)
    else:
        render.plan(out, cfg.business.name, day, invoices, skipped, decisions.caveats, books)


# The engine's log lines that the sync's own report prints after it: on a terminal, where no
# logging is set up, Python would print them on stderr too, so each problem came twice.
REPORTED = frozenset({"needs attention: %s", "stopped for this business: %s"})


class _Reported(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in REPORTED


@contextmanager
def _said_once() -> Iterator[None]:
    engine_log, reported = logging.getLogger("connector.sync"), _Reported()
    engine_log.addFilter(reported)
    try:
        yield
    finally:
        engine_log.removeFilter(reported)


def sync(config: ConfigOpt, as_of: AsOfOpt = None) -> None:
    """Run one sync: push new invoices exactly once, pull payment status back."""
    with about(config):
        cfg = config_mod.load(config)
        with (
            tracker_settings(cfg),
            shared_budgets(cfg.state_url, "connector sync"),
            _said_once(),
            Progress(console=err, transient=True) as bar,
        ):
            task = bar.add_task("Pushing invoices", total=None)

            def show(step: str, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            report = run_once(cfg, as_of=parse_as_of(as_of), progress=show)
    render.sync(out, err, report, cfg.path)
    raise typer.Exit(report.exit_code)


def status(
    config: OneConfigOpt = None,
    config_dir: ConfigDirOpt = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
    output: FormatOpt = None,
    every: Annotated[
        bool,
        typer.Option(
            "--all",
            help=f"List every invoice, also in books of more than {render.SUMMARY_AT} "
            "invoices (those show only the open and problem ones). JSON and CSV always have "
            "them all.",
        ),
    ] = False,
) -> None:
    """What is billed, paid, outstanding and overdue, and what needs a person: per contract and
    invoice for one business, or one line per business for a folder of them. Exits 1 when
    something needs a person or a business cannot load, as plan and sync do."""
    from connector.business_configs import config_files
    from connector.overview import CannotLoad, business_status, overview

    shown = pick_format(output, as_json)
    config, config_dir = pick_configs(config, config_dir)  # or the folder in $CONNECTOR_CONFIG_DIR
    day = parse_as_of(as_of)
    if config is not None:
        with about(config), paused_gc():  # large books: 100,000s of small records
            books = business_status(config_mod.load(config), day, forecast=True)
            if shown is Format.JSON:  # print_json's text, by the indenter that makes no cycles
                sys.stdout.write(indented(books.to_json()) + "\n")
            elif shown is Format.CSV:
                exports.write_csv(
                    sys.stdout.write, exports.STATUS_COLUMNS, exports.status_rows(books)
                )
            else:
                render.status(out, books, every=every)
        raise typer.Exit(1 if books.attention else 0)
    assert config_dir is not None
    entries = overview(config_files(None, config_dir), day)
    if shown is Format.JSON:
        print_json([e.to_json() for e in entries])
    elif shown is Format.CSV:
        rows = (
            row
            for e in entries
            for row in (
                exports.attention_rows(e.config, None, e.attention)
                if isinstance(e, CannotLoad)
                else exports.status_rows(e)
            )
        )
        exports.write_csv(sys.stdout.write, exports.STATUS_COLUMNS, rows)
    else:
        render.overview(out, entries)
    raise typer.Exit(1 if any(e.attention for e in entries) else 0)
