"""Credentials in the OS keyring, never in files, logs, reports or the state database.

One keyring entry per business and service, holding a small JSON document: the app's client id
and secret, and the OAuth token set (access token, refresh token, their expiry times, and the
company id they belong to). A rotated refresh token is written here before the new access token
is used, so a crash between the two never loses access. A second entry beside it keeps what
that company is (`CompanyFacts`: its name, home currency, country), which is no secret.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import filelock
import keyring
import keyring.backend
import keyring.errors
from jaraco.classes import properties
from keyring.errors import KeyringError, NoKeyringError

from connector.errors import CredentialsMissing, CredentialsUnreadable, UserError
from connector.plugins import Credentials

SERVICE = "milestone-connector"

NO_KEYRING = (
    "no usable OS keyring was found, and credentials are kept only there. On a desktop, unlock "
    "or install the system keyring (GNOME Keyring / KWallet, macOS Keychain, Windows Credential "
    "Manager). On a headless Linux server, either run a Secret Service daemon for the service "
    "user, or `pip install keyrings.alt` and set PYTHON_KEYRING_BACKEND="
    "keyrings.alt.file.EncryptedKeyring (asks for a password) or "
    "keyrings.alt.file.PlaintextKeyring (a file only the service user can read); "
    "see the README section on running as a service"
)


@dataclass(frozen=True)
class TokenSet:
    client_id: str
    client_secret: str
    refresh_token: str = ""
    access_token: str = ""
    access_expires_at: str = ""  # ISO UTC
    refresh_expires_at: str = ""  # ISO UTC
    company_id: str = ""  # QuickBooks realm id / Xero tenant id
    keys_refused: bool = False  # the vendor refused client_id/secret: `connector auth` asks anew

    def __repr__(self) -> str:  # never print a secret, even by accident
        return (
            f"TokenSet(company_id={self.company_id!r}, access_expires_at="
            f"{self.access_expires_at!r}, refresh_expires_at={self.refresh_expires_at!r})"
        )

    __str__ = __repr__

    def access_valid(self, now: datetime | None = None, margin: int = 60) -> bool:
        if not self.access_token or not self.access_expires_at:
            return False
        now = now or datetime.now(UTC)
        return datetime.fromisoformat(self.access_expires_at) - timedelta(seconds=margin) > now

    def refresh_days_left(self, now: datetime | None = None) -> float | None:
        if not self.refresh_expires_at:
            return None
        now = now or datetime.now(UTC)
        return (datetime.fromisoformat(self.refresh_expires_at) - now).total_seconds() / 86400

    def rotated(
        self,
        access_token: str,
        expires_in: int,
        refresh_token: str | None,
        refresh_expires_in: int | None,
    ) -> TokenSet:
        now = datetime.now(UTC)
        return replace(
            self,
            access_token=access_token,
            access_expires_at=(now + timedelta(seconds=int(expires_in))).isoformat(),
            refresh_token=refresh_token or self.refresh_token,
            refresh_expires_at=(now + timedelta(seconds=int(refresh_expires_in))).isoformat()
            if refresh_expires_in
            else self.refresh_expires_at,
        )

    def secrets(self) -> list[str]:
        """Every secret value, for redaction and for tests that search outputs for leaks."""
        return [s for s in (self.client_secret, self.refresh_token, self.access_token) if s]


@dataclass(frozen=True)
class CompanyFacts:
    """What a connected company is, as read at sign-in (or by the first run that needed it).

    Kept in a keyring entry of its own (`TokenStore.company`), not in the token set: the token
    set is written only by sign-in and by rotation (writing a copy of it for another reason
    could put back a refresh token another process has since rotated), and it stays readable
    by an earlier version of the connector, which refuses keys it does not know. The facts
    count only for the company they name: a sign-in to another one leaves them unused."""

    company_id: str
    name: str = ""
    home_currency: str = ""  # "" where the ledger's own setup reads it every time (QuickBooks)
    country: str = ""


COMPANY_ENTRY = "/company"  # the facts' entry: the token set's name and this


class _FileReads:
    """Reads of a keyrings.alt file keyring answered from one parse of its file per version.

    keyrings.alt parses the whole file, every business's entries, on every read: a fleet of
    3,000 businesses would parse its 3,000 entries 3,000 times. Here the file is parsed once
    while its stamp (modification and change time, size, inode) holds, and any entry is decoded
    from that parse; a write by anyone, this process or another, changes the stamp and the next
    read parses again. A stamp is only as fine as the file system's clock (a tick of the
    kernel's, or two seconds on FAT): two writes of the same size in one tick leave the same
    stamp. So a version whose file was modified within `RACY` of its reading is trusted only
    while the file's bytes are still those it was read from, as git treats a "racily clean"
    index entry. Only a backend that reads with keyrings.alt's own
    `file_base.Keyring.get_password` is parsed here; another file-backed backend has each
    entry it was asked for remembered while its file is unchanged, and Secret Service, Keychain
    and the other OS keyrings are asked every time (they hold no file of ours). This process's
    writes go one at a time: keyrings.alt rewrites the whole file from its own read, so two
    threads saving at once would lose one of the rotated tokens."""

    def __init__(self) -> None:
        self._version: _FileVersion | None = None
        self._lock = threading.Lock()  # guards _version and what it holds
        self._parsing = threading.Lock()  # threads that miss together wait for one parse
        self._writing = threading.Lock()  # one keyring write at a time from this process

    def get(self, username: str) -> str | None:
        backend = keyring.get_keyring()
        path = _file_of(backend)
        stamp = _stamp(path)
        if path is None or stamp is None:
            return keyring.get_password(SERVICE, username)
        with self._lock:
            version = self._version
            if version is None or not version.of(backend, path, stamp):
                version = self._version = _FileVersion(backend, path, stamp)
            if username in version.values:
                return version.values[username]
            config = version.config
        file_base = _file_base_of(backend)
        if config is None and file_base is not None:
            config = self._parse(version)
        if config is not None and file_base is not None:
            try:
                raw = _decoded(file_base, backend, config, username)
            except Exception:  # an entry, or a keyrings.alt, not as expected: it reads it
                pass
            else:
                if version.config is config:  # a parse of this version, not of a rewrite
                    self._remember(version, username, raw)
                return raw
        # not ours to parse, the parse failed, or the entry is not as expected: keyrings.alt
        with _file_locked(path):
            read = _Read.of(path)  # the bytes before and after: `raw` is of these when both
            raw = keyring.get_password(SERVICE, username)  # are the same (a writer outside
            after = _Read.of(path)  # the lock, an admin's `keyring set`, may write between)
            unchanged = _stamp(path) == stamp
        if unchanged and read is not None and after is not None and read.content == after.content:
            self._remember(version, username, raw, read)  # nobody wrote meanwhile
        return raw

    def set(self, username: str, raw: str) -> None:
        """Write through; what was written is what this process has read of that entry, until
        the file changes again. Every other entry waits for the next parse."""
        backend = keyring.get_keyring()
        path = _file_of(backend)
        with self._writing, _file_locked(path):
            with self._lock:
                self._version = None
            keyring.set_password(SERVICE, username, raw)
            stamp = _stamp(path)
            if path is not None and stamp is not None:
                read = _Read.of(path)
                # connector's writers wait for the lock; one outside it writing between this
                # write and that read changes the stamp, but for one of the same size in the
                # same clock tick, which nothing here can see
                if read is not None and _stamp(path) == stamp:
                    with self._lock:
                        self._version = _FileVersion(backend, path, stamp, {username: raw}, read)

    def delete(self, username: str) -> None:
        with self._writing, _file_locked(_file_of(keyring.get_keyring())):
            with self._lock:
                self._version = None
            keyring.delete_password(SERVICE, username)

    def _parse(self, version: _FileVersion) -> configparser.RawConfigParser | None:
        """The file parsed the way keyrings.alt parses it, kept with `version` when the file
        stayed that version throughout; None if it could not be parsed (keyring.get_password
        then says why, or reads what a writer has meanwhile finished)."""
        with self._parsing:
            with self._lock:
                if version.config is not None:  # another thread parsed it while this one waited
                    return version.config
            config = configparser.RawConfigParser()
            with _file_locked(version.path):
                read = _Read.of(version.path)  # connector writers wait for the lock: the
                try:  # bytes parsed next are these
                    config.read(version.path, encoding="utf-8")
                except Exception:  # anything unexpected: keyrings.alt reads it instead
                    return None
                unchanged = _stamp(version.path) == version.stamp
            with self._lock:
                kept = unchanged and read is not None and version.read_from(read)
                if self._version is version and kept:
                    version.config = config
            return config

    def _remember(
        self, version: _FileVersion, username: str, raw: str | None, read: _Read | None = None
    ) -> None:
        """`raw` is `username`'s entry in the file `version` was read from (`read`, when it
        was read apart from that version's parse)."""
        with self._lock:
            if self._version is version and (read is None or version.read_from(read)):
                version.values[username] = raw


