"""Credentials in the OS keyring, never in files, logs, reports or the state database.

One keyring entry per business and service, holding a small JSON document: the app's client id
and secret, and the OAuth token set (access token, refresh token, their expiry times, and the
company id they belong to). A rotated refresh token is written here before the new access token
is used, so a crash between the two never loses access.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

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


class _FileReads:
    """What this process last read of each entry of a file keyring (keyrings.alt's, which
    parses its whole file, every business's entries, on every read), answered again while the
    file is as it was then: a write by anyone, this process or another, changes the file's
    modification time, size or inode, and the next read goes to the file. Secret Service,
    Keychain and the other OS keyrings are asked every time (they hold no file of ours)."""

    def __init__(self) -> None:
        self._read: dict[tuple[str, str], tuple[tuple[int, ...], str | None]] = {}
        self._lock = threading.Lock()

    def get(self, username: str) -> str | None:
        path = _keyring_file()
        before = _stamp(path)
        if path is None or before is None:
            return keyring.get_password(SERVICE, username)
        with self._lock:
            known = self._read.get((path, username))
        if known is not None and known[0] == before:
            return known[1]
        raw = keyring.get_password(SERVICE, username)
        self._remember(path, username, before, raw)
        return raw

    def set(self, username: str, raw: str) -> None:
        """Write through; what was written is what this process has read, until the file
        changes again."""
        path = _keyring_file()
        self._forget(path, username)
        keyring.set_password(SERVICE, username, raw)
        before = _stamp(path)
        if path is not None and before is not None:
            self._remember(path, username, before, raw)

    def delete(self, username: str) -> None:
        self._forget(_keyring_file(), username)
        keyring.delete_password(SERVICE, username)

    def _remember(self, path: str, username: str, stamp: tuple[int, ...], raw: str | None) -> None:
        if _stamp(path) == stamp:  # nobody wrote meanwhile: `raw` is what the file holds
            with self._lock:
                self._read[(path, username)] = (stamp, raw)

    def _forget(self, path: str | None, username: str) -> None:
        if path is not None:
            with self._lock:
                self._read.pop((path, username), None)


def _keyring_file() -> str | None:
    """The file of a keyrings.alt file keyring in use, else None."""
    path = getattr(keyring.get_keyring(), "file_path", None)
    return path if isinstance(path, str) else None


def _stamp(path: str | None) -> tuple[int, ...] | None:
    if path is None:
        return None
    try:
        s = os.stat(path)
    except OSError:
        return None
    return (s.st_mtime_ns, s.st_ctime_ns, s.st_size, s.st_ino)


_FILE = _FileReads()


class TokenStore:
    """The keyring entry of one business's connection to one service (quickbooks, xero...).

    Reads of a file keyring are answered from the last read while its file is unchanged
    (`_FileReads`), so a run parses the file once at most; every write goes to the keyring
    first, so a rotated refresh token is saved before anything uses it, as ever."""

    def __init__(self, business: str, service: str):
        self.username = f"{business}/{service}"
        self.business = business
        self.service = service

    def load(self) -> TokenSet | None:
        try:
            raw = _FILE.get(self.username)
        except NoKeyringError:
            raise UserError(NO_KEYRING) from None
        except KeyringError as exc:
            raise UserError(f"the OS keyring could not be read: {exc}") from None
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
        try:
            _FILE.set(self.username, json.dumps(asdict(tokens)))
        except NoKeyringError:
            raise UserError(NO_KEYRING) from None
        except KeyringError as exc:
            raise UserError(f"the OS keyring could not be written: {exc}") from None

    def delete(self) -> None:
        with contextlib.suppress(keyring.errors.PasswordDeleteError):
            _FILE.delete(self.username)


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
