"""When each milestone not billed yet will be done and accepted, under one scenario: the
dates billing is then run forward with (`forward`).

- Open with a planned day still ahead: done on it (the early scenario earlier, the late one
  later, when this contract's milestones have finished that much before or after plan).
- Open with a planned day passed: done as late after it as this contract's milestones have
  slipped (the business's slip when the contract has no history), never before the as-of day.
- Open with no planned day: not placed in time, and said so.
- Done but not accepted yet (when approval is required): accepted after the customer's usual
  lag, never before the as-of day.
- Billed, cancelled, or done and accepted already: as the tracker has it.

Pure: a milestone in, the milestone as billing is to see it out, with the reason in words.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta

from connector.forecast.habits import Habits
from connector.forecast.records import Habit, Scenario
from connector.models import BillingRules, Contract, Milestone, Status


@dataclass(frozen=True, slots=True)
class Projection:
    milestone: Milestone  # as billing is to see it: done and accepted on the projected days
    why: str  # how those days were reached, for the forecast's items
    placed: bool = True  # False: open without a planned day, so never billed in the forecast


def _days(n: int) -> str:
    return f"{n} day{'s' if abs(n) != 1 else ''}"


def _habit(habit: Habit, scenario: Scenario, what: str) -> str:
    if habit.observations == 0:
        return f"no {what} history yet"
    name = {Scenario.EARLY: "early end", Scenario.EXPECTED: "median", Scenario.LATE: "late end"}
    return f"{name[scenario]} of {habit.observations} for {habit.whose}"


def done_day(m: Milestone, slip: Habit, scenario: Scenario, as_of: date) -> tuple[date, str]:
    assert m.planned is not None
    if m.planned >= as_of:
        shift = {
            Scenario.EARLY: min(slip.early, 0),
            Scenario.EXPECTED: 0,
            Scenario.LATE: max(slip.late, 0),
        }[scenario]
        why = f"planned {m.planned}"
        if shift:
            late = "late" if shift > 0 else "early"
            why += f", done {_days(abs(shift))} {late} ({_habit(slip, scenario, 'slip')})"
        day = m.planned + timedelta(days=shift)
    else:
        shift = slip.days(scenario)
        day = m.planned + timedelta(days=shift)
        why = (
            f"planned {m.planned}, passed; slips {_days(shift)} ({_habit(slip, scenario, 'slip')})"
        )
    if day < as_of:
        day = as_of
        why += "; not done yet, so done today at the earliest"
    return day, f"{why}: done {day}"


def accepted_day(done: date, lag: Habit, scenario: Scenario, as_of: date) -> tuple[date, str]:
    day = max(done + timedelta(days=lag.days(scenario)), as_of)
    return day, (
        f"accepted {day}, {_days((day - done).days)} after ({_habit(lag, scenario, 'acceptance')})"
    )


def project(
    m: Milestone,
    contract: Contract,
    habits: Habits,
    rules: BillingRules,
    scenario: Scenario,
    as_of: date,
    billed: Collection[str],
) -> Projection:
    """`m` as billing is to see it in this scenario."""
    needs_approval = rules.approval == "required"
    if m.id in billed or m.status is Status.CANCELLED:
        return Projection(m, "")
    lag = habits.accept.of(contract.customer)
    if m.status is Status.DONE and m.completed is not None:
        if not needs_approval or (m.accepted is not None and m.accepted <= as_of):
            return Projection(m, f"done {m.completed}, billable now")
        if m.accepted is not None:  # accepted on a day still to come, as the tracker says
            return Projection(m, f"done {m.completed}, accepted {m.accepted}")
        day, why = accepted_day(m.completed, lag, scenario, as_of)
        return Projection(m._replace(accepted=day), f"done {m.completed}; {why}")
    if m.planned is None:
        return Projection(m, "", placed=False)
    done, why = done_day(m, habits.slip.of(m.contract), scenario, as_of)
    accepted = None
    if needs_approval:
        accepted, said = accepted_day(done, lag, scenario, as_of)
        why += f"; {said}"
    return Projection(m._replace(status=Status.DONE, completed=done, accepted=accepted), why)
