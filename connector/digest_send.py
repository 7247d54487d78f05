"""When the morning digest goes, to whom, and what it has told: the daemon's side of it.

Each recipient is a [notify] table with `email_to` and `digest = true`: the daemon-wide one
(`connector run --notify-config`) hears of every business, a business's own of that business.
Its digest goes once every business it covers has finished a run since its last digest (after
the night's runs, whatever their schedules), and at `digest_by` at the latest for the runs that
did finish (a run that hangs, a business that runs weekly). A night with nothing new sends a
heartbeat unless `heartbeat = false`, so that no email means the daemon is not running.

What a digest told is marked in each business's state (a cursor, `connector.digest.Mark`) only
once the email was accepted by the mail server: a digest that could not go leaves everything
for the next one. Sending never raises; problems are returned (and logged by the daemon).
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from connector.config import Config
from connector.digest import (
    BusinessDigest,
    ExtraSection,
    Mark,
    business_digest,
    digest_of,
    expected_receipts,
    latest_mark,
    mark_name,
)
from connector.digest_render import plural, render_email
from connector.errors import ConnectorError
from connector.notify import DAEMON_SMTP_KEY, NotifySettings, deliver
from connector.sync.report import SyncReport
from connector.sync.state import State

log = logging.getLogger("connector.digest")


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who gets a digest: `key` names its keyring entry and its marks in the states;
    `covers` the business configs it hears of (None: every one)."""

    key: str
    settings: NotifySettings
    covers: frozenset[Path] | None = None

    def businesses(self, configs: Mapping[Path, Config]) -> dict[Path, Config]:
        return {p: c for p, c in configs.items() if self.covers is None or p in self.covers}

    def zone(self, configs: Mapping[Path, Config]) -> tzinfo | None:
        """Where its `digest_by` is meant: `digest_timezone`, else a business's own zone, else
        (None) the machine's."""
        if self.settings.digest_timezone:
            return ZoneInfo(self.settings.digest_timezone)
        own = list(self.businesses(configs).values()) if self.covers is not None else []
        return own[0].zone if own else None

    def now(self, configs: Mapping[Path, Config]) -> datetime:
        zone = self.zone(configs)
        return datetime.now(zone) if zone is not None else datetime.now().astimezone()


def recipients(configs: Mapping[Path, Config], everyone: NotifySettings | None) -> list[Recipient]:
    out = []
    if everyone is not None and everyone.email_to and everyone.digest:
        out.append(Recipient(DAEMON_SMTP_KEY, everyone))
    for path, cfg in configs.items():
        own = cfg.notify
        if own.email_to and own.digest:
            out.append(Recipient(cfg.business.name, own, frozenset({path})))
    return out


def title_of(recipient: Recipient, configs: Sequence[Config]) -> str:
    if recipient.covers is not None and len(configs) == 1:
        return configs[0].business.name
    return plural(len(configs), "business", "businesses")


def read_mark(cfg: Config, key: str) -> Mark:
    """The mark of the last digest `key` got of this business; none if it cannot be read."""
    try:
        state = State.open(cfg.state_url, cfg.business.name, path=cfg.state_path, read_only=True)
        return Mark.from_text(state.cursor(mark_name(key)))
    except (ConnectorError, OSError, SQLAlchemyError, ValueError, KeyError):
        return Mark()


def mark_start(recipient: Recipient, configs: Sequence[Config], now: datetime) -> None:
    """Where the books stand as the daemon starts, for each business with no mark yet but a
    state: its first digest then tells of the daemon's runs, not of every year before."""
    for cfg in configs:
        try:
            state = State.open(
                cfg.state_url, cfg.business.name, path=cfg.state_path, read_only=True
            )
            name = mark_name(recipient.key)
            if state.cursor(name) is not None or state.last_run() is None:
                continue
            mark = latest_mark(state.payment_rows(), state.invoice_rows(), now)
            State.open(cfg.state_url, cfg.business.name, path=cfg.state_path).set_cursors(
                {name: mark.to_text()}
            )
        except (ConnectorError, OSError, SQLAlchemyError) as exc:
            log.warning(
                "%s: where its digest starts could not be marked: %s", cfg.business.name, exc
            )


def save_marks(key: str, told: Sequence[tuple[Config, BusinessDigest]]) -> list[str]:
    """Move each business's mark to what the digest told of; a business that has never run
    (no state yet) gets none, so no database is made for it."""
    problems = []
    for cfg, b in told:
        if b.next_mark is None or b.last_sync is None:
            continue
        try:
            state = State.open(cfg.state_url, cfg.business.name, path=cfg.state_path)
            state.set_cursors({mark_name(key): b.next_mark.to_text()})
        except (ConnectorError, OSError, SQLAlchemyError) as exc:
            problems.append(
                f"{cfg.business.name}: the digest went, but its mark could not be saved, so "
                f"the next digest repeats it: {exc}"
            )
    return problems


