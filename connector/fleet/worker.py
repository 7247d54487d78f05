"""`connector run` as a worker of the fleet: the tables made ready once, then procrastinate's
worker until SIGTERM.

Connections are bounded by the worker count: the queue's own pool (a listener and a few for
fetching and finishing jobs), the slot record's small pool, the rate budgets' few (every ledger
call of the process draws from the budgets the fleet shares in the database), and per sync
running the lock's connection and the state's, both closed when the sync ends. SIGTERM and
SIGINT let each sync in flight stop after the ledger call it is making, put its job back in the
queue for another worker, and exit 0; SIGHUP is not needed (the tick reads the folder again)
and is only logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, create_engine, make_url

from connector import budgets
from connector.daemon import SIGNALS
from connector.fleet.budgets import PostgresBudgets
from connector.fleet.jobs import Fleet, FleetSettings, make_app
from connector.fleet.migrate import migrate_once
from connector.fleet.slots import SlotBook

log = logging.getLogger("connector.fleet")

QUEUE_CONNECTIONS = 4  # the listener, fetching, finishing jobs, the heartbeat


def worker_name() -> str:
    return f"connector run (pid {os.getpid()} on {socket.gethostname()})"[:63]


def conninfo(url: str) -> str:
    """libpq's form of the state URL (which never holds a password: ~/.pgpass does)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def book_engine(settings: FleetSettings, name: str) -> Engine:
    return create_engine(
        settings.url,
        pool_size=1,
        max_overflow=settings.workers + 1,
        pool_pre_ping=True,
        connect_args={"application_name": name},
    )


def run_fleet(settings: FleetSettings) -> None:
    """Migrate once (waiting for any other worker doing so), then work until SIGTERM."""
    name = worker_name()
    engine = book_engine(settings, name)
    shared: PostgresBudgets | None = None
    try:
        migrate_once(engine, settings.url)
        shared = PostgresBudgets(settings.url, name)
        budgets.install(shared)
        fleet = Fleet(settings, SlotBook(engine), name)
        asyncio.run(_serve(fleet))
    finally:
        if shared is not None:
            budgets.install(None)
            shared.close()
        engine.dispose()


def _leave_signals_to_main() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)


async def _serve(fleet: Fleet) -> None:
    from procrastinate import PsycopgConnector

    settings = fleet.settings
    loop = asyncio.get_running_loop()
    # procrastinate runs each sync in the loop's default executor: one thread per sync at once
    pool = ThreadPoolExecutor(settings.workers + 2, initializer=_leave_signals_to_main)
    loop.set_default_executor(pool)
    connector = PsycopgConnector(
        conninfo=conninfo(settings.url),
        min_size=1,
        max_size=QUEUE_CONNECTIONS,
        kwargs={"application_name": fleet.name},
    )
    logging.getLogger("procrastinate").setLevel(logging.WARNING)  # a line per job otherwise
    app = make_app(fleet, connector)
    async with app.open_async():
        work = asyncio.create_task(
            app.run_worker_async(
                name=fleet.name,
                concurrency=settings.workers,
                install_signal_handlers=False,
                update_heartbeat_interval=settings.heartbeat,
                stalled_worker_timeout=settings.stalled,
                fetch_job_polling_interval=min(5.0, float(settings.tick)),
                delete_jobs="successful",
            )
        )

        def stop(signum: int) -> None:
            if fleet.stop.is_set():
                return  # a second Ctrl-C or SIGTERM: already stopping
            log.info("stopping on signal %d: runs stop after their current ledger call", signum)
            fleet.stop.set()
            work.cancel()  # procrastinate then waits for the jobs in flight

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop, signum)
        loop.add_signal_handler(
            signal.SIGHUP, log.info, "SIGHUP: nothing to do, each tick reads the configs again"
        )
        log.info(
            "fleet worker %s: %d at once, a tick every %d s",
            fleet.name,
            settings.workers,
            settings.tick,
        )
        with contextlib.suppress(asyncio.CancelledError):  # the stop() above
            await work
    pool.shutdown(wait=True)
