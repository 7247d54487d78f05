"""Rate budgets: calls wait for room in their company's, organisation's or app's budget instead
of being refused by the vendor. In one process (state on SQLite) and shared through
PostgreSQL by processes that never talk to each other (the fleet, a sync by hand, the embedded
daemon's businesses on PostgreSQL, each in its own database's): never more calls in a window
than the budget allows, never more at once, a dead holder's slot free again, and a QuickBooks
sync and Xero calls with a small budget that the sandboxes never answer with 429.
The PostgreSQL tests run when CONNECTOR_TEST_PG_URL names a server (CI starts one)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from connector import budgets
from connector.adapters.xero.errors import MinuteLimit
from connector.budgets import MAX_WAIT, Budget, BudgetFull, LocalBudgets, second
from connector.sync import run_once
from connector_sandbox.quickbooks import DEFAULT_REALM, QuickBooksSandbox
from tests import qbo_support
from tests.conftest import AS_OF, CONFIG, MILESTONES
from tests.xero_support import XeroWorld, connect

PG = os.environ.get("CONNECTOR_TEST_PG_URL")


@pytest.fixture(autouse=True)
def own_budgets() -> Iterator[None]:
    """Each test draws from budgets of its own, as a new process would."""
    budgets.install(LocalBudgets())
    yield
    budgets.install(None)


@pytest.fixture
def new_database() -> Iterator[Callable[[], str]]:
    """Makes empty databases on the test server, each dropped when the test ends."""
    if not PG:
        pytest.skip("set CONNECTOR_TEST_PG_URL to a PostgreSQL server (CI does)")
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> str:
        name = "budgets_" + uuid.uuid4().hex[:12]
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        made.append(name)
        return PG.rsplit("/", 1)[0] + "/" + name

    yield make
    with admin.connect() as conn:
        for name in made:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def pg_url(new_database) -> str:
    """A database with the budget tables, as a fleet worker leaves it."""
    from connector.fleet.budgets import create_tables

    url = new_database()
    engine = create_engine(url)
    create_tables(engine)
    engine.dispose()
    return url


def most_in_a_window(times: list[float], span: float) -> int:
    times = sorted(times)
    most, first = 0, 0
    for last, t in enumerate(times):
        while times[first] <= t - span:
            first += 1
        most = max(most, last - first + 1)
    return most


def most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


BUDGET = Budget("test realm", (second(5),), at_once=2)


def test_threads_of_one_process_never_exceed_the_budget():
    store = LocalBudgets()
    granted: list[float] = []
    held: list[tuple[float, float]] = []
    lock = threading.Lock()
    stop = time.monotonic() + 2.5

    def draw() -> None:
        while time.monotonic() < stop:
            with store.draw([BUDGET]) as at:
                start = time.monotonic()
                time.sleep(0.03)
                end = time.monotonic()
            with lock:
                granted.append(at)
                held.append((start, end))

    threads = [threading.Thread(target=draw) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most_in_a_window(granted, 1.0) <= 5
    assert most_at_once(held) <= 2
    assert len(granted) >= 10  # about 5 a second, less a tenth: waiting is not refusing


def test_a_window_that_stays_full_longer_than_the_wait_allowed_sends_nothing():
    store = LocalBudgets()
    daily = Budget("xero tenant T", (budgets.day(2),))
    for _ in range(2):
        with store.draw([daily]):
            pass
    started = time.monotonic()
    with pytest.raises(BudgetFull) as raised, store.draw([daily], max_wait=5):
        raise AssertionError("a third call was let through")
    assert time.monotonic() - started < 1  # told at once, not after waiting
    assert "2 calls a day" in str(raised.value)


DRAWER = textwrap.dedent(
    """
    import json, sys, time
    from connector.budgets import Budget, second
    from connector.fleet.budgets import PostgresBudgets

    store = PostgresBudgets(sys.argv[1])
    budget = Budget("shared realm", (second(5),), at_once=2)
    stop = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < stop:
        with store.draw([budget]) as at:
            start = time.time()
            time.sleep(0.03)
            end = time.time()
        print(json.dumps([at, start, end]), flush=True)
    store.close()
    """
)


def test_two_processes_on_postgresql_share_one_budget(pg_url, tmp_path):
    script = tmp_path / "drawer.py"
    script.write_text(DRAWER)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), pg_url, "3"], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    rows = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        mine = [json.loads(line) for line in out.splitlines()]
        assert mine, "a process never got a call through"
        rows += mine
    assert most_in_a_window([at for at, _, _ in rows], 1.0) <= 5  # the database's clock
    assert most_at_once([(start, end) for _, start, end in rows]) <= 2
    assert len(rows) >= 10


HOLDER = textwrap.dedent(
    """
    import sys, time
    from connector.budgets import Budget
    from connector.fleet.budgets import PostgresBudgets

    store = PostgresBudgets(sys.argv[1])
    with store.draw([Budget("lonely realm", (), at_once=1)]):
        print("held", flush=True)
        time.sleep(600)
    """
)


def test_a_slot_held_by_a_process_that_died_is_free_again(pg_url, tmp_path):
    from connector.fleet.budgets import PostgresBudgets

    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    holder = subprocess.Popen([sys.executable, str(script), pg_url], stdout=subprocess.PIPE)
    store = PostgresBudgets(pg_url)
    lonely = Budget("lonely realm", (), at_once=1)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        with pytest.raises(BudgetFull), store.draw([lonely], max_wait=0.3):
            raise AssertionError("a second call at once was let through")
        holder.kill()  # SIGKILL: nothing gives the slot back
        holder.wait()
        started = time.monotonic()
        with store.draw([lonely], max_wait=10):
            pass
        assert time.monotonic() - started < 5  # not the lease's two minutes
    finally:
        holder.kill()
        store.close()


def test_a_quickbooks_sync_with_a_small_budget_waits_instead_of_being_refused(
    tmp_path, memory_keyring
):
    """The sandbox allows 2 calls a second; a first sync makes more than that in a second."""

    def first_sync(calls_per_second: int) -> tuple[int, int]:
        with QuickBooksSandbox(requests_per_second=2) as sandbox:
            sandbox.seed_company(DEFAULT_REALM, currencies=["EUR"])
            qbo_support.connect(sandbox)
            root = tmp_path / str(calls_per_second)
            business = qbo_support.qbo_business(root, sandbox)
            config_path = root / "config.toml"
            config_path.write_text(
                config_path.read_text().replace(
                    "retry_max_wait = 0.05\n",
                    f"retry_max_wait = 0.05\ncalls_per_second = {calls_per_second}\n",
                )
            )
            budgets.install(LocalBudgets())
            report = run_once(business.config(), as_of=AS_OF)
            return sandbox.limits.refused, len(report.created)

    assert first_sync(2) == (0, 6)
    refused, _ = first_sync(10)  # QuickBooks' own budget: this sandbox refuses some
    assert refused > 0


def test_xero_calls_of_two_businesses_on_one_organisation_wait_for_a_slot(checked_sandbox):
    """The sandbox serves one call at a time per organisation, slowly; four threads of two
    businesses call at once."""

    def calls(budgeted: bool) -> int:
        budgets.install(LocalBudgets() if budgeted else Unlimited())
        sandbox = checked_sandbox(max_concurrent=1)
        tenant = sandbox.seed_organisation()
        sandbox.faults.set_latency(timedelta(milliseconds=80))
        world = XeroWorld(sandbox, tenant)
        sessions = []
        for name in ("Northwind Studio", "Southwind Studio"):
            connect(sandbox, tenant, name)
            for _ in range(2):
                sessions.append(world.ledger(name, calls_at_once=1).session)

        def call(session) -> None:
            for _ in range(3):
                try:
                    session.call(lambda api, t: api.get_organisations(t))
                except MinuteLimit:  # refused again and again (the test waits for no one)
                    assert not budgeted

        threads = [threading.Thread(target=call, args=(s,)) for s in sessions]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sandbox.limits.refused

    assert calls(budgeted=True) == 0
    assert calls(budgeted=False) > 0


class Unlimited:
    """No budget at all: what the sandbox does to calls that draw from none."""

    def draw(self, budgets: object, max_wait: float = 0) -> AbstractContextManager[float]:
        return nullcontext(0.0)


def test_a_sync_ending_leaves_the_fleets_budget_connections_open(pg_url):
    """A fleet worker disposes of the engines a sync opened when it ends; the budgets' engine
    lives with the process, or every sync would open its connections anew."""
    from connector.fleet.budgets import PostgresBudgets
    from connector.fleet.engines import disposed_engines

    store = PostgresBudgets(pg_url, "budget test")
    watch = create_engine(pg_url)
    count = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'budget test'"
    try:
        with disposed_engines(), store.draw([BUDGET]):
            pass
        with watch.connect() as conn:
            assert conn.execute(text(count)).scalar() == 2  # the anchor and one for draws
    finally:
        store.close()
        watch.dispose()


def test_a_sync_by_hand_on_postgresql_draws_from_the_fleets_budgets(
    pg_url, tmp_path, memory_keyring, monkeypatch, capsys
):
    """`connector sync` of a business whose state is in the fleet's PostgreSQL counts its
    QuickBooks calls in the budget the workers share there (a sync started during the night
    takes the company's calls from the same minute), and leaves this process's own budgets
    in place afterwards."""
    from tests.cli_support import run_cli

    with QuickBooksSandbox() as sandbox:
        sandbox.seed_company(DEFAULT_REALM, currencies=["EUR"])
        qbo_support.connect(sandbox)
        root = tmp_path / "b"
        qbo_support.qbo_business(root, sandbox)
        config = root / "config.toml"
        config.write_text(
            config.read_text().replace('path = "state.db"', f'url = "{pg_url}"'), "utf-8"
        )
        before = budgets.current()
        code, out = run_cli(
            monkeypatch, capsys, "sync", "--config", str(config), "--as-of", AS_OF.isoformat()
        )
    assert code in (0, 1), out
    assert budgets.current() is before  # back to this process's own
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        counted = conn.execute(
            text("SELECT budget, span, sum(calls) FROM budget_calls GROUP BY budget, span")
        ).all()
    engine.dispose()
    minute = [calls for budget, span, calls in counted if DEFAULT_REALM in budget and span == "60s"]
    assert minute and minute[0] >= 3, counted  # the first sync's calls, counted in PostgreSQL


class Recording(LocalBudgets):
    """This process's own budgets, noting whose calls they counted."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: set[str] = set()

    def draw(
        self, budgets: Sequence[Budget], max_wait: float = MAX_WAIT
    ) -> AbstractContextManager[float]:
        self.keys.update(b.key for b in budgets)
        return super().draw(budgets, max_wait)


DAEMON_REALMS = {"alpha": "9130001", "beta": "9130002", "gamma": "9130003"}


def daemon_business(folder, name: str, sandbox: QuickBooksSandbox, state: str) -> None:
    ledger = (
        '[ledger]\nkind = "quickbooks"\nenvironment = "sandbox"\n'
        f'api_url = "{sandbox.api_url}"\ndiscovery_url = "{sandbox.discovery_url}"\n'
        "retry_first_wait = 0.01\nretry_max_wait = 0.05\n"
    )
    config = CONFIG.replace("{on_change}", "flag").replace("{state}", state)
    config = config.replace('name = "Northwind Studio"', f'name = "{name}"')
    config = config.replace('path = "milestones.toml"', f'path = "{name}-milestones.toml"')
    config = config.replace('[ledger]\nkind = "local"\npath = "ledger.json"\n', ledger)
    (folder / f"{name}-milestones.toml").write_text(MILESTONES)
    (folder / f"{name}.toml").write_text(config)


def test_the_embedded_daemon_draws_each_postgresql_business_from_its_own_databases_budgets(
    new_database, tmp_path, memory_keyring
):
    """`connector run` over businesses on two PostgreSQL databases and one SQLite file (the
    embedded daemon, not a fleet): each PostgreSQL business's QuickBooks calls, its company's
    and no other's, are counted in the budget tables of its own database (made there by the
    daemon), where a fleet worker or a `connector sync` by hand on that database draws too; the
    SQLite business draws from this process's own budgets; and once the daemon has stopped it
    holds no connection to either database."""
    from connector.daemon import Daemon

    urls = {"alpha": new_database(), "beta": new_database()}  # no budget tables yet
    own = Recording()
    budgets.install(own)
    folder = tmp_path / "books"
    folder.mkdir()
    served: dict[str, int] = {}  # accounting API requests per realm
    outcomes: dict[str, str] = {}
    with QuickBooksSandbox() as sandbox:
        for name, realm in DAEMON_REALMS.items():
            sandbox.seed_company(realm, currencies=["EUR"])
            qbo_support.connect(sandbox, name, realm=realm)
            state = f'url = "{urls[name]}"' if name in urls else f'path = "{name}.db"'
            daemon_business(folder, name, sandbox, state)
        handle = sandbox.handle

        def counted(request):
            if request.path.startswith("/v3/company/"):
                realm = request.path.split("/")[3]
                served[realm] = served.get(realm, 0) + 1
            return handle(request)

        sandbox.handle = counted

        def done(name: str, outcome: str) -> None:
            outcomes[name] = outcome
            if len(outcomes) == len(DAEMON_REALMS):
                daemon._stop(signal.SIGTERM, None)

        daemon = Daemon(None, folder, workers=3, run_now=True, on_done=done)
        handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        watchdog = threading.Timer(120, daemon._stop, (signal.SIGTERM, None))
        watchdog.start()
        try:
            daemon.start()  # returns once stopped, its syncs finished
        finally:
            watchdog.cancel()
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
        invoices = {realm: len(sandbox.invoices(realm)) for realm in DAEMON_REALMS.values()}

    assert outcomes == {name: "ok" for name in DAEMON_REALMS}
    assert set(invoices.values()) == {6}
    for name, url in urls.items():
        engine = create_engine(url)
        with engine.connect() as conn:
            minute = dict(
                conn.execute(
                    text(
                        "SELECT budget, sum(calls) FROM budget_calls WHERE span = '60s' "
                        "GROUP BY budget"
                    )
                ).all()
            )
            others = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar()
        engine.dispose()
        realm = DAEMON_REALMS[name]
        assert minute == {f"quickbooks realm {realm}": served[realm]}, (name, minute, served)
        assert others == 0, f"the stopped daemon still holds connections to {name}'s database"
    assert own.keys == {f"quickbooks realm {DAEMON_REALMS['gamma']}"}  # SQLite's: this process


def test_a_slot_taken_after_the_server_dropped_the_anchor_names_a_live_process(pg_url):
    """A daemon keeps its budgets from one night to the next: when the server drops the
    connection that names its leases (a restart, an idle timeout), the next slot it takes
    names a connection that is open, so other processes count it as held."""
    from connector.fleet.budgets import PostgresBudgets

    store = PostgresBudgets(pg_url, "budget test")
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        first = store.holder()
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        lonely = Budget("restarted realm", (), at_once=1)
        with store.draw([lonely]), admin.connect() as conn:
            (holder,) = conn.execute(
                text("SELECT holder FROM budget_leases WHERE budget = :b"), {"b": lonely.key}
            ).scalars()
            alive = set(conn.execute(text("SELECT pid FROM pg_stat_activity")).scalars())
        assert holder != first and holder in alive
    finally:
        store.close()
        admin.dispose()
