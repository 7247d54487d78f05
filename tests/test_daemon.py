"""`connector run` as a real process: two businesses synced at start, a broken config skipped,
SIGTERM ends it cleanly with exit code 0."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from connector.adapters.local import MemoryLedger
from connector.errors import StateError
from connector.sync.state import State
from tests.conftest import CONFIG, MILESTONES, Hook
from tests.test_notify import smtp  # noqa: F401  (a fixture: a real SMTP server)


def write_business(folder: Path, name: str) -> Path:
    text = CONFIG.replace("{on_change}", "flag").replace("{state}", f'path = "{name}.db"')
    text = text.replace('name = "Northwind Studio"', f'name = "{name}"')
    text = text.replace('path = "milestones.toml"', f'path = "{name}-milestones.toml"')
    text = text.replace('path = "ledger.json"', f'path = "{name}-ledger.json"')
    (folder / f"{name}-milestones.toml").write_text(MILESTONES)
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def finished_runs(folder: Path, name: str) -> int:
    path = folder / f"{name}.db"
    if not path.exists():
        return 0
    try:
        state = State.open(f"sqlite:///{path}", name, path=path, read_only=True)
    except StateError:  # the daemon is creating it right now
        return 0
    last = state.last_run()
    return state.count_runs() if last and last["finished_at"] else 0


def test_run_now_syncs_every_business_and_stops_cleanly_on_sigterm(tmp_path):
    for name in ("alpha", "beta"):
        write_business(tmp_path, name)
    (tmp_path / "broken.toml").write_text("[business\nname = 'oops'\n")
    exe = Path(sys.executable).with_name("connector")
    proc = subprocess.Popen(
        [str(exe), "run", "--config-dir", str(tmp_path), "--run-now", "--workers", "2"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(finished_runs(tmp_path, n) for n in ("alpha", "beta")):
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.2)
        else:
            raise AssertionError("the two businesses were not synced within 60 s")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = proc.stderr.read() if proc.stderr else ""
    assert code == 0, log
    assert "skipping" in log and "broken.toml" in log and "not valid TOML" in log
    for name in ("alpha", "beta"):
        ledger = MemoryLedger(tmp_path / f"{name}-ledger.json")
        assert len(ledger.documents()) == 6
        state = State.open(
            f"sqlite:///{tmp_path / f'{name}.db'}",
            name,
            path=tmp_path / f"{name}.db",
            read_only=True,
        )
        assert state.last_run()["outcome"] == "ok"
        assert f"[{name} run 1] sync finished: ok; invoices created 6" in log


EARLY_SIGTERM = """
import os, signal, sys, time
from apscheduler.schedulers.blocking import BlockingScheduler
real_start = BlockingScheduler.start
def start(self, *args, **kwargs):  # SIGTERM after the handlers are in, before the scheduler runs
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.5)  # the signal's shutdown is under way first
    real_start(self, *args, **kwargs)
