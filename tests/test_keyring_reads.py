"""A fleet process parses its keyring file once per version of the file (issue 14): with
keyrings.alt's plain file keyring holding 500 businesses' tokens, loading all of them parses the
file once, answers what keyrings.alt itself answers, and sees at its next read a write made by
another process or by its own `TokenStore.save`.

The parses are counted on `configparser.RawConfigParser.read`, which keyrings.alt calls to read
its file (a spy that still reads)."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path

import keyring
import pytest
from keyrings.alt.file import PlaintextKeyring

from connector import credentials
from connector.credentials import SERVICE, TokenSet, TokenStore
from connector.errors import CredentialsUnreadable

BUSINESSES = 500


def business(n: int) -> str:
    return f"Business {n:04d}"


def tokens_of(n: int) -> TokenSet:
    return TokenSet(
        client_id=f"client-{n:04d}",
        client_secret=f"secret-{n:04d}",
        refresh_token=f"refresh-{n:04d}-first",
        access_token=f"access-{n:04d}",
        access_expires_at="2026-12-02T10:00:00+00:00",
        refresh_expires_at="2027-03-02T10:00:00+00:00",
        company_id=f"{9130000 + n}",
    )


@pytest.fixture(scope="module")
def fleet_file(tmp_path_factory) -> Path:
    """A plain keyring file of 500 businesses' tokens, written once through `TokenStore.save`
    (each test gets its own copy)."""
    home = tmp_path_factory.mktemp("fleet-keyring")
    ring = PlaintextKeyring()
    ring.file_path = str(home / "python_keyring" / ring.filename)
    previous = keyring.get_keyring()
    keyring.set_keyring(ring)
    try:
        for n in range(BUSINESSES):
            TokenStore(business(n), "quickbooks").save(tokens_of(n))
    finally:
        keyring.set_keyring(previous)
    return Path(ring.file_path)


@pytest.fixture
def home(tmp_path, fleet_file) -> Path:
    """XDG_DATA_HOME of this test's keyring file, shared with the processes it starts."""
    home = tmp_path / "keyring-home"
    (home / "python_keyring").mkdir(parents=True)
    shutil.copy(fleet_file, home / "python_keyring" / fleet_file.name)
    return home


@pytest.fixture
def ring(home, monkeypatch) -> PlaintextKeyring:
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    ring = PlaintextKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(previous)


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """The files configparser read, in order: keyrings.alt reads its whole file each time."""
    seen: list[str] = []
    original = configparser.RawConfigParser.read

    def read(self, filenames, encoding=None):
        seen.append(str(filenames))
        return original(self, filenames, encoding=encoding)

    monkeypatch.setattr(configparser.RawConfigParser, "read", read)
    return seen


def load(n: int) -> TokenSet | None:
    return TokenStore(business(n), "quickbooks").load()


def load_all() -> list[TokenSet | None]:
    return [load(n) for n in range(BUSINESSES)]


def keyrings_own(n: int) -> TokenSet | None:
    """What keyrings.alt answers for business n, read by itself."""
    raw = keyring.get_password(SERVICE, f"{business(n)}/quickbooks")
    return None if raw is None else TokenSet(**json.loads(raw))


def test_every_business_is_read_from_one_parse_and_read_as_keyrings_alt_reads_it(ring, parses):
    loaded = load_all()
    assert len(parses) == 1
    assert TokenStore("Never Connected", "quickbooks").load() is None  # from the same parse
    assert load_all() == loaded and len(parses) == 1
    assert loaded == [tokens_of(n) for n in range(BUSINESSES)]
    assert loaded == [keyrings_own(n) for n in range(BUSINESSES)]


def test_threads_reading_at_once_share_one_parse(ring, parses):
    seen: dict[int, list[TokenSet | None]] = {}
    start = threading.Barrier(8)

    def reader(k: int) -> None:
        start.wait()
        seen[k] = load_all()

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(parses) == 1
    assert all(v == [tokens_of(n) for n in range(BUSINESSES)] for v in seen.values())


def test_a_token_another_process_rotated_is_read_at_the_next_read(ring, home, parses):
    """The other process writes a refresh token of the same length, so the file keeps its size:
    its modification time alone says it changed."""
    load_all()
    size = os.stat(ring.file_path).st_size
    store = TokenStore(business(7), "quickbooks")
    theirs = replace(tokens_of(7), refresh_token="refresh-0007-other")
    assert len(theirs.refresh_token) == len(tokens_of(7).refresh_token)
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(home),
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
    }
    code = "import sys, keyring\nkeyring.set_password(sys.argv[1], sys.argv[2], sys.stdin.read())\n"
    subprocess.run(
        [sys.executable, "-c", code, SERVICE, store.username],
        input=json.dumps(asdict(theirs)),
        env=env,
        text=True,
        check=True,
    )
    assert os.stat(ring.file_path).st_size == size
    before = len(parses)
    assert store.require().refresh_token == "refresh-0007-other"
    assert load(8) == tokens_of(8)
    assert len(parses) == before + 1  # parsed again, once, for every business
    assert load_all() == [theirs if n == 7 else tokens_of(n) for n in range(BUSINESSES)]
    assert len(parses) == before + 1


def test_a_write_by_a_second_writer_in_this_process_is_read_next(ring, parses):
    load_all()
    other = PlaintextKeyring()  # keyrings.alt itself, past the connector's reads
    other.set_password(SERVICE, f"{business(3)}/quickbooks", '{"client_id": "hand-edited"}')
    with pytest.raises(CredentialsUnreadable, match="not the JSON document the connector stores"):
        load(3)
    assert load(4) == tokens_of(4)


