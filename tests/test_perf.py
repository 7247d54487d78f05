"""Garbage-collection pauses happen only in a one-shot process's main thread, never where the
daemon's threads run: a pause is process-wide.

The one-shot cases run in a fresh interpreter: the test process itself keeps other tests'
threads (sandboxes, servers) alive, and so, rightly, never pauses."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector import perf
from connector.models import BillingRules
from connector.sync import billing

SETUP = """
import gc, json, threading
from datetime import date
from connector import perf
from connector.models import BillingRules
from connector.sync import billing

pauses = []
real = gc.disable
def disable():
    pauses.append(threading.current_thread().name)
    real()
gc.disable = disable

def decide():
    return billing.decide({}, [], [], [], BillingRules("Northwind Studio"), date(2026, 11, 26))

def inside():
    with perf.paused_gc():
        return gc.isenabled()
"""


def alone(code: str) -> object:
    """What `code` prints as JSON, run on the main thread of a fresh interpreter."""
    script = SETUP + textwrap.dedent(code)
    answer = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return json.loads(answer.stdout)


def test_a_one_shot_command_pauses_the_collector_and_restores_it():
    found = alone("""
        decide()
        print(json.dumps([inside(), gc.isenabled(), pauses]))
    """)
    assert found == [False, True, ["MainThread", "MainThread"]]


def test_a_daemonic_helper_thread_does_not_stop_the_pause():
    """A progress bar's refresh thread, as `connector sync` shows one."""
    found = alone("""
        done = threading.Event()
        threading.Thread(target=done.wait, daemon=True).start()
        print(json.dumps([inside(), gc.isenabled(), pauses]))
        done.set()
    """)
    assert found == [False, True, ["MainThread"]]


def test_a_pause_inside_a_pause_leaves_the_collector_off_until_the_outer_one_ends():
    found = alone("""
        with perf.paused_gc():
            nested = [inside(), gc.isenabled()]
        print(json.dumps(nested + [gc.isenabled(), pauses]))
    """)
    assert found == [False, False, True, ["MainThread"]]


def test_what_a_pause_built_is_not_walked_again_and_its_cycles_are_still_freed():
    """After a pause, the records it built count as old: the next young collection does not
    walk all of them again, and a cycle dropped during the pause is freed all the same."""
    found = alone("""
        import weakref
        class Node:
            pass
        with perf.paused_gc():
            records = [(i, str(i)) for i in range(50_000)]  # tracked: tuples holding a str
            a, b = Node(), Node()
            a.other, b.other = b, a
            gone = weakref.ref(a)
            del a, b
        young = gc.get_count()[0]
        freed = gc.collect()
        print(json.dumps([young, gone() is None, freed > 0, len(records)]))
    """)
    young, cycle_freed, something_freed, kept = found
    assert young < 1_000  # not the 50,000 tuples the pause made
    assert cycle_freed and something_freed and kept == 50_000


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every gc.disable() made in this process, by thread name."""
    made: list[str] = []
    real = gc.disable

    def disable() -> None:
        made.append(threading.current_thread().name)
        real()

    monkeypatch.setattr(gc, "disable", disable)
    return made


def decide() -> billing.Decisions:
    return billing.decide({}, [], [], [], BillingRules("Northwind Studio"), date(2026, 11, 26))


def inside() -> bool:
    with perf.paused_gc():
        return gc.isenabled()


def test_billing_in_the_daemons_thread_pool_never_pauses_the_collector(pauses):
    with ThreadPoolExecutor(2) as pool:  # as the daemon runs its syncs
        pool.submit(decide).result()
        assert pool.submit(inside).result() is True
        assert inside() is True  # nor its main thread, while the pool's threads are alive
    assert pauses == [] and gc.isenabled()


DAEMON = """
import atexit, gc, json, os, sys, threading
pauses = []  # (thread, file that asked): weakref's own exit handler pauses too, at exit
real = gc.disable
def disable():
    pauses.append([threading.current_thread().name, sys._getframe(1).f_code.co_filename])
    real()
