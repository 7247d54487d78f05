"""The one exception tree. Each class says what happens next, and so what a command exits with:
0 ok, 1 finished or stopped but something needs a look, 2 could not run until a person acts.

    ConnectorError                   every error raised on purpose: a message, no traceback
    ├── UserError                 2  could not run: a command, config, keyring or state to fix
    │   ├── ConfigError              the config file is unreadable or invalid (all problems at once)
    │   ├── PluginNotFound           no tracker source or ledger adapter of that name is installed
    │   ├── LockHeld                 another sync of this business is running
    │   ├── StateError               the state database cannot be used (too new, unreachable)
    │   ├── CredentialsMissing       not connected yet: names the `connector auth` to run
    │   └── CredentialsUnreadable    the keyring entry is not ours: names the `connector auth`
    ├── TrackerError                 the tracker could not be read (tracker, HTTP status, code)
    │   ├── RetriableTrackerError 1  down, throttled or unreachable after the retries: the next
    │   │   │                        run reads it again
    │   │   └── PageTokenExpired     a page token went stale: the listing starts again once
    │   └── FatalTrackerError     2  waiting will not help: a refused token, a missing project,
    │       │                        an unreadable milestones file (`SourceError` is its old name)
    │       └── SettingRefused       a [tracker] setting the tracker shows to be wrong
    ├── LedgerError                  a ledger call failed; the message is the ledger's own words
    │   ├── RetriableLedgerError  1  back off and try again (429, 5xx, timeouts), or the next run
    │   ├── FatalLedgerError      2  stop this business's run (auth, configuration)
    │   │   └── AuthExpired          the access token was refused: refreshed once, then fatal
    │   └── SkippableLedgerError  1  record the problem on the item and go on (data rejected)
    └── MoneyError                2  not an amount, percent or currency (also a ValueError: config
                                     and billing turn it into a problem or a skipped milestone)

Vendors subclass these in their own packages (a ledger session's own `AuthExpired`, say).
`connector.cli.main` is the one place that turns an error into the words printed and the exit
code, from `exit_code` and `next_step` below. Errors about single milestones are not
exceptions: billing returns them as values (skip reasons) and the run goes on.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import ClassVar

# A command a message tells the person to run, with the config file left as a placeholder by
# code that does not know it: "run `connector auth jira --config FILE`".
_CONFIG_PLACEHOLDER = re.compile(r"(`connector [^`]*?--config) FILE`")


def naming_config(text: str, path: object | None) -> str:
    """`text` with each `connector ... --config FILE` it suggests naming the real file, so
    that the command can be copied as it is."""
    if path is None or "--config FILE`" not in text:
        return text
    return _CONFIG_PLACEHOLDER.sub(lambda m: f"{m.group(1)} {shlex.quote(str(path))}`", text)


@contextmanager
def about(path: object) -> Iterator[None]:
    """Errors raised inside are about this business's config: a command they suggest names it
    (`ConnectorError.for_person`)."""
    try:
        yield
    except ConnectorError as exc:
        if exc.config_path is None:
            exc.config_path = path
        raise


class ConnectorError(Exception):
    """Base of every error the connector raises on purpose."""

    exit_code: ClassVar[int] = 2
    next_step: ClassVar[str] = ""  # what happens next, said after the message
    config_path: object | None = None  # the business's config, once a command knows it

    def for_person(self, sep: str = "\n") -> str:
        """What is said: the message, then what happens next when the class says it; a
        command to run names the config file when the command that failed knew it."""
        said = f"{self}{sep}{self.next_step}" if self.next_step else str(self)
        return naming_config(said, self.config_path)


# -- could not run: a person gives or fixes something first -----------------------------------


class UserError(ConnectorError):
    """The run could not start or continue; the message tells the person what to do."""


class ConfigError(UserError):
    def __init__(self, path: object, problems: Sequence[str]):
        self.path = str(path)
        self.problems = list(problems)
        count = len(self.problems)
        heading = f"{self.path}: {count} problem{'s' if count != 1 else ''}"
        super().__init__("\n".join([heading, *(f"  {p}" for p in self.problems)]))


class PluginNotFound(UserError):
    pass


class LockHeld(UserError):
    pass


class StateError(UserError):
    pass


class CredentialsMissing(UserError):
    """No credentials for this business yet: the message says which `connector auth` to run."""


class CredentialsUnreadable(UserError):
    """The keyring entry is not the JSON document the connector writes (edited by hand, or
    written by something else): the message names the entry and the `connector auth` that
    replaces it."""


# -- trackers -------------------------------------------------------------------------------


class TrackerError(ConnectorError):
    """The tracker could not be read; `detail` is the tracker's own words where it gave any.

    `tracker` names it in the message ("Jira: HTTP 503: ..."); a file source leaves it out,
    its messages start with the file's path. `retry_after` is how long the tracker asked us to
    wait, in seconds, when it said. Raise a subclass: the class says what happens next."""

    def __init__(
        self,
        message: str,
        *,
        tracker: str | None = None,
        status: int | None = None,
        vendor_code: str | None = None,
        retry_after: float | None = None,
    ):
        self.tracker = tracker
        self.status = status
        self.vendor_code = vendor_code
        self.retry_after = retry_after
        self.detail = message
        shown = f"HTTP {status}: " if status else ""
        super().__init__(f"{tracker}: {shown}{message}" if tracker else f"{shown}{message}")


class RetriableTrackerError(TrackerError):
    """The tracker is down, throttling or unreachable, still after backing off: nothing is
    wrong with the config, and tomorrow's run reads it again."""

    exit_code = 1
    next_step = "could not read the tracker tonight; the next run tries again"


class PageTokenExpired(RetriableTrackerError):
    """The tracker no longer accepts a page token it gave (Jira's live seven days; Asana's
    offsets expire too). The listing can be started again."""


class FatalTrackerError(TrackerError):
    """The tracker cannot be read as configured, and waiting will not change that."""


SourceError = FatalTrackerError  # the name `sources.base.Source.read` promised first


class SettingRefused(FatalTrackerError):
    """A `[tracker]` setting the tracker shows to be wrong (a field name the project does not
    have): the config must change, so the command names the config file and `key`."""

    def __init__(self, key: str, problem: str):
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


# -- ledgers --------------------------------------------------------------------------------


class LedgerError(ConnectorError):
    """A ledger call failed; `message` is the ledger's own words where it gave any."""

    def __init__(self, message: str, *, code: str | None = None):
        self.code = code
        super().__init__(message)


class RetriableLedgerError(LedgerError):
    exit_code = 1
    next_step = "could not reach the ledger tonight; the next run tries again"


class FatalLedgerError(LedgerError):
    pass


class AuthExpired(FatalLedgerError):
    """The ledger refused the access token. A session refreshes it once and tries again; raised
    a second time, it stops the business's run like any fatal error. Each ledger's session
    raises its own subclass (or this one)."""


class SkippableLedgerError(LedgerError):
    exit_code = 1


# -- values ---------------------------------------------------------------------------------


class MoneyError(ConnectorError, ValueError):
    """A value that cannot be read as an amount, percent or currency."""
