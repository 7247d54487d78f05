"""The one exception tree; each class says what happens next.

    ConnectorError
    ├── UserError              could not run: one message, no traceback, exit code 2
    │   ├── ConfigError        the config file is unreadable or invalid (all problems at once)
    │   ├── SourceError        the tracker cannot be read at all
    │   ├── PluginNotFound     no tracker source or ledger adapter of that name is installed
    │   ├── LockHeld           another sync of this business is running
    │   └── StateError         the state database cannot be used (too new, unreachable)
    └── LedgerError            a ledger call failed
        ├── RetriableLedgerError   back off and try again (429, 5xx, timeouts)
        ├── FatalLedgerError       stop this business's run (auth, configuration)
        └── SkippableLedgerError   record the problem on the item and go on (data rejected)

Errors about single milestones are not exceptions: billing returns them as values (skip reasons)
and the run goes on.
"""

from __future__ import annotations

from collections.abc import Sequence


class ConnectorError(Exception):
    """Base of every error the connector raises on purpose."""


class UserError(ConnectorError):
    """The run could not start or continue; the message tells the person what to do."""

    exit_code = 2


class ConfigError(UserError):
    def __init__(self, path: object, problems: Sequence[str]):
        self.path = str(path)
        self.problems = list(problems)
        count = len(self.problems)
        heading = f"{self.path}: {count} problem{'s' if count != 1 else ''}"
        super().__init__("\n".join([heading, *(f"  {p}" for p in self.problems)]))


class SourceError(UserError):
    pass


class PluginNotFound(UserError):
    pass


class LockHeld(UserError):
    pass


class StateError(UserError):
    pass


class LedgerError(ConnectorError):
    """A ledger call failed; `message` is the ledger's own words where it gave any."""

    def __init__(self, message: str, *, code: str | None = None):
        self.code = code
        super().__init__(message)


class RetriableLedgerError(LedgerError):
    pass


class FatalLedgerError(LedgerError):
    pass


class SkippableLedgerError(LedgerError):
    pass
