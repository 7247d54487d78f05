"""Benchmark `connector.sync.preview` (what `connector plan` runs) on a large milestones file.

Generates 100,000 milestones over 1,000 contracts (percent and fixed-amount contracts, deposits,
retainage, change orders, contracts not yet started; milestones done and accepted, done and
awaiting approval, open, cancelled) in a temporary folder, as milestones.toml and as
milestones.csv with the same content, plus a config for each. Then, for each format, a fresh
Python process (so `ru_maxrss` belongs to the plan alone) measures:

  * preview wall time and peak RSS (`resource.getrusage(...).ru_maxrss`),
  * preview again under tracemalloc: peak Python allocations,
  * the split: reading the file (decode, TOML/CSV parse, records -> milestones) vs billing.

Usage:
    python bench/plan_bench.py                    # both formats, the default size
    python bench/plan_bench.py --format toml --profile   # plus the top cProfile hotspots
    python bench/plan_bench.py --contracts 100 --per-contract 100   # a smaller run

Targets (2-core machine): preview under 3 s and under 300 MB.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

AS_OF = date(2026, 11, 26)
TARGET_SECONDS = 3.0
TARGET_MB = 300.0
COLUMNS = ["id", "contract", "title", "percent", "amount", "status", "completed", "accepted"]


# -- generating the business --------------------------------------------------------------------


def _contract(i: int) -> tuple[dict[str, Any], bool, str]:
    """Contract number i: its config keys, whether its milestones are percents, its currency."""
    currency = "JPY" if i % 10 == 3 else ("EUR" if i % 10 == 6 else "USD")
    whole = currency == "JPY"
    value = 10_000_000 + i if whole else 100_000 + i
    c: dict[str, Any] = {
        "id": f"C{i:04d}",
        "customer": f"Customer {i % 400}",  # customers with several contracts
        "currency": currency,
        "value": f"{value}" if whole else f"{value}.00",
        "start": "2027-01-01" if i % 97 == 5 else "2026-01-01",  # a few not started yet
    }
    if i % 5 == 0:
        c["deposit"] = "10%"
    elif i % 5 == 1:
        c["deposit"] = "5000" if whole else "5000.00"
    if i % 3 == 0:
        c["retainage"] = "5%"
    if i % 7 == 0:
        c["change_orders"] = [
            {"id": "CO-1", "amount": "2000" if whole else "2000.00", "approved": "2026-06-01"},
            {"id": "CO-2", "amount": "-500" if whole else "-500.00", "approved": "2026-09-15"},
        ]
    return c, i % 2 == 0, currency


def _percents(per: int) -> list[str]:
    """`per` percents alternating half and one and a half shares, totalling exactly 100."""
    share = (Decimal(100) / per).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    out = [share * (Decimal("0.5") if j % 2 == 0 else Decimal("1.5")) for j in range(per - 1)]
    out.append(Decimal(100) - sum(out, Decimal(0)))
    return [format(p.normalize(), "f") for p in out]


def _milestone(c: dict[str, Any], percent: str | None, j: int) -> dict[str, str]:
    """Milestone j: a percent of the value, or a fixed amount that keeps the total under it."""
    m = {"id": f"{c['id']}-M{j:03d}", "contract": c["id"], "title": f"Phase {j + 1}"}
    if percent is not None:
        m["percent"] = percent
    else:
        m["amount"] = "900" if c["currency"] == "JPY" else f"{900 + j % 50}.{j % 100:02d}"
    done = date(2026, 1, 5) + timedelta(days=(j * 3) % 310)
    if j % 50 == 7:
        m["status"] = "cancelled"
    elif j % 10 == 9:
        m["status"] = "open"  # not done
    else:
        m["status"] = "done"
        m["completed"] = done.isoformat()
        if j % 10 != 8:  # j % 10 == 8: done, awaiting the client's approval
            m["accepted"] = (done + timedelta(days=2)).isoformat()
    return m


def generate(root: Path, contracts: int, per_contract: int) -> None:
    """Write config-toml.toml, config-csv.toml and the milestones file each one names."""
    percents = _percents(per_contract)
    contract_toml: list[str] = []
    toml_blocks: list[str] = []
    csv_rows: list[str] = [",".join(COLUMNS)]
    for i in range(contracts):
        c, percent_kind, _ = _contract(i)
        orders = c.pop("change_orders", [])
        contract_toml.append("[[contracts]]")
        for key, value in c.items():
            contract_toml.append(f"{key} = {value}" if key == "start" else f'{key} = "{value}"')
        for co in orders:
            contract_toml += [
                "[[contracts.change_orders]]",
                f'id = "{co["id"]}"',
                f'amount = "{co["amount"]}"',
                f"approved = {co['approved']}",
            ]
        contract_toml.append("")
        for j in range(per_contract):
            m = _milestone(c, percents[j] if percent_kind else None, j)
            lines = ["[[milestones]]"]
            for key in COLUMNS:
                if key in m:
                    date_key = key in ("completed", "accepted")
                    lines.append(f"{key} = {m[key]}" if date_key else f'{key} = "{m[key]}"')
            toml_blocks.append("\n".join(lines))
            csv_rows.append(",".join(m.get(key, "") for key in COLUMNS))
    (root / "milestones.toml").write_text("\n\n".join(toml_blocks) + "\n", encoding="utf-8")
    (root / "milestones.csv").write_text("\n".join(csv_rows) + "\n", encoding="utf-8")
    for fmt in ("toml", "csv"):
        path = root / f"config-{fmt}.toml"
        path.write_text(
            "\n".join(
                [
                    '[business]\nname = "Bench Builders"\ntimezone = "America/Chicago"\n',
                    '[state]\npath = "state/never-created.db"\n',
                    f'[tracker]\nkind = "file"\npath = "milestones.{fmt}"\n',
                    '[ledger]\nkind = "local"\npath = "ledger.json"\n',
                    '[billing]\napproval = "required"\n',
                    *contract_toml,
                ]
            ),
            encoding="utf-8",
        )


# -- measuring (in a fresh process) -------------------------------------------------------------


def _rss_mb() -> float:
    # Linux reports kilobytes, macOS bytes.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def measure(config_path: Path, profile: bool) -> dict[str, Any]:
    from connector import config as config_mod
    from connector.sync import billing, preview

    out: dict[str, Any] = {"rss_baseline_mb": _rss_mb()}
    t = time.perf_counter()
    cfg = config_mod.load(config_path)
    out["config_load_s"] = time.perf_counter() - t

    # 1. the whole preview, as `connector plan` runs it: wall time and the process's peak RSS
    gc.collect()
    t = time.perf_counter()
    _, decisions = preview(cfg, AS_OF)
    out["preview_s"] = time.perf_counter() - t
    out["rss_peak_mb"] = _rss_mb()
    out["invoices"] = len(decisions.invoices)
    out["skipped"] = len(decisions.skipped)
    out["problems"] = len(decisions.problems)
    del decisions

    # 2. the split: reading the file vs billing
    source = cfg.source()
    t = time.perf_counter()
    text = source.path.read_bytes().decode("utf-8-sig")
    out["read_decode_s"] = time.perf_counter() - t
    t = time.perf_counter()
    csv_file = source.path.suffix.lower() == ".csv"
    records = source._records_csv(text) if csv_file else source._records_toml(text)
    out["parse_file_s"] = time.perf_counter() - t
    t = time.perf_counter()
    good, bad = source._parse(records)
    out["records_to_milestones_s"] = time.perf_counter() - t
    del records, text
    t = time.perf_counter()
    batch = source.read(None)
    out["source_read_s"] = time.perf_counter() - t
    out["milestones"] = len(batch.milestones)
    out["invalid"] = len(batch.invalid)
    del batch
    gc.collect()
    t = time.perf_counter()
    billing.decide(cfg.contracts, good, bad, [], cfg.rules, AS_OF)
    out["billing_s"] = time.perf_counter() - t
    del good, bad

    # 3. peak Python allocations during one preview (tracemalloc slows the run; not timed)
    gc.collect()
    tracemalloc.start()
    _, decisions = preview(cfg, AS_OF)
    out["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / (1024 * 1024)
    tracemalloc.stop()
    del decisions

    if profile:
        gc.collect()
        profiler = cProfile.Profile()
        profiler.enable()
        preview(cfg, AS_OF)
        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stderr).strip_dirs()
        print(f"\n--- cProfile: {config_path.name}, by own time ---", file=sys.stderr)
        stats.sort_stats("tottime").print_stats(20)
        print(f"--- cProfile: {config_path.name}, by cumulative time ---", file=sys.stderr)
        stats.sort_stats("cumulative").print_stats(25)
    return out


# -- driver -------------------------------------------------------------------------------------


def report(fmt: str, r: dict[str, Any], size_mb: float) -> bool:
    ok_time = r["preview_s"] < TARGET_SECONDS
    ok_mem = r["rss_peak_mb"] < TARGET_MB and r["tracemalloc_peak_mb"] < TARGET_MB
    verdict = "meets target" if ok_time and ok_mem else "MISSES target"
    print(f"\n== milestones.{fmt} ({size_mb:.1f} MB on disk): {verdict}")
    print(
        f"   planned: {r['invoices']} invoices; {r['skipped']} milestones not billed "
        f"({r['problems']} problems); {r['milestones']} valid, {r['invalid']} invalid records"
    )
    print(f"   preview wall time        {r['preview_s']:7.2f} s   (target < {TARGET_SECONDS} s)")
    print(f"     read + decode          {r['read_decode_s']:7.2f} s")
    print(f"     parse {fmt:<4}             {r['parse_file_s']:7.2f} s")
    print(f"     records -> milestones  {r['records_to_milestones_s']:7.2f} s")
    print(f"     = file source read     {r['source_read_s']:7.2f} s")
    print(f"     billing.decide         {r['billing_s']:7.2f} s")
    print(f"   config load              {r['config_load_s']:7.2f} s   (not in preview)")
    print(
        f"   peak RSS (ru_maxrss)     {r['rss_peak_mb']:7.1f} MB  "
        f"(of which {r['rss_baseline_mb']:.1f} MB interpreter + imports; target < {TARGET_MB})"
    )
    print(f"   tracemalloc peak         {r['tracemalloc_peak_mb']:7.1f} MB")
    return ok_time and ok_mem


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contracts", type=int, default=1000)
    parser.add_argument("--per-contract", type=int, default=100)
    parser.add_argument("--format", choices=["toml", "csv", "both"], default="both")
    parser.add_argument("--profile", action="store_true", help="print cProfile hotspots")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    # Child processes: Linux carries the parent's peak RSS over into a child's ru_maxrss, so the
    # parent stays small and both generating and measuring happen in fresh processes.
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.generate:
        generate(args.generate, args.contracts, args.per_contract)
        return 0
    if args.measure:
        print(json.dumps(measure(args.measure, args.profile)))
        return 0

    root = Path(tempfile.mkdtemp(prefix="plan-bench-"))
    t = time.perf_counter()
    sizes = ["--contracts", str(args.contracts), "--per-contract", str(args.per_contract)]
    subprocess.run([sys.executable, __file__, "--generate", str(root), *sizes], check=True)
    configs = {fmt: root / f"config-{fmt}.toml" for fmt in ("toml", "csv")}
    total = args.contracts * args.per_contract
    print(
        f"generated {total} milestones over {args.contracts} contracts in {root} "
        f"({time.perf_counter() - t:.1f} s); as of {AS_OF}"
    )
    all_ok = True
    for fmt in ["toml", "csv"] if args.format == "both" else [args.format]:
        cmd = [sys.executable, __file__, "--measure", str(configs[fmt])]
        if args.profile:
            cmd.append("--profile")
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
        size = (root / f"milestones.{fmt}").stat().st_size / (1024 * 1024)
        all_ok &= report(fmt, json.loads(done.stdout.strip().splitlines()[-1]), size)
    state_created = (root / "state" / "never-created.db").exists()
    print(f"\nstate database created by preview: {state_created} (expected False)")
    if not args.keep:
        for path in sorted(root.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        root.rmdir()
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