@dataclass
class _FileVersion:
    """One version of a keyring file, as `_FileReads` knows it: the entries already answered
    and, once parsed, the whole file. Replaced, never updated, when this process writes."""

    backend: keyring.backend.KeyringBackend
    path: str
    stamp: tuple[int, ...]
    # the entries' secrets: never in a repr (a traceback that shows locals prints one)
    values: dict[str, str | None] = field(default_factory=dict, repr=False)
    # the bytes `values` and `config` come from, once read (`_Read`)
    read: _Read | None = field(default=None, repr=False)
    config: configparser.RawConfigParser | None = field(default=None, repr=False)

    def of(
        self, backend: keyring.backend.KeyringBackend, path: str, stamp: tuple[int, ...]
    ) -> bool:
        """Whether the file is still this version: the same stamp and, when its bytes were
        read within `RACY_NS` of its last write, the same bytes. Its times are the later of
        the modification and the change time (a copy that keeps an old modification time is
        still a fresh write)."""
        if not (self.backend is backend and self.path == path and self.stamp == stamp):
            return False
        read = self.read
        if read is None or max(stamp[0], stamp[1]) < read.at_ns - RACY_NS:
            return True  # nothing read yet, or a later write would have a later stamp
        now = _Read.of(path)
        if now is None or now.content != read.content:
            return False
        self.read = now  # the same bytes, read later: once 2 s old, the stamp says enough
        return True

    def read_from(self, read: _Read) -> bool:
        """Take `read` as what this version holds; False when it holds another's."""
        if self.read is None:
            self.read = read
        return self.read.content == read.content