BlockingScheduler.start = start
from connector.cli import main
sys.argv = ["connector", "run", "--config-dir", sys.argv[1], "--run-now", "--workers", "2"]
main()
"""


def test_a_sigterm_while_the_daemon_starts_stops_it_before_any_sync(tmp_path):
    """systemd may stop the service the moment it started: the daemon exits, cleanly and at
    once, rather than run on deaf to that signal until it is killed."""
    write_business(tmp_path, "alpha")
    proc = subprocess.Popen(
        [sys.executable, "-c", EARLY_SIGTERM, str(tmp_path)], stderr=subprocess.PIPE, text=True
    )
    try:
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = proc.stderr.read() if proc.stderr else ""
    assert code == 0, log
    assert "stopping on signal 15" in log and "Traceback" not in log, log
    assert finished_runs(tmp_path, "alpha") == 0  # stopped before the night's first sync


def test_the_daemon_posts_a_summary_to_the_webhook(tmp_path, webhook):
    from connector import config as config_mod
    from connector.daemon import Business, sync_business

    path = write_business(tmp_path, "gamma")
    path.write_text(path.read_text() + f'\n[notify]\nwebhook_url = "{webhook}/hook"\n')
    sync_business(Business(path, config_mod.load(path), 0.0))
    ((where, payload),) = Hook.received
    assert where == "/hook"
    assert payload["business"] == "gamma" and payload["outcome"] == "ok"
    assert len(payload["created"]) == 6
    assert all(isinstance(i["total"], str) for i in payload["created"])


def test_sighup_picks_up_a_new_business_and_drops_a_removed_one(tmp_path):
    first = write_business(tmp_path, "alpha")
    log_path = tmp_path / "daemon.log"
    exe = Path(sys.executable).with_name("connector")
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            [str(exe), "run", "--config-dir", str(tmp_path)], stderr=log_file, text=True
        )
    try:
        wait_for(log_path, "scheduled alpha")
        write_business(tmp_path, "beta")
        first.unlink()
        proc.send_signal(signal.SIGHUP)
        wait_for(log_path, "scheduled beta")
        wait_for(log_path, f"removed {first}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def wait_for(path: Path, text: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in path.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not logged; log:\n{path.read_text()}")


def test_a_daemon_wide_webhook_hears_of_every_business(tmp_path, webhook):
    from connector import config as config_mod
    from connector.daemon import Business, sync_business

    everyone = tmp_path / "notify.toml"
    everyone.write_text(f'[notify]\nwebhook_url = "{webhook}/all"\n')
    settings = config_mod.load_notify(everyone)
    for name in ("alpha", "beta"):
        path = write_business(tmp_path, name)
        sync_business(Business(path, config_mod.load(path), 0.0), everyone=settings)
    assert sorted(body["business"] for _, body in Hook.received) == ["alpha", "beta"]


def test_a_bad_daemon_notify_file_stops_the_daemon_before_it_starts(tmp_path):
    (tmp_path / "notify.toml").write_text('[notify]\nemail_to = ["a@b.test"]\npassword = "x"\n')
    write_business(tmp_path, "alpha")
    exe = Path(sys.executable).with_name("connector")
    done = subprocess.run(
        [
            str(exe),
            "run",
            "--config-dir",
            str(tmp_path),
            "--notify-config",
            str(tmp_path / "notify.toml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "notify.toml" in done.stderr and "password: looks like a credential" in done.stderr
    assert "notify.password: unknown key; expected one of: email_to" in done.stderr


def test_a_run_that_cannot_start_is_still_reported(tmp_path, webhook):
    from connector import config as config_mod
    from connector.daemon import Business, sync_business

    path = write_business(tmp_path, "delta")
    path.write_text(path.read_text() + f'\n[notify]\nwebhook_url = "{webhook}/hook"\n')
    business = Business(path, config_mod.load(path), 0.0)
    (tmp_path / "delta-milestones.toml").unlink()  # the tracker file went missing
    outcomes: list[tuple[str, str]] = []
    sync_business(business, on_done=lambda name, outcome: outcomes.append((name, outcome)))
    assert outcomes == [("delta", "failed")]
    ((_, payload),) = Hook.received
    assert payload["outcome"] == "failed"
    assert any("could not run" in p and "delta-milestones.toml" in p for p in payload["problems"])


def test_each_business_job_is_coalesced_single_and_in_its_time_zone(tmp_path):
    from connector.daemon import JITTER, MISFIRE_GRACE, Daemon

    path = write_business(tmp_path, "alpha")
    path.write_text(path.read_text() + '\n[schedule]\ncron = "30 1 * * 1-5"\n')
    daemon = Daemon(None, tmp_path, workers=2)
    daemon.reload()
    (job,) = daemon.scheduler.get_jobs()
    assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, MISFIRE_GRACE)
    assert job.trigger.jitter == JITTER and str(job.trigger.timezone) == "America/Chicago"
    assert str(job.trigger) == "cron[month='*', day='*', day_of_week='1-5', hour='1', minute='30']"


def test_each_digest_has_its_digest_by_job_in_its_time_zone(tmp_path):
    """The daemon-wide digest at its digest_by in digest_timezone; a business's own digest in
    the business's zone; a [notify] without digest (or without email) has no such job."""
    from connector import config as config_mod
    from connector.daemon import Daemon
    from connector.notify import DAEMON_SMTP_KEY

    extra = 'digest_by = "06:30"\ndigest_timezone = "Europe/Berlin"\n'
    everyone = config_mod.load_notify(_write(tmp_path / "notify.toml", digest_notify(25) + extra))
    alpha = write_business(tmp_path, "alpha")
    alpha.write_text(alpha.read_text() + "\n" + digest_notify(25))
    beta = write_business(tmp_path, "beta")
    beta.write_text(beta.read_text() + "\n" + digest_notify(25, digest=False))
    daemon = Daemon(None, tmp_path, workers=2, notify=everyone)
    daemon.reload()
    jobs = {j.id: j for j in daemon.scheduler.get_jobs() if j.id.startswith("digest:")}
    assert sorted(jobs) == [f"digest:{DAEMON_SMTP_KEY}", "digest:alpha"]
    wide, own = jobs[f"digest:{DAEMON_SMTP_KEY}"], jobs["digest:alpha"]
    assert str(wide.trigger.timezone) == "Europe/Berlin" and "hour='6', minute='30'" in str(
        wide.trigger
    )
    assert str(own.trigger.timezone) == "America/Chicago" and "hour='8', minute='0'" in str(
        own.trigger
    )
    daemon.reload()  # a SIGHUP replaces them, never doubles them
    assert len([j for j in daemon.scheduler.get_jobs() if j.id.startswith("digest:")]) == 2


