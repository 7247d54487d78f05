"""The fleet: `connector run` worker processes on one PostgreSQL sharing a night, one of them
killed with SIGKILL mid-run, every business synced exactly once for the slot and every invoice
exactly once in its ledger; a worker starting late syncs nothing again; the tables are migrated
once however many workers start together. The PostgreSQL tests run when CONNECTOR_TEST_PG_URL
names a server (CI starts one: .ci/postgres.sh); the slot arithmetic and the choice between the
fleet and the embedded daemon are tested everywhere.

The workers run with `--now` (a fixed clock: every worker picks the same slot) and `--tick 2`
(a tick every 2 s, a worker silent for 5 s taken for dead), so a night takes seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, text

from connector import config as config_mod
from connector.adapters.local import MemoryLedger
from connector.errors import LockHeld
from connector.fleet import fleet_url
from connector.fleet.jobs import MAX_ATTEMPTS, FleetRetry, FleetSettings, Stopped
from connector.fleet.schedule import latest_slot
from tests.conftest import CONFIG, MILESTONES
from tests.test_notify import smtp  # noqa: F401  (a fixture: a real SMTP server)

PG = os.environ.get("CONNECTOR_TEST_PG_URL")
NOW = "2026-11-26T08:30:00+00:00"  # 02:30 in Chicago: tonight's 02:00 slot is due
SLOT = "2026-11-26T08:00:00+00:00"
INVOICES = 6  # what the conftest milestones bill on a first sync


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not PG:
        pytest.skip("set CONNECTOR_TEST_PG_URL to a PostgreSQL server (CI does)")
    name = "fleet_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield PG.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


def write_folder(folder: Path, count: int, state: str, cron: str = "0 2 * * *") -> list[str]:
    """`count` businesses in `folder`, each with its milestones and local ledger file."""
    folder.mkdir(parents=True, exist_ok=True)
    prefix = uuid.uuid4().hex[:6]  # lock files live in the user's data folder: never shared
    names = []
    for i in range(count):
        name = f"b{prefix}-{i:03d}"
        text_ = CONFIG.replace("{on_change}", "flag").replace("{state}", state)
        text_ = text_.replace('name = "Northwind Studio"', f'name = "{name}"')
        text_ = text_.replace('path = "milestones.toml"', f'path = "{name}-milestones.toml"')
        text_ = text_.replace('path = "ledger.json"', f'path = "{name}-ledger.json"')
        text_ += f'\n[schedule]\ncron = "{cron}"\n'
        (folder / f"{name}-milestones.toml").write_text(MILESTONES)
        (folder / f"{name}.toml").write_text(text_)
        names.append(name)
    return names


def start_worker(folder: Path, log: Path, workers: int = 2, *extra: str) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("connector")
    command = [str(exe), "run", "--config-dir", str(folder), "--now", NOW, "--tick", "2", *extra]
    with log.open("w") as out:
        return subprocess.Popen([*command, "--workers", str(workers)], stderr=out)


class Watch:
    """The fleet's tables as a test sees them, and the busiest moment's connection count."""

    def __init__(self, url: str, folder: Path):
        self.folder = folder
        self.engine = create_engine(url)
        self.db = url.rsplit("/", 1)[1]
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            try:
                with self.engine.connect() as conn:
                    now = conn.execute(
                        text("SELECT count(*) FROM pg_stat_activity WHERE datname = :db"),
                        {"db": self.db},
                    ).scalar()
                self.peak = max(self.peak, int(now or 0) - 1)  # less this sampler's own
            except Exception:
                continue

    def scalar(self, query: str, **args: object) -> int:
        try:
            with self.engine.connect() as conn:
                return int(conn.execute(text(query), args).scalar() or 0)
        except Exception:  # the tables are being created right now
            return 0

    def done(self) -> int:
        return self.scalar("SELECT count(*) FROM fleet_slots WHERE done_at IS NOT NULL")

    def wait_done(self, count: int, procs: list[subprocess.Popen[bytes]], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.done() < count:
            assert time.monotonic() < deadline, self.why(count, seconds) + logs(self.folder)
            assert any(p.poll() is None for p in procs), "every worker has exited"
            time.sleep(0.2)

    def why(self, count: int, seconds: float) -> str:
        """What the queue and the slot record hold, for a night that did not finish."""
        with self.engine.connect() as conn:
            jobs = conn.execute(
                text("SELECT id, status, attempts, worker_id, args FROM procrastinate_jobs")
            ).all()
            slots = conn.execute(text("SELECT * FROM fleet_slots WHERE done_at IS NULL")).all()
            workers = conn.execute(text("SELECT * FROM procrastinate_workers")).all()
        return f"{self.done()} of {count} in {seconds} s; jobs {jobs}; slots {slots}; {workers}"

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.engine.dispose()


def stop_all(procs: list[subprocess.Popen[bytes]]) -> list[int | None]:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=30))
        except subprocess.TimeoutExpired:
            proc.kill()
            codes.append(None)
    return codes


def assert_each_synced_once(folder: Path, names: list[str], watch: Watch) -> None:
    """One finished run per business, its slot done once, each invoice once in its ledger."""
    with watch.engine.connect() as conn:
        finished = dict(
            conn.execute(
                text(
                    "SELECT business, count(*) FROM runs WHERE finished_at IS NOT NULL "
                    "GROUP BY business"
                )
            ).all()
        )
        slots = conn.execute(text("SELECT business, slot, outcome FROM fleet_slots")).all()
    assert finished == {name: 1 for name in names}
    assert sorted(slots) == [(name, SLOT, "ok") for name in names]
    for name in names:
        references = Counter(
            doc.reference for doc in MemoryLedger(folder / f"{name}-ledger.json").documents()
        )
        assert len(references) == INVOICES and set(references.values()) == {1}, name


def logs(folder: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()}" for p in sorted(folder.glob("worker*.log")))


def test_two_workers_share_a_night_and_a_late_one_syncs_nothing_again(tmp_path, pg_url):
    names = write_folder(tmp_path, 24, f'url = "{pg_url}"')
    watch = Watch(pg_url, tmp_path)
    procs = [start_worker(tmp_path, tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        watch.wait_done(len(names), procs, 90)
        late = start_worker(tmp_path, tmp_path / "worker-late.log")
        procs.append(late)
        time.sleep(6)  # three ticks of the late worker, with the same --now
        codes = stop_all(procs)
    finally:
        stop_all(procs)
        watch.close()
    assert codes == [0, 0, 0], logs(tmp_path)
    assert_each_synced_once(tmp_path, names, watch)
    assert "sync started" not in (tmp_path / "worker-late.log").read_text()
    # Both early workers took part, and the fleet's connections stayed within its bound.
    assert all("sync started" in (tmp_path / f"worker{i}.log").read_text() for i in range(2))
    assert 0 < watch.peak <= 3 * connection_bound(2), watch.peak
    assert "Traceback" not in logs(tmp_path)
    # The ledgers' rate budgets the workers share were made ready with the rest.
    tables = "SELECT count(*) FROM pg_tables WHERE tablename IN ('budget_calls', 'budget_leases')"
    assert watch.scalar(tables) == 2


def test_two_workers_send_one_morning_digest_once_the_night_is_done(tmp_path, pg_url, smtp):  # noqa: F811
    """The daemon-wide digest of a fleet: one email once every business's slot is done (its
    digest_by, 08:00 in Chicago, has not come at 02:30), none per run, and none again on the
    ticks after, whichever worker ticks."""
    from tests.test_daemon import digest_notify

    handler, port = smtp
    folder = tmp_path / "books"
    names = write_folder(folder, 3, f'url = "{pg_url}"')
    notify = tmp_path / "notify.toml"
    notify.write_text(digest_notify(port) + 'digest_timezone = "America/Chicago"\n')
    watch = Watch(pg_url, folder)
    extra = ("--notify-config", str(notify))
    procs = [start_worker(folder, folder / f"worker{i}.log", 2, *extra) for i in range(2)]
    try:
        watch.wait_done(len(names) + 1, procs, 90)  # the three syncs and the digest
        time.sleep(5)  # more ticks, of both workers
        codes = stop_all(procs)
    finally:
        stop_all(procs)
        watch.close()
    assert codes == [0, 0], logs(folder)
    subjects = [str(m["Subject"]).strip() for m in handler.messages]
    assert len(subjects) == 1, (subjects, logs(folder))  # one digest, no email per run
    [msg] = handler.messages
    assert str(msg["Subject"]).strip() == "Morning digest, 3 businesses: 18 invoices created"
    assert msg.get_content_type() == "multipart/alternative" and msg["Date"] and msg["Message-ID"]
    text_part = str(msg.get_body(("plain",)).get_content())
    assert all(f"== {name} ==" in text_part for name in names)
    digest_rows = watch.scalar("SELECT count(*) FROM fleet_slots WHERE business LIKE 'digest:%'")
    assert digest_rows == 1


def connection_bound(workers: int) -> int:
    """One worker process's connections at most: the queue's pool, the slot record's pool
    (workers + 2), the rate budgets' and, per sync running, the lock's and the state's (2
    each)."""
    from connector.fleet import budgets
    from connector.fleet.worker import QUEUE_CONNECTIONS

    return QUEUE_CONNECTIONS + workers + 2 + budgets.CONNECTIONS + 2 * workers


def test_three_workers_one_killed_mid_run_lose_and_double_nothing(tmp_path, pg_url):
    names = write_folder(tmp_path, 36, f'url = "{pg_url}"')
    watch = Watch(pg_url, tmp_path)
    procs = [start_worker(tmp_path, tmp_path / f"worker{i}.log") for i in range(3)]
    victim = procs[0]
    try:
        # SIGKILL the first worker while a sync of its own is running (its run started, not
        # finished): its job is left 'doing' and its business locked until the others take
        # it up.
        deadline = time.monotonic() + 60
        while not running_in(watch, victim.pid):
            assert time.monotonic() < deadline, logs(tmp_path)
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        watch.wait_done(len(names), procs[1:], 90)
        codes = stop_all(procs[1:])
    finally:
        stop_all(procs)
        watch.close()
    assert codes == [0, 0], logs(tmp_path)
    assert_each_synced_once(tmp_path, names, watch)
    unfinished = watch.scalar("SELECT count(*) FROM runs WHERE finished_at IS NULL")
    assert unfinished >= 1  # the victim's run, cut short; its business synced once all the same
    assert "left by a worker that stopped answering" in logs(tmp_path)


def running_in(watch: Watch, pid: int) -> bool:
    """A run has started, and not finished, for a slot this worker process claimed."""
    return bool(
        watch.scalar(
            "SELECT count(*) FROM fleet_slots s JOIN runs r ON r.business = s.business "
            "AND r.id > s.runs_before WHERE s.done_at IS NULL AND r.finished_at IS NULL "
            "AND s.claimed_by LIKE :who",
            who=f"%pid {pid} %",
        )
    )


def test_workers_starting_together_migrate_a_fresh_database_once(tmp_path, pg_url):
    """Issue 14: two daemons migrating one fresh database at once failed (UniqueViolation on
    pg_type). Four workers start together here; each waits for the advisory lock."""
    from connector.fleet.migrate import migrate_once

    engines = [create_engine(pg_url) for _ in range(4)]
    problems: list[BaseException] = []

    def migrate(i: int) -> None:
        try:
            migrate_once(engines[i], pg_url)
        except BaseException as exc:
            problems.append(exc)

    threads = [threading.Thread(target=migrate, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    assert problems == []
    watch = Watch(pg_url, tmp_path)
    try:
        tables = watch.scalar(
            "SELECT count(*) FROM pg_tables WHERE tablename IN "
            "('procrastinate_jobs', 'fleet_slots', 'runs', 'invoices')"
        )
    finally:
        watch.close()
    assert tables == 4


# -- everywhere: the slot arithmetic, the retry strategy, the choice of scheduler -------------


def _business(cron: str, zone: str = "America/Chicago") -> SimpleNamespace:
    return SimpleNamespace(
        schedule=SimpleNamespace(cron=cron), business=SimpleNamespace(timezone=zone)
    )


@pytest.mark.parametrize(
    ("cron", "now", "slot"),
    [
        ("0 2 * * *", "2026-11-26T08:30:00+00:00", "2026-11-26T02:00:00-06:00"),
        ("0 2 * * *", "2026-11-26T19:59:00+00:00", "2026-11-26T02:00:00-06:00"),  # 12 h late
        ("0 20 * * *", "2026-11-26T07:59:59+00:00", "2026-11-25T20:00:00-06:00"),
        ("* * * * *", "2026-11-26T08:30:20+00:00", "2026-11-26T02:30:00-06:00"),
        ("*/5 * * * *", "2026-11-26T08:34:59+00:00", "2026-11-26T02:30:00-06:00"),
        # 02:30 on the day clocks spring forward does not exist in Chicago: the slot is 03:30
        ("30 2 * * *", "2026-03-08T10:00:00+00:00", "2026-03-08T03:30:00-05:00"),
    ],
)
def test_the_latest_slot_is_read_in_the_business_time_zone(cron, now, slot):
    found = latest_slot(_business(cron), datetime.fromisoformat(now))  # type: ignore[arg-type]
    assert found is not None  # the same instant (a time in a DST gap compares by UTC only)
    assert found.astimezone(UTC) == datetime.fromisoformat(slot).astimezone(UTC)


def test_a_slot_missed_by_more_than_the_grace_waits_for_its_next_time():
    weekly = _business("0 2 * * 1")  # APScheduler's weekday 1: Tuesday
    assert latest_slot(weekly, datetime(2026, 11, 26, 8, 30, tzinfo=UTC)) is None  # type: ignore[arg-type]


def test_the_retry_strategy_backs_off_only_for_syncs_that_could_not_start():
    retry = FleetRetry(30.0)

    def decide(exc: BaseException, attempts: int) -> float | None:
        job = SimpleNamespace(attempts=attempts, call_string="connector.sync[1]()")
        decision = retry.get_retry_decision(exception=exc, job=job)  # type: ignore[arg-type]
        if decision is None:
            return None
        assert decision.retry_at is not None
        return (decision.retry_at - datetime.now(UTC)).total_seconds()

    first, later = decide(LockHeld("held"), 0), decide(LockHeld("held"), 3)
    assert first is not None and 28 < first <= 30
    assert later is not None and 238 < later <= 240
    assert decide(LockHeld("held"), MAX_ATTEMPTS - 1) is None  # the night is over: reported
    stopped = decide(Stopped("slot"), 5)
    assert stopped is not None and stopped <= 0
    assert decide(ValueError("a bug"), 0) is None


def test_only_one_postgresql_database_for_all_makes_a_fleet(tmp_path):
    url = "postgresql+psycopg://bookkeeper@db.example.com/connector"
    write_folder(tmp_path / "pg", 2, f'url = "{url}"')
    write_folder(tmp_path / "sqlite", 2, 'path = "state.db"')
    write_folder(tmp_path / "other", 1, f'url = "{url}2"')

    def configs(*folders: str) -> list[config_mod.Config]:
        return [
            config_mod.load(p)
            for f in folders
            for p in sorted((tmp_path / f).glob("b*.toml"))
            if "milestones" not in p.name
        ]

    assert fleet_url(configs("pg")) == url
    assert fleet_url(configs("sqlite")) is None
    assert fleet_url(configs("pg", "sqlite")) is None  # some state on this machine only
    assert fleet_url(configs("pg", "other")) is None  # two databases: no one queue


def test_the_fleet_options_are_refused_for_the_embedded_daemon(tmp_path):
    write_folder(tmp_path, 1, 'path = "state.db"')
    exe = Path(sys.executable).with_name("connector")
    done = subprocess.run(
        [str(exe), "run", "--config-dir", str(tmp_path), "--now", NOW],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--now and --tick are for a fleet" in done.stderr


def test_fleet_settings_follow_the_tick():
    every_minute = FleetSettings("postgresql://x/y", None, Path("."))
    assert (every_minute.tick_cron, every_minute.stalled, every_minute.heartbeat) == (
        "* * * * *",
        30.0,
        10.0,
    )
    fast = FleetSettings("postgresql://x/y", None, Path("."), tick=2)
    assert (fast.tick_cron, fast.stalled) == ("* * * * * */2", 5.0)
