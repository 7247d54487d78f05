"""`connector run` as a real process against the local QuickBooks sandbox, the way it runs on a
bookkeeper's server: tokens in a file keyring (keyrings.alt) the daemon reads for itself, JSON
logs, a morning digest by email and a webhook after each run.

Two stories: a night that bills two businesses and in which no secret (client secret, access and
refresh tokens, SMTP password) appears in any log line, email, webhook body, state database or
other file written; and a SIGTERM that arrives while a ledger call is in flight, after which the
process exits 0 with the run recorded as stopped and the next sync bills the rest exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import keyring
import pytest
from keyrings.alt.file import PlaintextKeyring

from connector.credentials import TokenStore
from connector.notify import save_smtp_password
from connector.sync.state import State
from connector_sandbox.quickbooks import CLIENT_SECRET, QuickBooksSandbox
from tests import qbo_support
from tests.conftest import CONFIG, MILESTONES, Hook
from tests.test_notify import PASSWORD, Authenticator, Collector, free_port

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

REALMS = {"alpha": "9130001", "beta": "9130002"}


@pytest.fixture
def file_keyring(tmp_path, monkeypatch):
    """A keyring file under tmp_path that this process and the daemon both use."""
    home = tmp_path / "keyring-home"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    backend = PlaintextKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    yield {
        "XDG_DATA_HOME": str(home),
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
    }
    keyring.set_keyring(previous)


@pytest.fixture
def smtp():
    handler, auth = Collector(), Authenticator()
    controller = aiosmtpd_controller.Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=auth,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    yield handler, controller.port
    controller.stop()


def business_config(folder: Path, name: str, sandbox: QuickBooksSandbox, notify: str) -> Path:
    ledger = (
        '[ledger]\nkind = "quickbooks"\nenvironment = "sandbox"\n'
        f'api_url = "{sandbox.api_url}"\ndiscovery_url = "{sandbox.discovery_url}"\n'
        "retry_first_wait = 0.01\nretry_max_wait = 0.05\n"
    )
    text = CONFIG.replace("{on_change}", "flag").replace("{state}", f'path = "{name}.db"')
    text = text.replace('name = "Northwind Studio"', f'name = "{name}"')
    text = text.replace('path = "milestones.toml"', f'path = "{name}-milestones.toml"')
    text = text.replace('[ledger]\nkind = "local"\npath = "ledger.json"\n', ledger)
    (folder / f"{name}-milestones.toml").write_text(MILESTONES)
    path = folder / f"{name}.toml"
    path.write_text(text + notify)
    return path


def connect(sandbox: QuickBooksSandbox, name: str) -> list[str]:
    """A company for `name` and its tokens in the keyring; returns the token values."""
    sandbox.seed_company(REALMS[name], currencies=["EUR"])
    tokens = qbo_support.connect(sandbox, name, realm=REALMS[name])
    return [tokens.access_token, tokens.refresh_token]


def start_daemon(folder: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("connector")
    with log.open("w") as out:
        return subprocess.Popen(
            [str(exe), "run", "--config-dir", str(folder), "--run-now", "--log-format", "json"],
            stderr=out,
            stdout=out,
            env={**_base_env(), **env},
        )


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON_KEYRING")}


def runs(folder: Path, name: str) -> list[str]:
    path = folder / f"{name}.db"
    if not path.exists():
        return []
    try:
        state = State.open(f"sqlite:///{path}", name, path=path, read_only=True)
        last = state.last_run()
    except Exception:  # being created by the daemon right now
        return []
    return [last["outcome"]] if last and last["finished_at"] else []


def wait_until(condition, seconds: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        assert proc.poll() is None, log.read_text()
        time.sleep(0.1)
    raise AssertionError(f"timed out; daemon log:\n{log.read_text()}")


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_night_of_two_businesses_leaks_no_secret_anywhere(tmp_path, file_keyring, smtp, webhook):
    handler, smtp_port = smtp
    folder = tmp_path / "books"
    folder.mkdir()
    notify = (
        '\n[notify]\nemail_to = ["books@northwind.test"]\n'
        'email_from = "connector@northwind.test"\nsmtp_host = "127.0.0.1"\n'
        f'smtp_port = {smtp_port}\nsmtp_starttls = false\nsmtp_username = "books"\n'
        f'webhook_url = "{webhook}/hooks/night"\n'
    )
    secrets = [CLIENT_SECRET]
    with QuickBooksSandbox() as sandbox:
        for name in REALMS:
            business_config(folder, name, sandbox, notify)
            secrets += connect(sandbox, name)
        save_smtp_password("alpha", PASSWORD)
        save_smtp_password("beta", PASSWORD)
        secrets.append(PASSWORD)
        log = tmp_path / "daemon.log"
        proc = start_daemon(folder, file_keyring, log)
        try:
            wait_until(lambda: all(runs(folder, n) for n in REALMS), 90, proc, log)
            wait_until(
                lambda: len(handler.messages) == 2 and len(Hook.received) == 2, 30, proc, log
            )
        finally:
            code = stop(proc)
        for name, realm in REALMS.items():
            assert len(sandbox.invoices(realm)) == 6
            assert runs(folder, name) == ["ok"]
            rotated = TokenStore(name, "quickbooks").load()
            secrets += [rotated.access_token, rotated.refresh_token]
    assert code == 0, log.read_text()

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    finished = [ln for ln in lines if ln["message"].startswith("sync finished")]
    assert sorted((ln["business"], ln["run_id"]) for ln in finished) == [("alpha", 1), ("beta", 1)]
    run_lines = [ln for ln in lines if ln["logger"].startswith("connector.sync")]
    assert run_lines and all(ln["business"] and ln["run_id"] for ln in run_lines)
    # each business's own [notify]: its morning digest once its night's run is done
    assert sorted(str(m["Subject"]).strip() for m in handler.messages) == [
        "Morning digest, alpha: 6 invoices created",
        "Morning digest, beta: 6 invoices created",
    ]
    for m in handler.messages:
        assert m.get_content_type() == "multipart/alternative"
        assert m["Date"] and str(m["Message-ID"]).strip().endswith("@northwind.test>")
        html = m.get_body(("html",))
        assert html is not None and "54,000.00 USD" in str(html.get_content())
    assert sorted(body["business"] for _, body in Hook.received) == ["alpha", "beta"]

    written = [p for p in folder.iterdir() if p.suffix != ".toml"]
    assert written and {p.name: oct(p.stat().st_mode & 0o777) for p in written} == {
        p.name: "0o600" for p in written
    }  # state databases and lock files: readable by the service user only

    outputs = {"daemon log": log.read_bytes()}
    outputs |= {f"email {i}": e.content for i, e in enumerate(handler.envelopes)}
    outputs |= {
        f"webhook {i}": json.dumps(body).encode() for i, (_, body) in enumerate(Hook.received)
    }
    outputs |= {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert len({s for s in secrets if s}) >= 6  # client secret, SMTP password, 2 x 2 tokens
    for where, data in outputs.items():
        for secret in set(secrets):
            assert secret and secret.encode() not in data, f"a secret leaked into {where}"


def test_sigterm_mid_run_stops_after_the_ledger_call_in_flight(tmp_path, file_keyring):
    folder = tmp_path / "books"
    folder.mkdir()
    with QuickBooksSandbox() as sandbox:
        path = business_config(folder, "alpha", sandbox, "")
        connect(sandbox, "alpha")
        sandbox.faults.set_latency(timedelta(seconds=0.7))  # a slow night at the ledger
        log = tmp_path / "daemon.log"
        proc = start_daemon(folder, file_keyring, log)
        try:
            wait_until(lambda: sandbox.api_requests >= 1, 60, proc, log)
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)  # an impatient second signal changes nothing
            code = stop(proc)
            took = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
        assert code == 0, log.read_text()
        assert took < 10, "SIGTERM should not wait for the whole run"
        assert "Traceback" not in log.read_text()
        assert runs(folder, "alpha") == ["stopped"], log.read_text()
        assert len(sandbox.invoices(REALMS["alpha"])) < 6

        sandbox.faults.set_latency(timedelta(0))
        done = subprocess.run(
            [str(Path(sys.executable).with_name("connector")), "sync", "--config", str(path)],
            env={**_base_env(), **file_keyring},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        totals = sorted(str(i["TotalAmt"]) for i in sandbox.invoices(REALMS["alpha"]))
        assert (
            len(totals) == 6 == len(set(i["DocNumber"] for i in sandbox.invoices(REALMS["alpha"])))
        )
