"""A night of many businesses through real `connector run` processes (a benchmark, not a test).

    python bench/fleet.py --businesses 300 --milestones 20 --workers 4 --processes 3 \
        --state postgres [--pg-url postgresql+psycopg://postgres@127.0.0.1:54333/postgres]
    python bench/fleet.py --businesses 300 --milestones 20 --processes 1 --state sqlite
    python bench/fleet.py --businesses 1000 --milestones 20 --workers 16 --processes 1 \
        --state sqlite --ledger quickbooks --latency-ms 200

N businesses (each a config, a milestones file of M billable milestones and a ledger) in one
folder; P `connector run` processes of W workers each over it. The ledger is a local file per
business, or with `--ledger quickbooks` one company per business in a QuickBooks sandbox served
by this script, answering every API request after `--latency-ms` (its tokens in a plain file
keyring of a temporary folder, read by the processes through PYTHON_KEYRING_BACKEND). With
PostgreSQL (a fresh database made on the server --pg-url or CONNECTOR_TEST_PG_URL names,
dropped after) they are workers of the fleet, given one `--now` so the night's slot is due at
once; with SQLite each is the embedded daemon with --run-now (more than one process then shows
what the fleet is for). Prints the wall time until every business has synced, the businesses
synced twice and missed (from the daemons' own "sync finished" lines), the invoices that are
not exactly once in their ledger, each process's peak memory (VmHWM), and for PostgreSQL the
connections to the database at the busiest (pg_stat_activity, sampled every 0.1 s); with
QuickBooks also the ledger calls per business the sandbox served (and sign-in requests apart),
and the requests it refused with 429. The machine's load average before and after says what
else was running.
"""

from __future__ import annotations

import argparse
import configparser
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

import keyring
from keyrings.alt.escape import escape as escape_for_ini
from keyrings.alt.file import PlaintextKeyring

from connector.adapters.local import MemoryLedger
from connector.credentials import TokenSet, TokenStore
from connector_sandbox.server import Request, Response

NOW = "2026-11-26T08:30:00+00:00"  # 02:30 in Chicago: the 02:00 slot is due
FINISHED = re.compile(r"\[(?P<name>bench-\d+) run \d+\] sync finished")
SETTLE = 5.0  # seconds to wait after the last business, for a second sync to show


LOCAL_LEDGER = '[ledger]\nkind = "local"\npath = "{name}-ledger.json"\n'


def realm(b: int) -> str:
    return f"93{b:06d}"


def write_folder(
    folder: Path, businesses: int, milestones: int, state: str, ledger: str = LOCAL_LEDGER
) -> list[str]:
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
            f"{ledger.replace('{name}', name).replace('{realm}', realm(b))}\n"
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
        self.busiest: dict[str, int] = {}  # connections by application_name at the peak
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self) -> None:
        from sqlalchemy import text

        query = text(
            "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = :db "
            "AND pid <> pg_backend_pid() GROUP BY 1"
        )
        while not self.stop.wait(0.1):
            try:
                with self.engine.connect() as conn:
                    held = {str(a): int(n) for a, n in conn.execute(query, {"db": self.db})}
            except Exception:
                continue
            if sum(held.values()) > self.peak:
                self.peak, self.busiest = sum(held.values()), held

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


class BatchedKeyring(PlaintextKeyring):
    """keyrings.alt's plain file keyring, its writes held in memory until `flush`: a thousand
    businesses' tokens in one write of the file instead of a thousand."""

    def __init__(self) -> None:
        super().__init__()
        self.pending = configparser.RawConfigParser()

    def _write_config_value(self, service: str, key: str, value: str) -> None:
        service, key = escape_for_ini(service), escape_for_ini(key)
        if not self.pending.has_section(service):
            self.pending.add_section(service)
        self.pending.set(service, key, value)

    def flush(self) -> None:
        self._ensure_file_path()
        with open(self.file_path, "w", encoding="utf-8") as out:
            self.pending.write(out)