def send_digest(
    recipient: Recipient,
    configs: Sequence[Config],
    now: datetime,
    *,
    tls_context: ssl.SSLContext | None = None,
    extras: Sequence[ExtraSection] = (expected_receipts,),
    not_run: Mapping[str, str] | None = None,
    cannot_load: Sequence[str] = (),
) -> list[str]:
    """Build and send one digest of `configs` (a heartbeat if nothing is new, unless turned
    off); the problems, never raised. `not_run`: by business, why its last run could not
    start (the state has no record of it); `cannot_load`: the configs of the folder that do
    not load, each a sentence naming its file."""
    marks = [read_mark(cfg, recipient.key) for cfg in configs]
    why = not_run or {}
    parts = [
        business_digest(cfg, mark, now, extras=extras, not_run=why.get(cfg.business.name))
        for cfg, mark in zip(configs, marks, strict=True)
    ]
    digest = digest_of(title_of(recipient, configs), parts, marks, now, cannot_load)
    told = list(zip(configs, parts, strict=True))
    if digest.quiet and not recipient.settings.heartbeat:
        log.info("digest for %s: a quiet night, and heartbeat = false: not sent", digest.title)
        return save_marks(recipient.key, told)
    problems = deliver(render_email(digest), recipient.settings, recipient.key, tls_context)
    if problems:
        return problems
    log.info("digest for %s sent to %s", digest.title, ", ".join(recipient.settings.email_to))
    return save_marks(recipient.key, told)


Configs = Callable[[], tuple[Mapping[Path, Config], NotifySettings | None]]


class DigestBook:
    """Which runs finished since each recipient's last digest, and which are in flight; a
    digest goes from the thread whose run completed its set (or from the `digest_by` job)."""

    def __init__(
        self,
        configs: Configs,
        *,
        tls_context: ssl.SSLContext | None = None,
        broken: Callable[[], Mapping[Path, str]] | None = None,
    ):
        self._configs = configs  # the daemon's businesses and its [notify], as they are now
        self._broken = broken  # the config files that do not load, and why
        self._tls = tls_context
        self._lock = threading.Lock()
        self._running: set[Path] = set()
        self._done: dict[str, set[Path]] = {}
        # a run that could not start records nothing in the state: its report says why
        self._not_run: dict[Path, str] = {}

    def recipients(self) -> list[Recipient]:
        configs, everyone = self._configs()
        return recipients(configs, everyone)

    def mark_start(self) -> None:
        configs, everyone = self._configs()
        for r in recipients(configs, everyone):
            mark_start(r, list(r.businesses(configs).values()), r.now(configs))

    def started(self, path: Path) -> None:
        with self._lock:
            self._running.add(path)

    def finished(self, path: Path, report: SyncReport | None = None, *, send: bool = True) -> None:
        """A run of `path` ended (however it ended: `report`, None when another process held
        its lock); send each digest now complete."""
        configs, everyone = self._configs()
        ready = []
        with self._lock:
            self._running.discard(path)
            if report is not None and not report.run_id and report.problems():
                self._not_run[path] = "; ".join(report.problems())
            elif report is not None:
                self._not_run.pop(path, None)
            for r in recipients(configs, everyone):
                covered = set(r.businesses(configs))
                if path not in covered:
                    continue
                done = self._done.setdefault(r.key, set())
                done.add(path)
                if send and covered <= done and not covered & self._running:
                    done.clear()  # taken: no other thread sends this one
                    ready.append(r)
        for r in ready:
            self._send(r, configs)

    def due(self, key: str) -> None:
        """`digest_by` came: send the digest of the runs that did finish, if any did."""
        configs, everyone = self._configs()
        for r in recipients(configs, everyone):
            if r.key != key:
                continue
            with self._lock:
                done = self._done.get(key)
                if not done:
                    return  # nothing ran since the last digest: silence says so
                done.clear()
            self._send(r, configs)

    def _send(self, r: Recipient, configs: Mapping[Path, Config]) -> None:
        covered = r.businesses(configs)
        with self._lock:
            not_run = {
                cfg.business.name: self._not_run[p]
                for p, cfg in covered.items()
                if p in self._not_run
            }
        now = r.now(configs)
        unread = list(self._broken().values()) if self._broken and r.covers is None else []
        for problem in send_digest(
            r,
            list(covered.values()),
            now,
            tls_context=self._tls,
            not_run=not_run,
            cannot_load=unread,
        ):
            log.error("digest not delivered: %s", problem)
