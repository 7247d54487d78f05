"""`connector demo` and `connector sandbox ...`: the only commands that start the emulators of
`connector_sandbox`, each imported when its command runs."""

from __future__ import annotations

from typing import Annotated

import typer

from connector import render
from connector.cli.common import err, out
from connector.errors import UserError

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
        country=country,
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