def test_a_config_broken_while_being_edited_keeps_its_last_good_schedule(tmp_path):
    from connector.daemon import Daemon

    path = write_business(tmp_path, "alpha")
    daemon = Daemon(None, tmp_path)
    daemon.reload()
    good = path.read_text()
    path.write_text(good.replace("[business]", "[business"))  # half-saved by an editor
    daemon.reload()
    assert [j.name for j in daemon.scheduler.get_jobs()] == ["alpha"]
    path.unlink()  # removed on purpose: its job goes
    daemon.reload()
    assert daemon.scheduler.get_jobs() == []


def test_sighup_then_sigterm_exits_cleanly(tmp_path):
    for name in ("alpha", "beta"):
        write_business(tmp_path, name)
    exe = Path(sys.executable).with_name("connector")
    log_path = tmp_path / "daemon.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            [str(exe), "run", "--config-dir", str(tmp_path), "--run-now", "--workers", "1"],
            stderr=log_file,
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},
        )
    try:
        deadline = time.monotonic() + 60
        while not finished_runs(tmp_path, "alpha") and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGHUP)  # a reload and a shutdown at once never deadlock
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # every thread's stack into the log
            proc.wait(timeout=10)
            raise AssertionError(f"the daemon hung; log:\n{log_path.read_text()}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
    log = log_path.read_text()
    assert code == 0, log
    assert "Traceback" not in log


def test_under_systemd_every_entry_is_one_journal_line_with_its_priority(tmp_path):
    """stderr is the journal (systemd sets JOURNAL_STREAM to its device and inode): each entry
    carries its sd-daemon priority, a config's list of problems stays one entry, the next run
    of each business is logged, so is a stray *.toml (once per load) and a SIGHUP that finds
    nothing changed."""
    write_business(tmp_path, "alpha")  # alpha-milestones.toml is named by alpha: not stray
    (tmp_path / "broken.toml").write_text('[business]\nname = 7\n[ledger]\nkind = "nope"\n')
    (tmp_path / "old-milestones.toml").write_text(MILESTONES)  # nobody's milestones file
    (tmp_path / "notify.toml").write_text('[notify]\nwebhook_url = "http://127.0.0.1:9/x"\n')
    exe = Path(sys.executable).with_name("connector")
    log_path = tmp_path / "journal.log"
    with log_path.open("w") as journal:
        info = os.fstat(journal.fileno())
        proc = subprocess.Popen(
            [str(exe), "run", "--config-dir", str(tmp_path)],
            stderr=journal,
            env={**os.environ, "JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"},
        )
    try:
        wait_for(log_path, "scheduled alpha")
        proc.send_signal(signal.SIGHUP)
        wait_for(log_path, "SIGHUP: no change")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = log_path.read_text().splitlines()
    assert lines and all(re.match(r"<[2-7]>", line) for line in lines), lines
    skipped = next(line for line in lines if "skipping" in line)  # at start and at the SIGHUP
    assert skipped.startswith(f"<3>ERROR skipping {tmp_path / 'broken.toml'}: 3 problems\\n  ")
    assert "\\n  ledger.kind: no ledger adapter named 'nope'" in skipped
    (scheduled,) = [line for line in lines if "scheduled alpha" in line]
    assert re.match(
        r"<6>INFO scheduled alpha \(0 2 \* \* \*, America/Chicago\): "
        r"next run \d{4}-\d\d-\d\d 0[12]:\d\d:\d\d C[SD]T$",
        scheduled,
    ), scheduled
    strays = [line for line in lines if "ignoring" in line]
    assert len(strays) == 2  # at start and at the SIGHUP, naming the file each time
    assert all(s.startswith("<4>WARNING ignoring ") for s in strays)
    assert all(str(tmp_path / "old-milestones.toml") in s for s in strays)
    assert any(line.startswith("<6>INFO SIGHUP: no change") for line in lines)
    assert not any("journal.log" in s or "notify.toml" in s for s in strays)


def test_a_change_found_by_sighup_logs_the_new_next_run(tmp_path):
    from connector.daemon import Daemon

    path = write_business(tmp_path, "alpha")
    daemon = Daemon(None, tmp_path)
    # running (paused: nothing is synced), so a reload knows each job's next run
    import threading

    runner = threading.Thread(target=daemon.scheduler.start, kwargs={"paused": True})
    runner.start()
    while not daemon.scheduler.running:
        time.sleep(0.01)
    try:
        daemon.reload()
        path.write_text(path.read_text() + '\n[schedule]\ncron = "30 1 * * 1-5"\n')
        os.utime(path, (time.time() + 5, time.time() + 5))
        with _logged() as lines:
            daemon.reload()
            daemon.reload()
    finally:
        daemon.scheduler.shutdown(wait=False)
        runner.join(timeout=10)
    assert re.match(r"updated alpha \(30 1 \* \* 1-5, America/Chicago\): next run ", lines[0])
    assert lines[1:] == ["SIGHUP: no change; 1 business(es) keep their schedules"]


@contextmanager
def _logged() -> Iterator[list[str]]:
    """The messages `connector.daemon` logs inside the block."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Collect(logging.INFO)
    logger = logging.getLogger("connector.daemon")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


# -- the morning digest ---------------------------------------------------------------------------


def digest_notify(port: int, **extra: object) -> str:
    lines = [
        "[notify]",
        'email_to = ["books@northwind.test"]',
        'email_from = "connector@northwind.test"',
        'smtp_host = "127.0.0.1"',
        f"smtp_port = {port}",
        "smtp_starttls = false",
        *(f"{key} = {str(value).lower()}" for key, value in extra.items()),
    ]
    return "\n".join(lines) + "\n"


def test_one_digest_goes_once_every_business_has_run(tmp_path, smtp):  # noqa: F811
    """The daemon-wide digest waits for the last business of the night, then tells of both;
    a business that asks for an email per run (digest = false) still gets it at once."""
    from connector import config as config_mod
    from connector.daemon import Business, sync_business
    from connector.digest_send import DigestBook

    handler, port = smtp
    everyone = config_mod.load_notify(_write(tmp_path / "notify.toml", digest_notify(port)))
    alpha = write_business(tmp_path, "alpha")
    beta = write_business(tmp_path, "beta")
    beta.write_text(beta.read_text() + "\n" + digest_notify(port, digest=False))
    businesses = {p: Business(p, config_mod.load(p), 0.0) for p in (alpha, beta)}
    book = DigestBook(lambda: ({p: b.config for p, b in businesses.items()}, everyone))

    sync_business(businesses[alpha], everyone=everyone, digests=book)
    assert handler.messages == []  # beta has not run yet: no digest, no email per run
    sync_business(businesses[beta], everyone=everyone, digests=book)
    subjects = sorted(str(m["Subject"]).strip() for m in handler.messages)
    assert subjects == [
        "Morning digest, 2 businesses: 12 invoices created",
        "beta: 6 invoices created",  # beta's own people, after its run, as before
    ]
    digest = next(m for m in handler.messages if "Morning digest" in str(m["Subject"]))
    text = str(digest.get_body(("plain",)).get_content())
    assert "== alpha ==" in text and "== beta ==" in text and "== All businesses ==" in text
    assert "- USD: 54,000.00 USD outstanding" in text  # each business's ACME-WEB
    assert "- USD: 108,000.00 USD outstanding" in text  # both, still one currency at a time

    # the next night nothing is new: one heartbeat, so that silence would mean trouble
    for path in (alpha, beta):
        sync_business(businesses[path], everyone=everyone, digests=book)
    assert str(handler.messages[-1]["Subject"]).strip() == (
        "Morning digest, 2 businesses: all quiet (2 businesses synced)"
    )
    assert len(handler.messages) == 3

    # with heartbeat = false a quiet night sends nothing at all
    everyone = config_mod.load_notify(
        _write(tmp_path / "notify.toml", digest_notify(port, heartbeat=False))
    )
    for path in (alpha, beta):
        sync_business(businesses[path], everyone=everyone, digests=book)
    assert len(handler.messages) == 3


def test_at_digest_by_the_runs_that_finished_go_out(tmp_path, smtp):  # noqa: F811
    """A business whose run never came (a hung run, a weekly schedule) does not hold back the
    digest past `digest_by`; and with no run at all since the last digest nothing goes."""
    from connector import config as config_mod
    from connector.daemon import Business, sync_business
    from connector.digest_send import DigestBook
    from connector.notify import DAEMON_SMTP_KEY

    handler, port = smtp
    everyone = config_mod.load_notify(_write(tmp_path / "notify.toml", digest_notify(port)))
    paths = [write_business(tmp_path, name) for name in ("alpha", "beta")]
    businesses = {p: Business(p, config_mod.load(p), 0.0) for p in paths}
    book = DigestBook(lambda: ({p: b.config for p, b in businesses.items()}, everyone))
    sync_business(businesses[paths[0]], everyone=everyone, digests=book)
    assert handler.messages == []
    book.due(DAEMON_SMTP_KEY)
    [msg] = handler.messages
    text = str(msg.get_body(("plain",)).get_content()).replace("\r\n", "\n")
    assert "== beta ==\nLast sync: none yet" in text
    book.due(DAEMON_SMTP_KEY)  # nothing ran since: silence
    assert len(handler.messages) == 1


def test_a_run_that_cannot_start_is_in_the_digest(tmp_path, smtp):  # noqa: F811
    """A run that never started leaves no trace in the state: the daemon tells the digest."""
    from connector import config as config_mod
    from connector.daemon import Business, sync_business
    from connector.digest_send import DigestBook

    handler, port = smtp
    everyone = config_mod.load_notify(_write(tmp_path / "notify.toml", digest_notify(port)))
    path = write_business(tmp_path, "delta")
    business = Business(path, config_mod.load(path), 0.0)
    book = DigestBook(lambda: ({path: business.config}, everyone))
    (tmp_path / "delta-milestones.toml").unlink()  # the tracker file went missing
    sync_business(business, everyone=everyone, digests=book)
    [msg] = handler.messages
    assert str(msg["Subject"]).strip() == (
        "Morning digest, 1 business: sync FAILED for delta, 1 needs a person"
    )
    text = str(msg.get_body(("plain",)).get_content())
    # the run was recorded as failed: its words once, not twice
    assert text.count("delta-milestones.toml: milestones file not found") == 1


def test_a_run_whose_state_cannot_be_opened_is_in_the_digest(tmp_path, smtp):  # noqa: F811
    from connector import config as config_mod
    from connector.daemon import Business, sync_business
    from connector.digest_send import DigestBook

    handler, port = smtp
    everyone = config_mod.load_notify(_write(tmp_path / "notify.toml", digest_notify(port)))
    path = write_business(tmp_path, "delta")
    (tmp_path / "delta.db").write_bytes(b"not a database at all")
    business = Business(path, config_mod.load(path), 0.0)
    sync_business(
        business, everyone=everyone, digests=DigestBook(lambda: ({path: business.config}, everyone))
    )
    [msg] = handler.messages
    assert str(msg["Subject"]).strip() == "Morning digest, 1 business: sync FAILED for delta"
    text = str(msg.get_body(("plain",)).get_content())
    assert "NEEDS A PERSON: its books could not be read" in text
    assert "NEEDS A PERSON: the last run could not start: could not run:" in text


def test_the_daemon_sends_one_digest_after_the_nights_runs(tmp_path, smtp):  # noqa: F811
    handler, port = smtp
    for name in ("alpha", "beta"):
        write_business(tmp_path, name)
    (tmp_path / "broken.toml").write_text("[business\nname = 'oops'\n")
    notify = _write(tmp_path / "notify.toml", digest_notify(port))
    exe = Path(sys.executable).with_name("connector")
    log_path = tmp_path / "daemon.log"
    args = [str(exe), "run", "--config-dir", str(tmp_path), "--run-now"]
    with log_path.open("w") as log_file:
        proc = subprocess.Popen([*args, "--notify-config", str(notify)], stderr=log_file, text=True)
    try:
        wait_for(log_path, "digest for 2 businesses sent", 60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    [msg] = handler.messages  # one digest, not an email per business
    assert str(msg["Subject"]).strip() == (
        "Morning digest, 2 businesses: 1 config does not load, 12 invoices created"
    )
    assert msg.get_content_type() == "multipart/alternative" and msg["Date"] and msg["Message-ID"]
    text = str(msg.get_body(("plain",)).get_content())
    assert "Configs that do not load, so their businesses are not synced (1):" in text
    assert "broken.toml" in text and "not valid TOML" in text


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
