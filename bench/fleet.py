"""A night of many businesses through real `connector run` processes (a benchmark, not a test).

    python bench/fleet.py --businesses 300 --milestones 20 --workers 4 --processes 3 \
        --state postgres [--pg-url postgresql+psycopg://postgres@127.0.0.1:54333/postgres]
    python bench/fleet.py --businesses 300 --milestones 20 --processes 1 --state sqlite

N businesses (each a config, a milestones file of M billable milestones and a local ledger
file) in one folder; P `connector run` processes of W workers each over it. With PostgreSQL
(a fresh database made on the server --pg-url or CONNECTOR_TEST_PG_URL names, dropped after)
they are workers of the fleet, given one `--now` so the night's slot is due at once; with
SQLite each is the embedded daemon with --run-now (more than one process then shows what the
fleet is for). Prints the wall time until every business has synced, the businesses synced
twice and missed (from the daemons' own "sync finished" lines), the invoices that are not
exactly once in their ledger, each process's peak memory (VmHWM), and for PostgreSQL the
connections to the database at the busiest (pg_stat_activity, sampled every 0.1 s).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.adapters.local import MemoryLedger

NOW = "2026-11-26T08:30:00+00:00"  # 02:30 in Chicago: the 02:00 slot is due
FINISHED = re.compile(r"\[(?P<name>bench-\d+) run \d+\] sync finished")
SETTLE = 5.0  # seconds to wait after the last business, for a second sync to show


def write_folder(folder: Path, businesses: int, milestones: int, state: str) -> list[str]:
    names = []
    for b in range(businesses):
        name = f"bench-{b:05d}"
        rows = []
        for m in range(milestones):
            day = date(2026, 9, 1) + timedelta(days=m % 80)
            rows.append(
                f'[[milestones]]\nid = "M{m}"\ncontract = "C1"\namount = "1000.00"\n'
                f'status = "done"\ncompleted = {day}\naccepted = {day}\n'
            )
        (folder / f"{name}-milestones.toml").write_text("\n".join(rows))
        (folder / f"{name}.toml").write_text(
            f'[business]\nname = "{name}"\ntimezone = "America/Chicago"\n\n'
            f"[state]\n{state.replace('{name}', name)}\n\n"
            f'[tracker]\nkind = "file"\npath = "{name}-milestones.toml"\n\n'
            f'[ledger]\nkind = "local"\npath = "{name}-ledger.json"\n\n'
            '[billing]\napproval = "required"\n\n'
            f'[[contracts]]\nid = "C1"\ncustomer = "Customer {b}"\n'
            f'value = "{milestones * 1000}.00"\n'
        )
        names.append(name)
    return names


class Connections:
    """The busiest moment's connections to one database, sampled in a thread."""

    def __init__(self, url: str):
        from sqlalchemy import create_engine

        self.engine = create_engine(url, pool_size=1)
        self.db = url.rsplit("/", 1)[1]
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self) -> None:
        from sqlalchemy import text

        query = text("SELECT count(*) FROM pg_stat_activity WHERE datname = :db")
        while not self.stop.wait(0.1):
            try:
                with self.engine.connect() as conn:
                    now = int(conn.execute(query, {"db": self.db}).scalar() or 0) - 1
            except Exception:
                continue
            self.peak = max(self.peak, now)

    def close(self) -> int:
        self.stop.set()
        self.thread.join()
        self.engine.dispose()
        return self.peak


def peak_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(found.group(1)) / 1024 if found else 0.0


def finished(logs: list[Path]) -> Counter[str]:
    seen: Counter[str] = Counter()
    for log in logs:
        seen.update(m["name"] for m in FINISHED.finditer(log.read_text(errors="replace")))
    return seen


def night(args: argparse.Namespace, folder: Path, names: list[str]) -> None:
    exe = Path(sys.executable).with_name("connector")
    command = [str(exe), "run", "--config-dir", str(folder), "--workers", str(args.workers)]
    command += ["--now", NOW, "--tick", "2"] if args.state == "postgres" else ["--run-now"]
    logs = [folder / f"worker{i}.log" for i in range(args.processes)]
    started = time.perf_counter()
    procs = []
    for log in logs:
        with log.open("w") as out:
            procs.append(subprocess.Popen(command, stderr=out))
    try:
        while len(finished(logs)) < len(names):
            if time.perf_counter() - started > args.timeout:
                break
            if all(p.poll() is not None for p in procs):
                sys.exit("every connector run process has exited; see " + str(folder))
            time.sleep(0.5)
        wall = time.perf_counter() - started
        time.sleep(SETTLE)
        memory = [peak_mb(p.pid) for p in procs]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
    report(args, names, folder, logs, wall, memory)


def report(
    args: argparse.Namespace,
    names: list[str],
    folder: Path,
    logs: list[Path],
    wall: float,
    memory: list[float],
) -> None:
    runs = finished(logs)
    twice = sum(1 for n in names if runs[n] > 1)
    missed = sum(1 for n in names if runs[n] == 0)
    wrong = 0
    for name in names:
        counts = Counter(
            d.reference for d in MemoryLedger(folder / f"{name}-ledger.json").documents()
        )
        wrong += sum(1 for c in counts.values() if c != 1) + (len(counts) != args.milestones)
    print(
        f"{args.businesses} businesses x {args.milestones} milestones, {args.processes} "
        f"process(es) x {args.workers} workers, state on {args.state}"
    )
    print(f"  wall time until every business synced {wall:8.1f} s")
    print(f"  businesses synced twice               {twice:8d}")
    print(f"  businesses missed                     {missed:8d}")
    print(f"  businesses whose ledger is not exact  {wrong:8d}")
    print(f"  peak memory per process (VmHWM)       {max(memory):8.0f} MB (all: {sum(memory):.0f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--businesses", type=int, default=300)
    parser.add_argument("--milestones", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--state", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--pg-url", default=os.environ.get("CONNECTOR_TEST_PG_URL"))
    parser.add_argument("--timeout", type=float, default=1800, help="seconds")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    if args.state == "sqlite":
        names = write_folder(folder, args.businesses, args.milestones, 'path = "{name}.db"')
        night(args, folder, names)
        return 0
    if not args.pg_url:
        sys.exit("--state postgres: give --pg-url or set CONNECTOR_TEST_PG_URL (a server)")
    from sqlalchemy import create_engine, text

    db = "fleet_bench_" + uuid.uuid4().hex[:8]
    admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {db}"))
    url = args.pg_url.rsplit("/", 1)[0] + "/" + db
    try:
        names = write_folder(folder, args.businesses, args.milestones, f'url = "{url}"')
        connections = Connections(url)
        try:
            night(args, folder, names)
        finally:
            print(f"  PostgreSQL connections at the busiest  {connections.close():8d}")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {db} WITH (FORCE)"))
        admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
