"""`connector demo` and `connector sandbox ...`: the only commands that start the emulators of
`connector_sandbox`, each imported when its command runs.

Each `connector sandbox` has its own default port, so a ledger and a tracker sandbox run side by
side as they start; each prints the section of a business config that points at it, ready to
paste. The ledger ones hold what the example config bills: USD and EUR, an item "Services".
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from connector import render
from connector.cli.common import err, out
from connector.errors import UserError

if TYPE_CHECKING:
    from connector_sandbox.quickbooks_demo import QuickBooksDemoLedger
    from connector_sandbox.xero_demo import XeroDemoLedger

# Distinct, so `sandbox quickbooks`, `sandbox xero` and `sandbox tracker` run at once; none is
# the sign-in's callback port (8725).
PORTS = {"quickbooks": 8765, "xero": 8766, "tracker": 8767}

sandbox_app = typer.Typer(
    no_args_is_help=True, help="Local emulators of the ledgers and trackers, for trying."
)


def demo(
    ledger: Annotated[str, typer.Option(help="Ledger sandbox: quickbooks or xero.")] = "quickbooks",
    tracker: Annotated[
        str, typer.Option(help="Milestones from: file, or a github, jira or asana sandbox.")
    ] = "file",
    country: Annotated[
        str | None,
        typer.Option(
            help="A company of this country, its sales tax on the invoices: US (Automated "
            "Sales Tax), CA, GB or AU (Xero: GB or AU). Default: a US company without tax."
        ),
    ] = None,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Then serve the dashboard of the demo's books on 127.0.0.1 until Ctrl-C "
            "(the demo's files are removed then).",
        ),
    ] = False,
    port: Annotated[
        int,
        typer.Option(min=0, max=65535, help="The dashboard's port with --serve (0: any free one)."),
    ] = 8080,
) -> None:
    """The whole cycle on the bundled example against local sandboxes: no network, no
    accounts, nothing left behind."""
    from connector.demo import run_demo

    run_demo(
        out.print,
        serve=(lambda folder: _serve_demo(folder, port)) if serve else None,
        render_report=lambda r: render.sync(out, err, r),
        render_status=lambda d: render.status(out, d),
        render_skipped=lambda s: render.skipped_table(out, s),
        ledger=ledger,
        tracker=tracker,
        country=country,
    )


def _serve_demo(folder: Path, port: int) -> None:
    """The dashboard over the demo's folder, until Ctrl-C; its address is the last line."""
    import signal

    from connector.web import DEFAULT_HOST
    from connector.web.readers import Folder
    from connector.web.server import Address, Dashboard

    dashboard = Dashboard(Folder(None, folder), Address(DEFAULT_HOST, port))
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM ends it as Ctrl-C does
    _say("", "5. The dashboard of these books (read-only; Ctrl-C to stop):", dashboard.address.url)
    with contextlib.suppress(KeyboardInterrupt):
        dashboard.serve_forever()


def _port(kind: str) -> object:
    return typer.Option(
        help=f"Port on 127.0.0.1 (0: any free one). Default {PORTS[kind]}.", show_default=False
    )


@sandbox_app.command("quickbooks")
def sandbox_quickbooks(
    port: Annotated[int, _port("quickbooks")] = PORTS["quickbooks"],
) -> None:
    """Serve a local QuickBooks Online sandbox until Ctrl-C; prints the \\[ledger] section that
    points a config at it."""
    from connector_sandbox.quickbooks_demo import QuickBooksDemoLedger

    _serve_ledger(QuickBooksDemoLedger(port=port), "quickbooks")


@sandbox_app.command("xero")
def sandbox_xero(
    port: Annotated[int, _port("xero")] = PORTS["xero"],
) -> None:
    """Serve a local Xero (identity and Accounting API) until Ctrl-C; prints the \\[ledger]
    section that points a config at it."""
    from connector_sandbox.xero_demo import XeroDemoLedger

    _serve_ledger(XeroDemoLedger(port=port), "xero")


def _serve_ledger(stage: QuickBooksDemoLedger | XeroDemoLedger, kind: str) -> None:
    with stage:
        _say(*stage.about())
        _say(f"  [ledger] section, then `connector auth {kind} --config FILE`:", "")
        _say(stage.ledger_section(), "")
        stage.sandbox.serve_forever()


def _say(*lines: str) -> None:
    """Lines meant to be copied: never wrapped at the terminal's width, never read as markup."""
    for line in lines:
        out.print(line, markup=False, highlight=False, soft_wrap=True)


@sandbox_app.command("tracker")
def sandbox_tracker(
    kind: Annotated[str, typer.Option("--kind", help="github, jira or asana.")],
    port: Annotated[int, _port("tracker")] = PORTS["tracker"],
) -> None:
    """Serve a local GitHub, Jira or Asana holding the example milestones until Ctrl-C; prints
    the \\[tracker] section that points a config at it."""
    if kind not in ("github", "jira", "asana"):
        raise UserError(f"--kind: expected github, jira or asana, got {kind!r}")
    from connector.demo import EXAMPLE
    from connector_sandbox.trackers_demo import TrackerDemo

    demo = TrackerDemo(kind, port=port)
    with demo:
        section = demo.tracker_section(EXAMPLE / "milestones.toml")
        user, token = demo.credentials()
        # the sandbox's own fixed test token, not anybody's secret: `connector auth` needs it
        _say(
            f"{kind} sandbox on {demo.url}, holding the example milestones",
            f"  token for `connector auth {kind}`: {token}" + (f" (email {user})" if user else ""),
            "  [tracker] section:",
            "",
            section,
        )
        demo.sandbox.serve_forever()