class QuickBooksWorld:
    """A QuickBooks sandbox in this process, a company and a connection per business, and the
    requests it serves counted per company."""

    def __init__(self, folder: Path, businesses: int, latency_ms: int, backend: str):
        from connector_sandbox import quickbooks_oauth as oauth
        from connector_sandbox.quickbooks import CLIENT_ID, CLIENT_SECRET, QuickBooksSandbox

        self.sign_in_paths = (*oauth.DISCOVERY_PATHS, oauth.TOKEN_PATH, oauth.JWKS_PATH)
        self.sandbox = QuickBooksSandbox().start()
        self.calls: Counter[str] = Counter()
        self.sign_in = 0
        self._lock = threading.Lock()
        home = folder / "keyring-home"
        os.environ["XDG_DATA_HOME"] = str(home)
        ring = BatchedKeyring()
        keyring.set_keyring(ring)
        for b in range(businesses):
            self.sandbox.seed_company(realm(b), company_name=f"Bench company {b}")
            issued = self.sandbox.issue_tokens(realm(b))
            TokenStore(f"bench-{b:05d}", "quickbooks").save(
                TokenSet(CLIENT_ID, CLIENT_SECRET, company_id=realm(b)).rotated(
                    issued["access_token"],
                    issued["expires_in"],
                    issued["refresh_token"],
                    issued.get("x_refresh_token_expires_in"),
                )
            )
        ring.flush()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PYTHON_KEYRING")},
            "XDG_DATA_HOME": str(home),
            "PYTHON_KEYRING_BACKEND": backend,
            "PYTHONPATH": os.pathsep.join(
                [str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")]
            ),
        }
        handle = self.sandbox.handle

        def counted(request: Request) -> Response:
            self.note(request)
            return handle(request)

        self.sandbox.handle = counted  # type: ignore[method-assign]
        self.sandbox.faults.set_latency(timedelta(milliseconds=latency_ms))

    def note(self, request: Request) -> None:
        with self._lock:
            if request.path in self.sign_in_paths:
                self.sign_in += 1
            elif request.path.startswith("/v3/company/"):
                self.calls[request.path.split("/")[3]] += 1

    @property
    def ledger(self) -> str:
        return (
            '[ledger]\nkind = "quickbooks"\nenvironment = "sandbox"\n'
            'realm_id = "{realm}"\n'
            f'api_url = "{self.sandbox.api_url}"\ndiscovery_url = "{self.sandbox.discovery_url}"\n'
        )

    def not_exact(self, businesses: int, milestones: int) -> int:
        """Companies whose invoices are not each of the business's milestones exactly once."""
        wrong = 0
        for b in range(businesses):
            counts = Counter(str(i.get("DocNumber")) for i in self.sandbox.invoices(realm(b)))
            wrong += sum(1 for c in counts.values() if c != 1) + (len(counts) != milestones)
        return wrong

    def close(self) -> None:
        self.sandbox.stop()


def night(
    args: argparse.Namespace, folder: Path, names: list[str], world: QuickBooksWorld | None
) -> None:
    exe = Path(sys.executable).with_name("connector")
    command = [str(exe), "run", "--config-dir", str(folder), "--workers", str(args.workers)]
    fleet = ["--now", NOW, "--tick", str(args.tick)]
    command += fleet if args.state == "postgres" else ["--run-now"]
    logs = [folder / f"worker{i}.log" for i in range(args.processes)]
    env = world.env if world else None
    load: tuple[float, ...] = os.getloadavg()
    started = time.perf_counter()
    procs = []
    for log in logs:
        with log.open("w") as out:
            procs.append(subprocess.Popen(command, stderr=out, env=env))
    try:
        while len(finished(logs)) < len(names):
            if time.perf_counter() - started > args.timeout:
                break
            if all(p.poll() is not None for p in procs):
                sys.exit("every connector run process has exited; see " + str(folder))
            time.sleep(0.5)
        wall = time.perf_counter() - started
        load = (*load, *os.getloadavg())
        time.sleep(SETTLE)
        memory = [peak_mb(p.pid) for p in procs]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
    report(args, names, folder, logs, wall, memory, world, load)


