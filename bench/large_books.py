"""Large books: a quiet night, `status` and `plan` over a state that real syncs filled (a
benchmark, not a test).

    python bench/large_books.py                         # 10k and 100k milestones
    python bench/large_books.py --sizes 100000 --profile  # cProfile of the quiet night
    python bench/large_books.py --sizes 1000000 --plan-only  # plan alone at 1M (memory!)

For each size it writes the business `bench/plan_bench.py` generates (1,000 contracts, percent
and fixed milestones, deposits, retainage, change orders, approval required), with a real state
database and a local ledger file, then fills the state with real syncs (`run_once` on the
local ledger, as `connector sync` runs it): a first night bills every billable milestone, the
local ledger appending each batch to its file (`--save-once` writes it once a night instead, for
code from before issue 14, whose ledger rewrote the whole file after every batch). Then each command
below runs in a fresh process (`connector ...`, so start-up counts), and its wall
time, peak RSS (the child's `ru_maxrss`, from `os.wait4`) and the sizes of its stdout and
stderr are printed:

  * sync --as-of (a quiet night: nothing new in the tracker or the ledger)
  * status (the summary), status --all (every invoice), status --json
  * plan, plan --json (to /dev/null)

With --repeat N each command runs N times and the fastest is printed (the quiet night runs on
the books the previous one left, which are the same books).

Targets (2-core machine, 100k milestones, ~77k invoices in state): a quiet night under 3 s
and 250 MB; status under 3 s; plan under 3 s; plan --json under 300 MB at 1M milestones.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import plan_bench  # the generator of the business, beside this file

AS_OF = plan_bench.AS_OF
CONTRACTS = 1000


def write_business(root: Path, milestones: int) -> Path:
    """The plan benchmark's CSV business, with a state database and a ledger file it keeps."""
    plan_bench.generate(root, CONTRACTS, max(1, milestones // CONTRACTS))
    config = root / "config-csv.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("state/never-created.db", "state/books.db"), encoding="utf-8")
    return config


def build(config: Path, save_once: bool = False) -> dict[str, float]:
    """Fill the state with real syncs: the first night, then one more so that every close-out
    waiting for its contract's confirmations has gone. The local ledger appends each batch to
    its file, as `connector sync` has it do (until issue 14 it rewrote the whole file after each
    batch, so this wrote it once a night instead: `--save-once` still does, for old code)."""
    from connector import config as config_mod
    from connector.adapters.local import MemoryLedger
    from connector.sync import run_once

    cfg = config_mod.load(config)
    out: dict[str, float] = {}
    for night in ("first", "second"):
        ledger = cfg.ledger()
        assert isinstance(ledger, MemoryLedger)
        save = ledger._save
        if save_once:
            ledger._save = lambda: None  # type: ignore[method-assign]
        t = time.perf_counter()
        report = run_once(cfg, as_of=AS_OF, ledger=ledger)
        if save_once:
            save()
        out[f"{night}_night_s"] = time.perf_counter() - t
        out[f"{night}_night_created"] = len(report.created)
    return out


def measure(args: list[str], cwd: Path) -> tuple[float, float, int, int, int]:
    """Wall time, peak RSS (MB), exit code and the sizes of the output and of the errors of
    `connector ARGS` in a fresh process (a night that lists 100,000s of problems spends most of
    its time printing them to stderr)."""
    t = time.perf_counter()
    with tempfile.TemporaryFile() as sink, tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from connector.cli import main; main()", *args],
            cwd=cwd,
            stdout=sink,
            stderr=errors,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        size, said = sink.seek(0, os.SEEK_END), errors.seek(0, os.SEEK_END)
    return wall, usage.ru_maxrss / 1024, proc.returncode, size, said


def invoices_in_state(config: Path) -> int:
    """Counted with sqlite3 itself, so that this parent process stays small."""
    with sqlite3.connect(config.parent / "state" / "books.db") as db:
        return int(db.execute("SELECT count(*) FROM invoices").fetchone()[0])


def profile_night(config: Path) -> None:
    """cProfile of one quiet night, in this process, by cumulative and own time."""
    from connector import config as config_mod
    from connector.sync import run_once

    cfg = config_mod.load(config)
    profiler = cProfile.Profile()
    profiler.enable()
    run_once(cfg, as_of=AS_OF)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stderr).strip_dirs()
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(20)


COMMANDS = {
    "quiet night (sync)": ["sync", "-c", "{config}", "--as-of", str(AS_OF)],
    "status": ["status", "-c", "{config}", "--as-of", str(AS_OF)],
    "status --all": ["status", "-c", "{config}", "--as-of", str(AS_OF), "--all"],
    "status --json": ["status", "-c", "{config}", "--as-of", str(AS_OF), "--json"],
    "plan": ["plan", "-c", "{config}", "--as-of", str(AS_OF)],
    "plan --json": ["plan", "-c", "{config}", "--as-of", str(AS_OF), "--json"],
}
PLAN_ONLY = ("plan", "plan --json")


def run_size(milestones: int, args: argparse.Namespace) -> None:
    if args.reuse:
        root = args.reuse
        config = root / "config-csv.toml"
        print(f"\n== the books in {root}", flush=True)
    else:
        root = Path(tempfile.mkdtemp(prefix=f"large-books-{milestones}-"))
        # in a child: Linux carries a parent's peak RSS over into its children's ru_maxrss,
        # and a million generated milestones would be counted in every command's peak
        subprocess.run(
            [sys.executable, __file__, "--write", str(root), str(milestones)], check=True
        )
        config = root / "config-csv.toml"
        print(f"\n== {milestones:,} milestones over {CONTRACTS} contracts ({root})", flush=True)
    if args.reuse:
        print(f"   {invoices_in_state(config):,} invoices in state (as built before)", flush=True)
    elif not args.plan_only:
        # in a child: Linux carries a parent's peak RSS over into its children's ru_maxrss
        done = subprocess.run(
            [sys.executable, __file__, "--build", str(config)]
            + (["--save-once"] if args.save_once else []),
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        built = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"   built with real syncs: first night {built['first_night_s']:.1f} s "
            f"({built['first_night_created']:.0f} created), second "
            f"{built['second_night_s']:.1f} s ({built['second_night_created']:.0f} created); "
            f"{invoices_in_state(config):,} invoices in state",
            flush=True,
        )
        if args.profile:
            subprocess.run([sys.executable, __file__, "--profile-night", str(config)], check=True)
    for name, command in COMMANDS.items():
        if args.plan_only and name not in PLAN_ONLY:
            continue
        if args.only and name not in args.only:
            continue
        runs = [
            measure([a.format(config=config) for a in command], root) for _ in range(args.repeat)
        ]
        wall, rss, code, size, said = min(runs)  # the fastest: the machine may be busy
        print(
            f"   {name:<20} {wall:7.2f} s  {rss:8.1f} MB  exit {code}  "
            f"{size / 1024:9.1f} KiB printed, {said / 1024:9.1f} KiB on stderr",
            flush=True,
        )
    if args.keep or args.reuse:
        print(f"   kept in {root}")
    else:
        subprocess.run(["rm", "-rf", str(root)], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--plan-only", action="store_true", help="no state: plan and its JSON")
    parser.add_argument("--only", nargs="+", help="only these commands (names as printed)")
    parser.add_argument("--profile", action="store_true", help="cProfile one quiet night")
    parser.add_argument(
        "--repeat", type=int, default=1, help="run each command N times, keep the fastest"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated folder")
    parser.add_argument("--reuse", type=Path, help="measure a folder built with --keep again")
    parser.add_argument(
        "--save-once",
        action="store_true",
        help="build with the local ledger's file written once a night (for code before issue 14)",
    )
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--write", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--profile-night", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        print(json.dumps(build(args.build, args.save_once)))
        return 0
    if args.write:
        write_business(Path(args.write[0]), int(args.write[1]))
        return 0
    if args.profile_night:
        profile_night(args.profile_night)
        return 0
    if args.reuse:
        args.sizes = [0]
    for milestones in args.sizes:
        run_size(milestones, args)
    print(json.dumps({"as_of": str(AS_OF)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
