"""The kill -9 campaign (issue 11, item 5), a bounded run of `bench/chaos.py` on every `pytest`,
and the same crash anywhere for a night that emails its invoices (issue 13): never twice.

`connector sync` runs as a real process against the local QuickBooks and Xero sandboxes with
`on_change = "credit-and-reissue"`; between rounds milestones are added, changed, cancelled and
removed and the customer pays, so both voids and credit notes happen; each round arms faults
(writes applied and their answers lost, 429 storms, 5xx) and kills the process with SIGKILL at
the k-th ledger request, before or after the ledger applied it. A clean sync ends the campaign
and what the ledger holds is counted: no reference twice, one live invoice per billable
milestone at its current amount, none for the rest.

The kill points are places in the conversation with the ledger, so a seed replays exactly:

    CHAOS_SEED=7 CHAOS_ROUNDS=60 pytest tests/test_chaos.py -s
    python bench/chaos.py --ledger xero --seed 7 --rounds 60 --verbose
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from bench import chaos
from connector_sandbox.local import FaultyLocalLedger
from tests.conftest import Business, make_business
from tests.test_engine import EXPECTED_TOTALS, Crash, checkpoints, crash_at, totals

ROUNDS = int(os.environ.get("CHAOS_ROUNDS", "40"))
SEEDS = {"quickbooks": 1, "xero": 1}  # fixed, so that CI is the same on every machine


@pytest.mark.slow
@pytest.mark.parametrize("ledger", ["quickbooks", "xero"])
def test_syncs_killed_anywhere_bill_every_milestone_exactly_once(ledger, tmp_path):
    seed = int(os.environ.get("CHAOS_SEED", SEEDS[ledger]))
    replay = (
        f"replay: CHAOS_SEED={seed} CHAOS_ROUNDS={ROUNDS} pytest {__file__} -k {ledger}, or "
        f"python bench/chaos.py --ledger {ledger} --seed {seed} --rounds {ROUNDS} --verbose"
    )
    print(f"kill -9 campaign on {ledger}: seed {seed}, {ROUNDS} rounds ({replay})")
    found = chaos.campaign(ledger, rounds=ROUNDS, seed=seed, workdir=tmp_path, say=print)
    print(found.summary())
    assert found.kills >= ROUNDS // 3, "the campaign hardly killed anything: " + replay
    assert found.credit_notes and found.voided, "credit-and-reissue was not exercised"
    assert found.ok, f"{found.summary()}\n{replay}"


# -- sending, crashed at every step ----------------------------------------------------------


def _sending(root) -> Business:
    """The test business, every invoice emailed to the client once the ledger has it. Its
    ledger's payment changes never say an invoice was sent, so only the engine's own lookup
    can tell a run whether an email in flight went."""
    business = make_business(root, ledger=FaultyLocalLedger(sent_in_changes=False))
    text = business.config_path.read_text()
    business.config_path.write_text(text.replace("[billing]\n", '[billing]\nsend = "on-create"\n'))
    return business


def _emailed_once(business: Business) -> bool:
    """Every invoice in the ledger emailed exactly once, and the state says so."""
    invoices = {d.ledger_id for d in business.ledger.documents() if not d.is_credit}
    rows = business.state().invoice_rows()
    return Counter(business.ledger.emails) == Counter(dict.fromkeys(invoices, 1)) and all(
        r.delivery == "sent" and r.sent_at for r in rows
    )


def test_a_night_that_sends_crashed_at_every_step_emails_each_invoice_once(tmp_path):
    """The process dies at each checkpoint of a night that creates and emails six invoices
    (the local ledger counts every send call that reaches it as an email, as a ledger that
    does not check would); the next night leaves each emailed exactly once. Whether the
    ledger remembers creation keys is test_engine's matter: a send has no key to remember."""
    names = checkpoints(_sending(tmp_path / "probe"))
    assert {"before:commit:sending", "before:send_invoice", "after:send_invoice"} <= set(names)
    for n in range(1, len(names) + 1):
        business = _sending(tmp_path / f"crash{n}")
        with pytest.raises(Crash):
            business.sync(checkpoint=crash_at(n))
        assert business.sync().outcome == "ok", f"crash at {names[n - 1]} (#{n})"
        assert totals(business.ledger) == EXPECTED_TOTALS, names[n - 1]
        assert _emailed_once(business), f"crash at {names[n - 1]} (#{n})"


@pytest.mark.parametrize("mode", ["error", "drop"])
def test_a_send_that_fails_then_a_crash_still_emails_once(tmp_path, mode):
    """The send fails (before, or after the email went), and the next run dies at each of
    its own steps: the night after that still emails each invoice once."""
    probe = _sending(tmp_path / "probe")
    probe.ledger.fail_next("send_invoice", mode)
    probe.sync()
    names = checkpoints(probe)
    for n in range(1, len(names) + 1):
        business = _sending(tmp_path / f"crash{n}")
        business.ledger.fail_next("send_invoice", mode)
        business.sync()
        with pytest.raises(Crash):
            business.sync(checkpoint=crash_at(n))
        business.sync()
        assert _emailed_once(business), f"{mode}, then a crash at {names[n - 1]} (#{n})"