gc.disable = disable
atexit.register(lambda: open(os.environ["PAUSES_FILE"], "w").write(json.dumps(pauses)))
from connector.cli import main
sys.argv = ["connector", "run", "--config-dir", sys.argv[1], "--run-now", "--workers", "2"]
main()
"""


def test_a_daemon_run_never_pauses_the_collector(tmp_path):
    """`connector run` syncing two businesses with its own scheduler and pool."""
    from tests.test_daemon import finished_runs, write_business

    for name in ("alpha", "beta"):
        write_business(tmp_path, name)
    record = tmp_path / "pauses.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", DAEMON, str(tmp_path)],
        env={**os.environ, "PAUSES_FILE": str(record)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not all(finished_runs(tmp_path, n) for n in ("alpha", "beta")):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    package = str(Path(perf.__file__).parent)
    ours = [p for p in json.loads(record.read_text()) if p[1].startswith(package)]
    assert ours == []


def test_a_large_plan_is_written_as_rich_prints_it(tmp_path, monkeypatch):
    """Past `PLAIN_ROWS` documents the plan is written as plain text, document by document:
    the same text rich prints (a credit note, a deposit, a document whose tax line shows, a
    description too wide for the screen, which rich wraps and so prints itself)."""
    from io import StringIO

    from rich.console import Console

    from connector import render
    from connector.config import load
    from connector.sync import preview
    from connector.sync.plan import document_books
    from tests.conftest import make_business

    business = make_business(tmp_path / "b")
    text = business.config_path.read_text()
    business.config_path.write_text(text.replace("[billing]\n", "[billing]\ntaxable = true\n", 1))
    cfg = load(business.config_path)
    day, decisions = preview(cfg, date(2026, 11, 26))
    books = document_books(cfg, decisions.invoices)
    assert decisions.invoices
    shown = []
    for rows in (10_000, 0):
        monkeypatch.setattr(render, "PLAIN_ROWS", rows)
        for width in (120, 40):
            screen = StringIO()
            console = Console(file=screen, width=width)
            render.plan(console, "B", day, decisions.invoices, [], ["a caveat"], books)
            shown.append(screen.getvalue())
    assert shown[0] == shown[2] and shown[1] == shown[3]
    assert "the ledger computes the tax" in shown[0]


def test_plan_json_is_written_a_document_at_a_time_as_it_was_printed_whole(tmp_path):
    """`plan --json` streams its documents; the text is `json.dumps(plan_json(...), indent=2)`
    to the byte, with documents, their books, skipped milestones, and empty lists."""
    import io

    from connector.config import load
    from connector.sync import preview
    from connector.sync.plan import document_books
    from connector.sync.report import plan_json, write_plan_json
    from tests.conftest import make_business

    business = make_business(tmp_path / "b")
    text = business.config_path.read_text()
    business.config_path.write_text(text.replace("[billing]\n", "[billing]\ntaxable = true\n", 1))
    cfg = load(business.config_path)
    day, decisions = preview(cfg, date(2026, 11, 26))
    books = document_books(cfg, decisions.invoices)
    assert decisions.invoices and decisions.skipped and books
    for invoices, skipped in (
        (decisions.invoices, decisions.skipped),
        ([], decisions.skipped),
        (decisions.invoices, []),
        ([], []),
    ):
        whole = json.dumps(plan_json('Bé "B"', day, invoices, skipped, books), indent=2) + "\n"
        stream = io.StringIO()
        write_plan_json(stream.write, 'Bé "B"', day, invoices, skipped, books)
        assert stream.getvalue() == whole


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON)
def test_indented_json_is_json_dumps_with_an_indent(value):
    """What `plan --json` and `status --json` print with the hand-written indenter is
    `json.dumps(value, indent=2)`, for any JSON value (escapes, nesting, empty lists)."""
    from connector.sync.report import indented

    assert indented(value) == json.dumps(value, indent=2)
