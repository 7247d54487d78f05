"""The `connector` command. Each error type maps to one message and an exit code:
0 ok, 1 finished but some items need a person, 2 could not run.
"""

from __future__ import annotations

import json
import sys
import traceback
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from connector import config as config_mod
from connector.errors import UserError
from connector.models import PROBLEM_REASONS
from connector.sync import preview, run_once
from connector.sync import state as st
from connector.sync.report import plan_json, status_data

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Turn project milestones into ledger invoices, exactly once.",
)
config_app = typer.Typer(no_args_is_help=True, help="Check a business config file.")
app.add_typer(config_app, name="config")

out = Console()
err = Console(stderr=True)
_debug = {"on": False}

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="The business's TOML config.")]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Decide as of this date (YYYY-MM-DD) instead of today in the business's time zone.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False) -> None:
    _debug["on"] = debug


def _as_of(raw: str | None) -> date | None:
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise UserError(f"--as-of: expected a date like 2026-11-26, got {raw!r}") from None


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


@app.command()
def plan(config: ConfigOpt, as_of: AsOfOpt = None, as_json: JsonOpt = False) -> None:
    """Show what the next sync would do. Writes nothing anywhere and calls no ledger."""
    cfg = config_mod.load(config)
    day, decisions = preview(cfg, _as_of(as_of))
    if as_json:
        _print_json(plan_json(cfg.business.name, day, decisions.invoices, decisions.skipped))
    else:
        out.print(f"[bold]{cfg.business.name}[/bold]: plan as of {day}")
        if decisions.invoices:
            table = Table(
                "Contract",
                "Kind",
                "Milestones",
                "Date",
                "Due",
                "Line",
                "Amount",
                title="Invoices to create",
                title_justify="left",
            )
            for inv in decisions.invoices:
                first = True
                for line in inv.lines:
                    table.add_row(
                        inv.contract if first else "",
                        str(inv.kind) if first else "",
                        ", ".join(inv.milestones) if first else "",
                        inv.date.isoformat() if first else "",
                        inv.due_date.isoformat() if first else "",
                        line.description,
                        f"{line.amount} {inv.currency}",
                    )
                    first = False
                table.add_row(
                    "",
                    "",
                    "",
                    "",
                    "",
                    "[bold]Total[/bold]",
                    f"[bold]{inv.total} {inv.currency}[/bold]",
                    end_section=True,
                )
            out.print(table)
        else:
            out.print("No invoices to create.")
        _print_skipped(decisions.skipped)
    raise typer.Exit(1 if decisions.problems else 0)


def _print_skipped(skipped: list[Any]) -> None:
    if not skipped:
        return
    table = Table(
        "Milestone", "Contract", "Reason", "Why", title="Not billed", title_justify="left"
    )
    for s in skipped:
        style = "red" if s.reason in PROBLEM_REASONS else ""
        table.add_row(
            s.milestone,
            s.contract or "",
            f"[{style}]{s.reason}[/{style}]" if style else str(s.reason),
            s.message,
        )
    out.print(table)


@app.command()
def sync(config: ConfigOpt, as_of: AsOfOpt = None) -> None:
    """Run one sync: push new invoices exactly once, pull payment status back."""
    cfg = config_mod.load(config)
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("Pushing invoices", total=None)

        def show(step: str, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = run_once(cfg, as_of=_as_of(as_of), progress=show)
    out.print(
        f"[bold]{report.business}[/bold]: sync as of {report.as_of} "
        f"(run {report.run_id}): {report.outcome}"
    )
    for row, number in report.created:
        total = st.from_minor(row["total_minor"], row["currency"])
        out.print(
            f"  created {number}: {row['contract']} {row['kind']} "
            f"{', '.join(json.loads(row['milestones']))} {total} {row['currency']}"
        )
    for row, number in report.voided:
        out.print(f"  voided {number}: {row['contract']}")
    counts = report.counts()
    out.print(
        f"  {counts['invoices_created']} invoice(s) created, "
        f"{counts['in_doubt_resolved']} earlier push(es) confirmed, "
        f"{counts['payments_pulled']} payment(s) seen, {counts['skipped']} milestone(s) "
        "not billed"
    )
    for problem in report.problems():
        err.print(f"  [red]needs attention:[/red] {problem}")
    raise typer.Exit(report.exit_code)


@app.command()
def status(config: ConfigOpt, as_of: AsOfOpt = None, as_json: JsonOpt = False) -> None:
    """What is billed, paid, outstanding and overdue, per contract and per invoice."""
    cfg = config_mod.load(config)
    day = _as_of(as_of) or datetime.now(cfg.zone).date()
    state = st.State.open(cfg.state_url, cfg.business.name, path=cfg.state_path, read_only=True)
    data = status_data(cfg.business.name, cfg.contracts, state, day)
    if as_json:
        _print_json(data)
        raise typer.Exit(0)
    last = data["last_run"]
    out.print(
        f"[bold]{data['business']}[/bold] as of {data['as_of']}; last run: "
        + (f"{last['finished_at'] or last['started_at']} ({last['outcome']})" if last else "never")
    )
    table = Table(
        "Contract",
        "Customer",
        "Value",
        "Billed",
        "Paid",
        "Outstanding",
        "Overdue",
        "Retainage held",
        title="Contracts",
        title_justify="left",
    )
    for c in data["contracts"]:
        table.add_row(
            c["contract"],
            c["customer"] or "",
            c["value"] or "",
            c["billed"],
            c["paid"],
            c["outstanding"],
            c["overdue"],
            c["retainage_held"],
        )
    out.print(table)
    if data["invoices"]:
        table = Table(
            "Invoice",
            "Contract",
            "Kind",
            "Milestones",
            "Total",
            "Due",
            "Paid",
            "Status",
            "Days overdue",
            title="Invoices",
            title_justify="left",
        )
        for i in data["invoices"]:
            table.add_row(
                i["number"],
                i["contract"],
                i["kind"],
                ", ".join(i["milestones"]),
                f"{i['total']} {i['currency']}",
                i["due_date"],
                i["paid"],
                i["status"],
                str(i["days_overdue"] or ""),
            )
        out.print(table)
    for item in data["attention"]:
        out.print(f"[red]needs attention:[/red] {item}")


@config_app.command("check")
def config_check(config: ConfigOpt) -> None:
    """Validate the config and read the tracker; report every problem at once."""
    cfg = config_mod.load(config)
    batch = cfg.source().read(None)
    out.print(
        f"{cfg.path}: ok ({cfg.business.name}; {len(cfg.contracts)} contract(s); "
        f"tracker {cfg.tracker_kind}: {len(batch.milestones)} milestone(s); "
        f"ledger {cfg.ledger_kind}; state {cfg.state_path or 'database URL'})"
    )
    for bad in batch.invalid:
        err.print(f"[red]invalid milestone:[/red] {bad.message}")
    unknown = sorted({m.contract for m in batch.milestones} - set(cfg.contracts))
    for cid in unknown:
        err.print(f"[red]unknown contract:[/red] milestones name {cid!r}, not in the config")
    raise typer.Exit(1 if batch.invalid or unknown else 0)


def main() -> None:
    try:
        app()  # usage errors: click's own message and exit code 2
    except UserError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(exc.exit_code)
    except Exception as exc:  # anything unexpected: one line, traceback only on --debug
        if _debug["on"]:
            traceback.print_exc()
        else:
            sys.stderr.write(
                f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)\n"
            )
        sys.exit(2)
