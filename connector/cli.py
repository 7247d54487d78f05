"""The `connector` command. `main` is the one place an error becomes words and an exit code
(0 ok, 1 finished but something needs a person, 2 could not run): each class in
`connector.errors` knows both.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape as esc
from rich.progress import Progress

from connector import config as config_mod
from connector import render
from connector.errors import ConfigError, ConnectorError, SettingRefused, UserError
from connector.sync import preview, run_once
from connector.sync.report import plan_json

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Turn project milestones into ledger invoices, exactly once.",
)
config_app = typer.Typer(no_args_is_help=True, help="Check a business config file.")
app.add_typer(config_app, name="config")

# Piped or mailed output gets room for the amount columns; a terminal keeps its own width.
out = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
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


@contextmanager
def _tracker_settings(cfg: config_mod.Config) -> Iterator[None]:
    """A [tracker] setting the tracker shows to be wrong is a problem of the config file."""
    try:
        yield
    except SettingRefused as exc:
        raise ConfigError(cfg.path, [str(exc)]) from None


@app.command()
def plan(config: ConfigOpt, as_of: AsOfOpt = None, as_json: JsonOpt = False) -> None:
    """Show what the next sync would do. Writes nothing anywhere and calls no ledger."""
    cfg = config_mod.load(config)
    with _tracker_settings(cfg):
        day, decisions = preview(cfg, _as_of(as_of))
    if as_json:
        _print_json(plan_json(cfg.business.name, day, decisions.invoices, decisions.skipped))
    else:
        render.plan(
            out, cfg.business.name, day, decisions.invoices, decisions.skipped, decisions.caveats
        )
    raise typer.Exit(1 if decisions.problems else 0)


@app.command()
def sync(config: ConfigOpt, as_of: AsOfOpt = None) -> None:
    """Run one sync: push new invoices exactly once, pull payment status back."""
    cfg = config_mod.load(config)
    with _tracker_settings(cfg), Progress(console=err, transient=True) as progress:
        task = progress.add_task("Pushing invoices", total=None)

        def show(step: str, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = run_once(cfg, as_of=_as_of(as_of), progress=show)
    render.sync(out, err, report)
    raise typer.Exit(report.exit_code)


@app.command()
def status(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="One business.")] = None,
    config_dir: Annotated[
        Path | None, typer.Option("--config-dir", help="Every *.toml in this folder is a business.")
    ] = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What is billed, paid, outstanding and overdue, and what needs a person: per contract and
    invoice for one business, or one line per business for a folder of them. Exits 1 when
    something needs a person or a business cannot load, as plan and sync do."""
    from connector.daemon import config_files
    from connector.overview import business_status, overview

    if (config is None) == (config_dir is None):
        raise UserError("give exactly one of --config FILE or --config-dir DIR")
    day = _as_of(as_of)
    if config is not None:
        data = business_status(config_mod.load(config), day)
        if as_json:
            _print_json(data)
        else:
            render.status(out, data)
        raise typer.Exit(1 if data["attention"] else 0)
    assert config_dir is not None
    entries = overview(config_files(None, config_dir), day)
    if as_json:
        _print_json(entries)
    else:
        render.overview(out, entries)
    raise typer.Exit(1 if any(e.get("error") or e.get("attention") for e in entries) else 0)


@config_app.command("check")
def config_check(config: ConfigOpt) -> None:
    """Validate the config and read the tracker; report every problem at once."""
    cfg = config_mod.load(config)
    with _tracker_settings(cfg):
        batch = cfg.source().read(None)
    out.print(
        f"{cfg.path}: ok ({cfg.business.name}; {len(cfg.contracts)} contract(s); "
        f"tracker {cfg.tracker_kind}: {len(batch.milestones)} milestone(s); "
        f"ledger {cfg.ledger_kind}; state {cfg.state_path or 'database URL'})"
    )
    for bad in batch.invalid:
        err.print(f"[red]invalid milestone:[/red] {esc(bad.message)}")
    unknown = sorted({m.contract for m in batch.milestones} - set(cfg.contracts))
    for cid in unknown:
        err.print(
            f"[red]unknown contract:[/red] milestones name {esc(repr(cid))}, not in the config"
        )
    from connector.doctor import credentials_warning

    warning = credentials_warning(cfg)
    if warning:
        err.print(f"[red]credentials:[/red] {esc(warning)}")
    raise typer.Exit(1 if batch.invalid or unknown or warning else 0)


@app.command()
def run(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="One business.")] = None,
    config_dir: Annotated[
        Path | None, typer.Option("--config-dir", help="Every *.toml in this folder is a business.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Businesses synced at once.")] = 4,
    run_now: Annotated[
        bool,
        typer.Option(
            "--run-now", help="Sync every business once at start, then keep the schedule."
        ),
    ] = False,
    log_format: Annotated[
        str, typer.Option("--log-format", help="human or json (for log shippers).")
    ] = "human",
    notify_config: Annotated[
        Path | None,
        typer.Option(
            "--notify-config", help="A TOML file with a notify section, told about every run."
        ),
    ] = None,
) -> None:
    """Run as a daemon: sync every business on its own cron schedule until SIGTERM (exits 0)."""
    from connector.daemon import Daemon, config_files
    from connector.logs import setup_logging

    if (config is None) == (config_dir is None):
        raise UserError("give exactly one of --config FILE or --config-dir DIR")
    if log_format not in ("human", "json"):
        raise UserError(f"--log-format: expected human or json, got {log_format!r}")
    everyone = config_mod.load_notify(notify_config) if notify_config else None
    # A folder with no business configs is refused before logging is pointed at stderr
    config_files(config, config_dir)
    setup_logging(log_format)
    Daemon(config, config_dir, workers=workers, run_now=run_now, notify=everyone).start()