def test_a_rotation_in_the_same_tick_of_a_coarse_clock_is_read_next(ring, parses, monkeypatch):
    """On a file system whose timestamps are whole seconds, another writer rotates a token to
    one of the same length within the second of the last read: size, inode and times are all
    as they were, and the rotated token is read all the same (from the file's bytes)."""
    real = credentials._stamp

    def whole_seconds(path: str | None) -> tuple[int, ...] | None:
        stamp = real(path)
        if stamp is None:
            return None
        mtime, ctime, *rest = stamp
        return (mtime - mtime % 10**9, ctime - ctime % 10**9, *rest)

    monkeypatch.setattr(credentials, "_stamp", whole_seconds)
    store, other = TokenStore(business(7), "quickbooks"), PlaintextKeyring()
    for attempt in range(5):  # until two writes and the read between them fall in one second
        time.sleep(1.02 - time.time() % 1)  # early in a second
        first, rotated = (
            replace(tokens_of(7), refresh_token=f"refresh-0007-{which}{attempt:02d}")
            for which in ("one", "two")
        )
        other.set_password(SERVICE, store.username, json.dumps(asdict(first)))
        assert load(7) == first and load(8) == tokens_of(8)
        stamp = whole_seconds(ring.file_path)
        other.set_password(SERVICE, store.username, json.dumps(asdict(rotated)))
        if whole_seconds(ring.file_path) == stamp:
            break
    else:
        pytest.fail("no read and writes fell in one second")
    assert len(rotated.refresh_token) == len(first.refresh_token)
    assert store.require().refresh_token == rotated.refresh_token
    assert load(8) == tokens_of(8)


def test_a_file_left_alone_is_answered_from_its_parse_without_reading_it(ring, parses, monkeypatch):
    """Just after a write the file's bytes are compared on every read; once the file is older
    than the coarsest file clock (here made 0.2 s), its stamp alone vouches for the parse."""
    monkeypatch.setattr(credentials, "RACY_NS", 200_000_000)
    reads: list[str] = []
    real = credentials._Read.of

    def read_of(path: str) -> credentials._Read | None:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(credentials._Read, "of", staticmethod(read_of))
    store = TokenStore(business(5), "quickbooks")
    store.save(replace(tokens_of(5), refresh_token="refresh-0005-again"))
    assert load_all()[5].refresh_token == "refresh-0005-again"
    time.sleep(0.3)
    reads.clear()
    before = len(parses)
    assert load_all() == [
        replace(tokens_of(5), refresh_token="refresh-0005-again") if n == 5 else tokens_of(n)
        for n in range(BUSINESSES)
    ]
    assert len(reads) <= 1 and len(parses) == before  # once to see it is unchanged, then none


def test_a_saved_token_is_in_the_keyring_before_it_is_read_back(ring, parses):
    load_all()
    store = TokenStore(business(11), "quickbooks")
    rotated = replace(tokens_of(11), refresh_token="refresh-0011-rotated")
    store.save(rotated)
    assert keyrings_own(11) == rotated  # written to the file by keyrings.alt itself
    assert store.require() == rotated
    before = len(parses)
    assert load_all() == [rotated if n == 11 else tokens_of(n) for n in range(BUSINESSES)]
    assert len(parses) == before + 1
    store.delete()
    assert store.load() is None and keyrings_own(11) is None


class OwnReads(PlaintextKeyring):
    """A file keyring that reads its entries its own way: it is asked itself."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def get_password(self, service: str, username: str) -> str | None:
        self.asked.append(username)
        return super().get_password(service, username)


def test_a_file_keyring_reading_its_own_way_is_asked_for_each_entry(home, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    previous = keyring.get_keyring()
    ring = OwnReads()
    keyring.set_keyring(ring)
    try:
        assert [load(n) for n in range(5)] == [tokens_of(n) for n in range(5)]
    finally:
        keyring.set_keyring(previous)
    assert ring.asked == [f"{business(n)}/quickbooks" for n in range(5)]


SAVER = """
import sys
from dataclasses import replace
sys.path.insert(0, sys.argv[3])
from tests.test_keyring_reads import business, tokens_of
from connector.credentials import TokenStore
me, rounds = int(sys.argv[1]), int(sys.argv[2])
for r in range(rounds):
    for n in range(me, 30, 3):  # each process rotates its own ten businesses' tokens
        store = TokenStore(business(n), "quickbooks")
        store.load()  # and reads between writes, as a sync does
        store.save(replace(tokens_of(n), refresh_token=f"refresh-{n:04d}-round-{r:03d}"))
"""


def test_processes_rotating_tokens_at_once_lose_none_and_leave_the_file_readable(ring, home):
    """Three processes save and read tokens in one file keyring at once (a fleet on one host,
    or the daemon and a sync by hand): keyrings.alt rewrites the whole file from its own read,
    so without the connector's lock some rotated tokens were lost or the file left unreadable."""
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(home),
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
    }
    root = str(Path(__file__).resolve().parents[1])
    savers = [
        subprocess.Popen([sys.executable, "-c", SAVER, str(me), "15", root], env=env)
        for me in range(3)
    ]
    assert [p.wait(timeout=300) for p in savers] == [0, 0, 0]
    config = configparser.RawConfigParser()
    config.read(ring.file_path, encoding="utf-8")  # a file keyrings.alt can read again
    for n in range(30):
        assert keyrings_own(n) == replace(tokens_of(n), refresh_token=f"refresh-{n:04d}-round-014")
    assert keyrings_own(30) == tokens_of(30)  # an entry no process wrote is as it was