def report(
    args: argparse.Namespace,
    names: list[str],
    folder: Path,
    logs: list[Path],
    wall: float,
    memory: list[float],
    world: QuickBooksWorld | None,
    load: tuple[float, ...],
) -> None:
    runs = finished(logs)
    twice = sum(1 for n in names if runs[n] > 1)
    missed = sum(1 for n in names if runs[n] == 0)
    if world is None:
        wrong = 0
        for name in names:
            counts = Counter(
                d.reference for d in MemoryLedger(folder / f"{name}-ledger.json").documents()
            )
            wrong += sum(1 for c in counts.values() if c != 1) + (len(counts) != args.milestones)
    else:
        wrong = world.not_exact(args.businesses, args.milestones)
    ledger = "local ledger files" if world is None else f"QuickBooks at {args.latency_ms} ms"
    print(
        f"{args.businesses} businesses x {args.milestones} milestones, {args.processes} "
        f"process(es) x {args.workers} workers, state on {args.state}, {ledger}; "
        f"{os.cpu_count()} cores, load average {load[0]:.1f} before, {load[3]:.1f} after"
    )
    print(f"  wall time until every business synced {wall:8.1f} s")
    print(f"  businesses synced twice               {twice:8d}")
    print(f"  businesses missed                     {missed:8d}")
    print(f"  businesses whose ledger is not exact  {wrong:8d}")
    print(f"  peak memory per process (VmHWM)       {max(memory):8.0f} MB (all: {sum(memory):.0f})")
    if world is not None:
        per = [world.calls[realm(b)] for b in range(args.businesses)]
        print(
            f"  ledger calls per business             {sum(per) / len(per):8.2f} "
            f"(min {min(per)}, max {max(per)}; sign-in requests in all: {world.sign_in})"
        )
        print(f"  requests refused with 429             {world.sandbox.limits.refused:8d}")


# the file keyring the businesses' tokens are in (connector/credentials.py parses it once per
# version of the file)
KEYRING = "keyrings.alt.file.PlaintextKeyring"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--businesses", type=int, default=300)
    parser.add_argument("--milestones", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--state", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--ledger", choices=["local", "quickbooks"], default="local")
    parser.add_argument("--latency-ms", type=int, default=200, help="QuickBooks' answer time")
    parser.add_argument("--pg-url", default=os.environ.get("CONNECTOR_TEST_PG_URL"))
    parser.add_argument(
        "--tick", type=int, default=10, help="the fleet's scheduling tick, seconds (60 by default)"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    world = (
        QuickBooksWorld(folder, args.businesses, args.latency_ms, KEYRING)
        if args.ledger == "quickbooks"
        else None
    )
    ledger = world.ledger if world else LOCAL_LEDGER
    try:
        if args.state == "sqlite":
            state = 'path = "{name}.db"'
            names = write_folder(folder, args.businesses, args.milestones, state, ledger)
            night(args, folder, names, world)
            return 0
        return on_postgres(args, folder, world, ledger)
    finally:
        if world is not None:
            world.close()


def on_postgres(
    args: argparse.Namespace, folder: Path, world: QuickBooksWorld | None, ledger: str
) -> int:
    if not args.pg_url:
        sys.exit("--state postgres: give --pg-url or set CONNECTOR_TEST_PG_URL (a server)")
    from sqlalchemy import create_engine, text

    db = "fleet_bench_" + uuid.uuid4().hex[:8]
    admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {db}"))
    url = args.pg_url.rsplit("/", 1)[0] + "/" + db
    try:
        names = write_folder(folder, args.businesses, args.milestones, f'url = "{url}"', ledger)
        connections = Connections(url)
        try:
            night(args, folder, names, world)
        finally:
            print(f"  PostgreSQL connections at the busiest  {connections.close():8d}")
            for name, count in sorted(connections.busiest.items()):
                print(f"      {count:4d} {name or '(no application_name)'}")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {db} WITH (FORCE)"))
        admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
