"""Tracker tokens in the OS keyring: one entry per business and tracker, written by
`connector auth github|jira|asana` and read by the sources. Never in the config file.

A token is kept in the same `TokenSet` document the ledgers use (`access_token`; Jira Cloud's
account email in `client_id`), so secret scans and redaction treat every credential alike.
"""

from __future__ import annotations

from connector.credentials import CredentialsMissing, TokenSet, TokenStore

WHAT = {
    "github": "a GitHub personal access token (fine-grained: Issues read-only)",
    "jira": "the Atlassian account email and an API token",
    "asana": "an Asana personal access token",
}


def save_token(business: str, tracker: str, token: str, user: str = "") -> None:
    TokenStore(business, tracker).save(
        TokenSet(client_id=user, client_secret="", access_token=token)
    )


def load_token(business: str, tracker: str) -> tuple[str, str]:
    """(user, token), or `CredentialsMissing` naming the command that stores them."""
    tokens = TokenStore(business, tracker).load()
    if tokens is None or not tokens.access_token:
        raise CredentialsMissing(
            f"{business} has no {tracker} token yet: run "
            f"`connector auth {tracker} --config FILE` once ({WHAT[tracker]})"
        )
    return tokens.client_id, tokens.access_token


def auth_hint(tracker: str) -> str:
    return f"run `connector auth {tracker} --config FILE` with a working token"