sandbox_app = typer.Typer(
    no_args_is_help=True, help="Local emulators of the ledgers and trackers, for trying."
)
app.add_typer(sandbox_app, name="sandbox")
auth_app = typer.Typer(
    no_args_is_help=True, help="Connect a business to its ledger or tracker, once."
)
app.add_typer(auth_app, name="auth")


@app.command()
def demo(
    ledger: Annotated[str, typer.Option(help="Ledger sandbox: quickbooks or xero.")] = "quickbooks",
    tracker: Annotated[
        str, typer.Option(help="Milestones from: file, or a github, jira or asana sandbox.")
    ] = "file",
) -> None:
    """The whole cycle on the bundled example against local sandboxes: no network, no
    accounts, nothing left behind."""
    from connector.demo import run_demo

    run_demo(
        out.print,
        render_report=lambda r: render.sync(out, err, r),
        render_status=lambda d: render.status(out, d),
        render_skipped=lambda s: render.skipped_table(out, s),
        ledger=ledger,
        tracker=tracker,
    )


@sandbox_app.command("quickbooks")
def sandbox_quickbooks(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
) -> None:
    """Serve a local QuickBooks Online sandbox until Ctrl-C."""
    from connector_sandbox.quickbooks import main as serve

    serve(port)


@sandbox_app.command("xero")
def sandbox_xero(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8766,
) -> None:
    """Serve a local Xero (identity and Accounting API) until Ctrl-C."""
    from connector_sandbox.xero import main as serve

    serve(port)


@sandbox_app.command("tracker")
def sandbox_tracker(
    kind: Annotated[str, typer.Option("--kind", help="github, jira or asana.")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8766,
) -> None:
    """Serve a local GitHub, Jira or Asana holding the example milestones until Ctrl-C."""
    if kind not in ("github", "jira", "asana"):
        raise UserError(f"--kind: expected github, jira or asana, got {kind!r}")
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


@app.command()
def doctor(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="One business.")] = None,
    config_dir: Annotated[
        Path | None, typer.Option("--config-dir", help="Every *.toml in this folder is a business.")
    ] = None,
) -> None:
    """Can each business sync tonight? Config, state, keyring, credentials, ledger, tracker."""
    from connector.daemon import config_files
    from connector.doctor import check_business

    if (config is None) == (config_dir is None):
        raise UserError("give exactly one of --config FILE or --config-dir DIR")
    failed = False
    for path in config_files(config, config_dir):
        out.print(f"[bold]{esc(str(path))}[/bold]")
        for check in check_business(path):
            failed |= not check.ok
            mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
            out.print(f"  {mark} {check.name:<12} {esc(check.detail)}", highlight=False)
    raise typer.Exit(2 if failed else 0)


@auth_app.command("smtp")
def auth_smtp(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="One business.")] = None,
    notify_config: Annotated[
        Path | None,
        typer.Option(
            "--notify-config", help="The daemon-wide notify file (see run --notify-config)."
        ),
    ] = None,
) -> None:
    """Keep the SMTP password for notification emails in the OS keyring."""
    from connector.notify import DAEMON_SMTP_KEY, save_smtp_password

    if (config is None) == (notify_config is None):
        raise UserError("give exactly one of --config FILE or --notify-config FILE")
    if config is not None:
        cfg = config_mod.load(config)
        settings, key, where = cfg.notify, cfg.business.name, cfg.path
    else:
        assert notify_config is not None
        settings, key, where = config_mod.load_notify(notify_config), DAEMON_SMTP_KEY, notify_config
    if not settings.smtp_username:
        raise UserError(f"{where}: [notify] smtp_username is not set; no password is needed")
    password = typer.prompt(f"SMTP password for {settings.smtp_username}", hide_input=True)
    save_smtp_password(key, password)
    out.print("Saved in the OS keyring.")


def _register_vendor_commands() -> None:
    """`auth` and `sandbox` commands for the ledgers and trackers live beside their code."""
    from importlib import import_module

    for module in (
        "connector.adapters.quickbooks.cli",
        "connector.adapters.xero.cli",
        "connector.sources.github.cli",
        "connector.sources.jira.cli",
        "connector.sources.asana.cli",
    ):
        try:
            import_module(module).register(auth_app, sandbox_app, out)
        except ModuleNotFoundError as exc:  # pragma: no cover - while the module is being built
            if exc.name != module:
                raise


_register_vendor_commands()


def main() -> None:
    try:
        app()  # usage errors: click's own message and exit code 2
    except ConnectorError as exc:
        sys.stderr.write(f"error: {exc.for_person()}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write(
            "interrupted; what was sent is recorded, the next sync goes on from there\n"
        )
        sys.exit(130)
    except Exception as exc:  # anything unexpected: one line, traceback only on --debug
        if _debug["on"]:
            traceback.print_exc()
        else:
            sys.stderr.write(
                f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)\n"
            )
        sys.exit(2)
