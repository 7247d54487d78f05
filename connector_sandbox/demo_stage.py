"""What the stages of `connector demo` share: each runs one sandbox for the length of a
with-block, and the ledger stages approve the OAuth consent as the bookkeeper's browser would."""

from __future__ import annotations

from typing import Generic, Self, TypeVar

import requests

from connector_sandbox.server import Served

S = TypeVar("S", bound=Served)


def follow_consent(url: str) -> str:
    """What the bookkeeper does in the browser: approve, and land on the redirect URL."""
    answer = requests.get(url, allow_redirects=False, timeout=10)
    return answer.headers["Location"]


class SandboxStage(Generic[S]):
    """A demo stage around `self.sandbox`: entering starts it and puts in it what the story
    needs (`seed`), leaving stops it, so no server outlives the demo."""

    sandbox: S

    def seed(self) -> None:
        """Fill the started sandbox; nothing here."""

    def __enter__(self) -> Self:
        self.sandbox.start()
        self.seed()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sandbox.stop()

    @property
    def url(self) -> str:
        return self.sandbox.url