# How close to a write (ns) a stamp leaves a version in doubt (`_FileReads`): the coarsest
# file timestamps in use, FAT's two seconds, well above a kernel tick (1 to 10 ms).
RACY_NS = 2_000_000_000


@dataclass(frozen=True, eq=False)
class _Read:
    """A keyring file's bytes and when they were read (ns since the epoch, the clock file
    timestamps are taken from)."""

    content: bytes = field(repr=False)
    at_ns: int

    @classmethod
    def of(cls, path: str) -> _Read | None:
        at = time.time_ns()
        try:
            with open(path, "rb") as f:
                return cls(f.read(), at)
        except OSError:
            return None


# How long a read or write of a file keyring waits for another process's (seconds).
LOCK_WAIT = 60


@contextlib.contextmanager
def _file_locked(path: str | None) -> Iterator[None]:
    """Every read and write of a keyring file, by any thread of any connector process, one at
    a time: keyrings.alt truncates and rewrites the whole file from its own read of it, so a
    read beside a write sees half a file (a business "not connected"), and two writes beside
    each other lose one rotated refresh token or leave a file no one can read. A backend
    without a file is not locked (the OS keyring does its own)."""
    if path is None:
        yield
        return
    lock = filelock.FileLock(f"{path}.lock", timeout=LOCK_WAIT)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise KeyringError(
            f"the keyring file {path} stayed locked by another connector process for {LOCK_WAIT} s"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _file_of(backend: keyring.backend.KeyringBackend) -> str | None:
    """The file of a file keyring (keyrings.alt's, or one like it), else None."""
    path = getattr(backend, "file_path", None)
    return path if isinstance(path, str) else None


def _file_base_of(backend: keyring.backend.KeyringBackend) -> ModuleType | None:
    """keyrings.alt's `file_base` module when `backend` is one of its file keyrings reading
    with `file_base.Keyring.get_password` itself (PlaintextKeyring, EncryptedKeyring), so that
    `_decoded` reads an entry as it would; None for any other backend, or one that reads its
    own way. Looked up among the loaded modules: such a backend has imported it already."""
    file_base = sys.modules.get("keyrings.alt.file_base")
    base = getattr(file_base, "Keyring", None)
    if not isinstance(base, type) or not isinstance(backend, base):
        return None
    reads = getattr(backend.get_password, "__func__", None)
    steps = (
        getattr(file_base, "escape_for_ini", None),
        getattr(file_base, "decodebytes", None),
        getattr(backend, "_generate_assoc", None),
    )
    if reads is not getattr(base, "get_password", None) or not all(map(callable, steps)):
        return None
    return file_base


def _decoded(
    file_base: ModuleType,
    backend: Any,
    config: configparser.RawConfigParser,
    username: str,
) -> str | None:
    """One entry of a parse, decoded step for step as keyrings.alt 5.0.2 does in
    keyrings/alt/file_base.py, `Keyring.get_password` (the ini-escaped service and username,
    base64, then `decrypt` with the associated data, or without it on ValueError)."""
    assoc = backend._generate_assoc(SERVICE, username)
    escape = file_base.escape_for_ini
    try:
        password_base64 = config.get(escape(SERVICE), escape(username)).encode()
        password_encrypted = file_base.decodebytes(password_base64)
        try:
            password = backend.decrypt(password_encrypted, assoc).decode("utf-8")
        except ValueError:
            password = backend.decrypt(password_encrypted).decode("utf-8")
    except (configparser.NoOptionError, configparser.NoSectionError):
        return None
    return str(password)


def _stamp(path: str | None) -> tuple[int, ...] | None:
    if path is None:
        return None
    try:
        s = os.stat(path)
    except OSError:
        return None
    return (s.st_mtime_ns, s.st_ctime_ns, s.st_size, s.st_ino)


_FILE = _FileReads()


def read_secret(username: str) -> str | None:
    """An entry of the connector's keyring service, read as the tokens are (`_FileReads`):
    the SMTP password, the dashboard's access token."""
    return _FILE.get(username)


def write_secret(username: str, value: str) -> None:
    """Write an entry as the tokens are written: one writer at a time, in every process."""
    _FILE.set(username, value)


class TokenStore:
    """The keyring entry of one business's connection to one service (quickbooks, xero...).

    Reads of a file keyring are answered from one parse of its file while it is unchanged
    (`_FileReads`), so a process parses it once per version, whichever entries it reads; every
    write goes to the keyring first, so a rotated refresh token is saved before anything uses
    it, as ever."""

    def __init__(self, business: str, service: str):
        self.username = f"{business}/{service}"
        self.business = business
        self.service = service

    def _read(self, username: str) -> str | None:
        try:
            return _FILE.get(username)
        except NoKeyringError:
            raise UserError(NO_KEYRING) from None
        except KeyringError as exc:
            raise UserError(f"the OS keyring could not be read: {exc}") from None

    def load(self) -> TokenSet | None:
        raw = self._read(self.username)
        if raw is None:
            return None
        try:
            data: Any = json.loads(raw)
            tokens = TokenSet(**data) if isinstance(data, dict) else None
        except (ValueError, TypeError):
            tokens = None
        if tokens is None or not all(
            isinstance(v, bool if k == "keys_refused" else str) for k, v in asdict(tokens).items()
        ):
            raise CredentialsUnreadable(
                f"the keyring entry {self.username!r} (service {SERVICE!r}) is not the JSON "
                "document the connector stores (edited by hand, or written by another program); "
                f"run `connector auth {self.service} --config FILE` to store it again"
            )
        return tokens

    def reusable_keys(self) -> tuple[str, str] | None:
        """The app's client id and secret stored with this connection, for `connector auth` to
        connect again without asking; None when there are none, the entry is unreadable (it is
        replaced), or the vendor refused them last time (they are asked for anew)."""
        try:
            tokens = self.load()
        except CredentialsUnreadable:
            return None
        if tokens is None or tokens.keys_refused or not tokens.client_id:
            return None
        return tokens.client_id, tokens.client_secret

    def require(self) -> TokenSet:
        tokens = self.load()
        if tokens is None or not tokens.refresh_token:
            raise CredentialsMissing(
                f"{self.business} is not connected to {self.service} yet: run "
                f"`connector auth {self.service} --config FILE` once"
            )
        return tokens

    def save(self, tokens: TokenSet) -> None:
        self._write(self.username, json.dumps(asdict(tokens)))

    def company(self, company_id: str) -> CompanyFacts | None:
        """What company `company_id` is, as kept; None when nothing is kept for it (kept for
        another company, or an entry not the connector's: it is read from the ledger again and
        written over)."""
        raw = self._read(self.username + COMPANY_ENTRY)
        try:
            data: Any = json.loads(raw) if raw else None
            facts = CompanyFacts(**data) if isinstance(data, dict) else None
        except (ValueError, TypeError):
            return None
        if facts is None or not all(isinstance(v, str) for v in asdict(facts).values()):
            return None
        return facts if facts.company_id == company_id else None

    def keep_company(self, facts: CompanyFacts) -> None:
        self._write(self.username + COMPANY_ENTRY, json.dumps(asdict(facts)))

    def _write(self, username: str, raw: str) -> None:
        try:
            _FILE.set(username, raw)
        except NoKeyringError:
            raise UserError(NO_KEYRING) from None
        except KeyringError as exc:
            raise UserError(f"the OS keyring could not be written: {exc}") from None

    def delete(self) -> None:
        """The connection and what it kept of its company."""
        for username in (self.username, self.username + COMPANY_ENTRY):
            with contextlib.suppress(keyring.errors.PasswordDeleteError):
                _FILE.delete(username)


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring that keeps secrets in this process only: for the demo, which must run on a
    machine with no keyring and no accounts, and for tests, which must never touch the OS
    keyring. Never the default: nothing is remembered after the process ends."""

    @properties.classproperty
    def priority(cls) -> float:
        # keyring considers every backend subclass; raising here keeps this one from ever
        # being picked on its own (a real sync would lose its tokens when the process ends).
        raise RuntimeError("only used when set explicitly")

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


def refresh_token_credentials(business: str, service: str) -> Credentials:
    """An OAuth ledger plugin's `credentials`: connected while a refresh token is stored, for
    the company it names; it lapses unless a sync renews it."""
    tokens = TokenStore(business, service).load()
    if tokens is None or not tokens.refresh_token:
        return Credentials(connected=False)
    return Credentials(True, tokens.company_id, tokens.refresh_days_left())
