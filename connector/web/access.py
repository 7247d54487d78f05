"""Who may see the dashboard: anybody on this machine when it listens on a loopback address;
on any other address only a browser or script that presents the access token.

The token lives in the OS keyring (service `milestone-connector`, entry `dashboard/access-token`),
as every other secret of the connector does, never in a file or on the command line. It is
presented as the password of HTTP Basic authentication (every browser asks for it; the user
name is ignored) or as `Authorization: Bearer TOKEN` (scripts), and compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import secrets

from keyring.errors import KeyringError, NoKeyringError

from connector.credentials import NO_KEYRING, read_secret, write_secret
from connector.errors import UserError

TOKEN_ENTRY = "dashboard/access-token"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: addresses only this machine can reach."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def stored_token() -> str | None:
    """The access token in the keyring, or None when none was made yet."""
    try:
        return read_secret(TOKEN_ENTRY)
    except NoKeyringError:
        raise UserError(NO_KEYRING) from None
    except KeyringError as exc:
        raise UserError(f"the OS keyring could not be read: {exc}") from None


def new_token() -> str:
    """A fresh random token (256 bits), stored in the keyring in place of any earlier one, so
    that every browser holding the old one is shut out."""
    token = secrets.token_urlsafe(32)
    try:
        write_secret(TOKEN_ENTRY, token)
    except NoKeyringError:
        raise UserError(NO_KEYRING) from None
    except KeyringError as exc:
        raise UserError(f"the OS keyring could not be written: {exc}") from None
    return token


def presented(authorization: str | None) -> str | None:
    """The token in an Authorization header: Basic's password, or a Bearer token."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def token_matches(given: str | None, expected: str) -> bool:
    """Constant time whatever the guess, so the answer's timing tells nothing of the token."""
    return hmac.compare_digest((given or "").encode(), expected.encode())
