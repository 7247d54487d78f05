"""Tracker tokens in the OS keyring: one entry per business and tracker, written by
`connector auth <tracker>` and read by the sources. Never in the config file. Each source says
what its token is; nothing here knows a tracker.

A token is kept in the same `TokenSet` document the ledgers use (`access_token`; Jira Cloud's
account email in `client_id`), so secret scans and redaction treat every credential alike.
"""

from __future__ import annotations

from connector.credentials import CredentialsMissing, TokenSet, TokenStore
from connector.plugins import Credentials


def save_token(business: str, tracker: str, token: str, user: str = "") -> None:
    TokenStore(business, tracker).save(
        TokenSet(client_id=user, client_secret="", access_token=token)
    )


def load_token(business: str, tracker: str, what: str = "") -> tuple[str, str]:
    """(user, token), or `CredentialsMissing` naming the command that stores them; `what` says
    what the token is ("a GitHub personal access token")."""
    tokens = TokenStore(business, tracker).load()
    if tokens is None or not tokens.access_token:
        raise CredentialsMissing(
            f"{business} has no {tracker} token yet: run "
            f"`connector auth {tracker} --config FILE` once" + (f" ({what})" if what else "")
        )
    return tokens.client_id, tokens.access_token


def token_credentials(business: str, tracker: str) -> Credentials:
    """A tracker plugin's `credentials`: a stored token, and whose (a token does not lapse)."""
    tokens = TokenStore(business, tracker).load()
    if tokens is None or not tokens.access_token:
        return Credentials(connected=False)
    return Credentials(connected=True, account=tokens.client_id)


def auth_hint(tracker: str) -> str:
    return f"run `connector auth {tracker} --config FILE` with a working token"
