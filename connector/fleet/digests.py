"""The morning digest in a fleet: one email per recipient a day, whichever worker sends it.

The embedded daemon sends a recipient's digest once every business it covers has had its run,
or at `digest_by` (connector/digest_send.py, DigestBook). Fleet workers share no memory, so the
fleet's tick, deduplicated across workers by procrastinate, looks for the same two moments in the
slot record: a recipient's digest of a day is due once every business it covers has its latest
sync slot done, or once that day's `digest_by` has passed. It is deferred as one job with a
queueing lock and recorded in `fleet_slots` under "digest:<recipient>" and that day's
`digest_by` moment, so it goes once however many workers tick. Workers send no email per run to
a recipient with `digest = true` (its webhook is still told after every run).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.config import Config
from connector.digest_send import Recipient, recipients, send_digest
from connector.fleet.schedule import latest_slot
from connector.fleet.slots import SlotBook, slot_name
from connector.notify import NotifySettings

log = logging.getLogger("connector.fleet")

DIGEST_TASK = "connector.fleet.digest"
PREFIX = "digest:"  # a slot record's "business" for a digest; no business name starts so


@dataclass(frozen=True, slots=True)
class DueDigest:
    recipient: str  # Recipient.key
    slot: str  # the day's digest_by moment, UTC ISO (slot_name)

    @property
    def record(self) -> tuple[str, str]:
        return (PREFIX + self.recipient, self.slot)


def digest_moment(r: Recipient, configs: Mapping[Path, Config], now: datetime) -> datetime:
    """Today's `digest_by` in the recipient's zone: the digest of the night that ends then."""
    zone = r.zone(configs) or UTC
    local = now.astimezone(zone)
    hour, minute = (int(x) for x in r.settings.digest_by.split(":"))
    return local.replace(hour=hour, minute=minute, second=0, microsecond=0)


def due(
    configs: Mapping[Path, Config],
    everyone: NotifySettings | None,
    book: SlotBook,
    now: datetime,
) -> list[DueDigest]:
    """The digests to send now: not recorded yet, and their night done or their time come."""
    candidates: list[tuple[DueDigest, list[tuple[str, str]]]] = []
    for r in recipients(configs, everyone):
        moment = digest_moment(r, configs, now)
        night: list[tuple[str, str]] = []
        for cfg in r.businesses(configs).values():
            slot = latest_slot(cfg, now)
            if slot is not None and slot > moment - timedelta(days=1):
                night.append((cfg.business.name, slot_name(slot)))
        candidates.append((DueDigest(r.key, slot_name(moment)), night if now < moment else []))
    recorded = book.recorded([d.record for d, _ in candidates])
    done = book.finished([pair for _, night in candidates for pair in night])
    out = []
    for d, night in candidates:
        if d.record in recorded:
            continue
        time_come = not night and now >= datetime.fromisoformat(d.slot)
        if time_come or (night and all(pair in done for pair in night)):
            out.append(d)
    return out


def send(
    key: str,
    slot: str,
    configs: Mapping[Path, Config],
    everyone: NotifySettings | None,
    book: SlotBook,
    now: datetime,
    cannot_load: Sequence[str] = (),
) -> str:
    """Send one recipient's digest of the day unless it went already; the outcome."""
    known = book.get(PREFIX + key, slot)
    if known is not None and known.done_at:
        return str(known.outcome)
    found = [r for r in recipients(configs, everyone) if r.key == key]
    if not found:
        book.done(PREFIX + key, slot, "gone")
        return "gone"
    r = found[0]
    book.claim(PREFIX + key, slot, "digest")
    problems = send_digest(r, list(r.businesses(configs).values()), now, cannot_load=cannot_load)
    for problem in problems:
        log.error("digest for %s: %s", key, problem)
    outcome = "problems" if problems else "ok"
    book.done(PREFIX + key, slot, outcome)
    return outcome
