"""The Asana source against the local Asana sandbox, over real HTTP."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest

from connector.adapters.local import MemoryLedger
from connector.credentials import CredentialsMissing
from connector.demo import EXAMPLE
from connector.errors import SettingRefused
from connector.models import Reason, Status
from connector.sources.asana import AsanaFields, AsanaSettings, AsanaSource
from connector.sources.http import TrackerError
from connector.sources.records import iso, now_utc
from connector.testing.source import RECORDS, SourceConformance
from connector_sandbox.asana import TOKEN, AsanaPerson, AsanaSandbox
from connector_sandbox.trackers_demo import TrackerDemo
from tests.tracker_support import (
    BUSINESS,
    Tracker,
    a_429_is_waited_out,
    billed,
    business_config,
    connect,
    demo_bills_like_the_file,
    sync,
)


@pytest.fixture
def asana():
    with AsanaSandbox() as sandbox:
        yield sandbox


def source_for(sandbox, person, **kw) -> AsanaSource:
    kw.setdefault("fields", AsanaFields(id="Milestone ID"))
    settings = AsanaSettings(
        projects=[person.project], api_url=sandbox.url + "/api/1.0", max_wait=5, **kw
    )
    return AsanaSource(settings, BUSINESS)


@pytest.fixture
def tracker(asana):
    connect("asana", TOKEN)
    person = AsanaPerson(asana)
    return Tracker(asana, person, source_for(asana, person))


class TestAsana(SourceConformance):
    pass


def test_a_percentage_field_is_a_fraction(tracker, asana):
    tracker.seed([{**RECORDS[0], "percent": "33.33"}])
    gid = tracker.person.gids["M1"]
    stored = asana.tasks[gid]["values"][asana.field_gid("Percent of contract")]
    assert stored == Decimal("0.3333")  # what Asana keeps; the person typed 33.33%
    (m1,) = tracker.source.read(None).milestones
    assert m1.percent == Decimal("33.33")


def test_an_amount_carries_the_currency_of_its_field(tracker):
    tracker.seed(RECORDS)
    found = {m.id: m for m in tracker.source.read(None).milestones}
    assert (found["M2"].amount, found["M2"].currency) == (Decimal("9600.00"), "USD")
    assert found["M1"].currency is None  # a percent of the contract is in its currency


def test_only_milestone_tasks_are_read(tracker, asana):
    tracker.seed(RECORDS)
    asana.create_task(tracker.person.project, "Write the copy", subtype="default_task")
    assert sorted(m.id for m in tracker.source.read(None).milestones) == ["M1", "M2", "M3"]


def test_acceptance_comes_from_the_approval_subtask(tracker, asana):
    tracker.seed(RECORDS[:1])
    (m1,) = tracker.source.read(None).milestones
    assert m1.accepted == date(2026, 9, 22)


def test_an_approval_after_completion_is_seen_although_the_milestone_did_not_change(tracker, asana):
    """Approving a subtask does not touch the milestone's modified_at in Asana."""
    tracker.seed([{k: v for k, v in RECORDS[0].items() if k != "accepted"}])
    first = tracker.source.read(None)
    assert first.milestones[0].accepted is None
    assert json.loads(first.cursor)["awaiting"] == [tracker.person.gids["M1"]]
    tracker.person.edit("M1")  # nothing changes on the milestone itself
    modified = asana.tasks[tracker.person.gids["M1"]]["modified_at"]
    approval = asana.create_task(
        None, "Client approval", subtype="approval", parent=tracker.person.gids["M1"]
    )
    second = tracker.source.read(first.cursor)
    assert second.milestones[0].accepted is None
    asana.update_task(approval, approval_status="approved")
    assert asana.tasks[tracker.person.gids["M1"]]["modified_at"] == modified
    third = tracker.source.read(second.cursor)
    assert third.milestones[0].accepted == asana.clock.now().date()
    assert json.loads(third.cursor)["awaiting"] == []
    assert tracker.source.read(third.cursor).milestones == []  # and then it rests


def test_a_second_read_without_changes_returns_nothing(tracker):
    tracker.seed(RECORDS)
    first = tracker.source.read(None)
    second = tracker.source.read(first.cursor)
    assert not second.complete and second.milestones == []


def test_modified_since_is_sent_with_the_overlap(tracker, asana):
    tracker.seed(RECORDS)
    cursor = {"since": "2026-03-10T15:02:30.000Z", "seen": [], "full": iso(now_utc())}
    tracker.source.read(json.dumps(cursor))
    # the last start minus the 5-minute overlap, to the minute
    assert asana.last_modified_since == "2026-03-10T14:57:00.000Z"


def test_an_edit_is_read_and_an_unchanged_milestone_is_not_read_again(tracker, asana):
    tracker.seed(RECORDS)
    first = tracker.source.read(None)
    assert asana.last_modified_since is None  # the first read is complete
    tracker.edit("M2", amount="1.00")
    second = tracker.source.read(first.cursor)
    assert [(m.id, m.amount) for m in second.milestones] == [("M2", Decimal("1.00"))]


def test_an_unchanged_accepted_milestone_costs_no_subtask_read(tracker, asana):
    tracker.seed(RECORDS)
    first = tracker.source.read(None)
    reads = asana.subtask_reads  # M1's approval was looked up once
    assert reads == 1
    second = tracker.source.read(first.cursor)  # M1 comes again inside the overlap
    assert second.milestones == [] and asana.subtask_reads == reads


def test_float_noise_in_a_percentage_is_read_at_the_fields_precision(tracker, asana):
    """Asana keeps 14.3% as a binary fraction: 0.14300000000000002 must bill 14.3%."""
    tracker.seed([{**RECORDS[0], "percent": "14.3"}])
    asana.update_field("Percent of contract", precision=1)
    noisy = Decimal("0.14300000000000002")
    asana.update_task(tracker.person.gids["M1"], **{"Percent of contract": noisy})
    batch = tracker.source.read(None)
    assert batch.invalid == [] and batch.milestones[0].percent == Decimal("14.3")


def test_an_expired_offset_restarts_the_listing_once(tracker, asana):
    tracker.seed(RECORDS)
    asana.expire_offsets(1)
    batch = source_for(asana, tracker.person, page_size=2).read(None)
    assert sorted(m.id for m in batch.milestones) == ["M1", "M2", "M3"]
    assert asana.statuses[400] == 1  # page 2 refused, then pages 1 and 2 again


def test_an_offset_that_keeps_expiring_is_an_error(tracker, asana):
    tracker.seed(RECORDS)
    asana.expire_offsets(2)
    with pytest.raises(TrackerError, match="page token expired twice in a row"):
        source_for(asana, tracker.person, page_size=2).read(None)


def test_a_complete_read_every_full_read_days_drops_what_is_gone(tracker, asana):
    """modified_since cannot show a deleted task or one that stopped being a milestone."""
    tracker.seed(RECORDS)
    source = tracker.source
    source.clock = asana.clock.now
    first = source.read(None)
    asana.delete_task(tracker.person.gids["M2"])
    asana.update_task(tracker.person.gids["M3"], resource_subtype="default_task")
    second = source.read(first.cursor)
    assert not second.complete and second.milestones == []
    asana.clock.advance(timedelta(days=7))
    third = source.read(second.cursor)
    assert third.complete and [m.id for m in third.milestones] == ["M1"]
    assert asana.last_modified_since is None
    assert not source.read(third.cursor).complete


def test_an_amount_in_another_currency_than_the_contract_is_not_billed(tmp_path):
    """The example's BETA-APP contract bills in EUR; its Amount field here is in USD."""
    with TrackerDemo("asana") as demo:
        demo.sandbox.update_field("Amount", currency_code="USD")
        path = business_config(tmp_path, demo.tracker_section(EXAMPLE / "milestones.toml"))
        demo.connect(BUSINESS)
        report = sync(path, MemoryLedger())
    link = f"https://app.asana.com/0/{demo.person.project}/{demo.person.gids['BETA-1']}"
    (skip,) = [s for s in report.skipped if s.milestone == "BETA-1"]
    assert skip.reason is Reason.INVALID_MILESTONE
    assert link in skip.message and "in USD" in skip.message and "EUR" in skip.message
    assert "BETA-1" not in billed(report) and "ACME-M1" in billed(report)


def test_many_pages_through_next_page_offset(tracker, asana):
    records = [
        {"id": f"M{i}", "contract": "ACME-WEB", "amount": f"{i}.00", "status": "open"}
        for i in range(1, 8)
    ]
    tracker.seed(records)
    batch = source_for(asana, tracker.person, page_size=3).read(None)
    assert len(batch.milestones) == 7 and asana.statuses[200] == 3


def test_a_429_is_waited_out(tracker):
    a_429_is_waited_out(tracker, match="/tasks")


def test_a_bad_milestone_names_the_task_link_and_the_field(tracker, asana):
    tracker.seed(RECORDS)
    tracker.person.edit("M2", contract=None)
    (bad,) = tracker.source.read(None).invalid
    gid = tracker.person.gids["M2"]
    assert bad.where == f"https://app.asana.com/0/{tracker.person.project}/{gid}"
    assert "field 'Contract' (contract): required key is missing" in bad.message


def test_cancelled_comes_from_the_status_field(tracker):
    tracker.seed(RECORDS)
    assert {m.id: m.status for m in tracker.source.read(None).milestones}["M3"] is (
        Status.CANCELLED
    )


def test_an_unknown_project_is_named(tracker, asana):
    settings = AsanaSettings(projects=["999"], api_url=asana.url + "/api/1.0")
    with pytest.raises(TrackerError, match="project 999 not found"):
        AsanaSource(settings, BUSINESS).read(None)


def test_project_gids_are_checked():
    with pytest.raises(ValueError, match="expected a project gid"):
        AsanaSettings(projects=["Northwind client work"])


def test_no_token_names_the_command(asana):
    person = AsanaPerson(asana)
    with pytest.raises(CredentialsMissing, match="connector auth asana --config FILE"):
        source_for(asana, person).read(None)


def test_the_demo_bills_from_asana_what_it_bills_from_the_file(tmp_path):
    from_file, from_asana, report = demo_bills_like_the_file("asana", tmp_path)
    assert from_file and from_asana == from_file and not report.fatal


def test_auth_asana_saves_a_checked_token(tmp_path, memory_keyring):
    from typer.testing import CliRunner

    from connector.cli import app
    from tests.tracker_support import business_config

    with AsanaSandbox() as sandbox:
        section = (
            f'[tracker]\nkind = "asana"\nprojects = ["1"]\napi_url = "{sandbox.url}/api/1.0"\n'
        )
        path = business_config(tmp_path, section)
        result = CliRunner().invoke(app, ["auth", "asana", "--config", str(path)], input=TOKEN)
        assert result.exit_code == 0, result.output
        assert ("milestone-connector", "Northwind Studio/asana") in memory_keyring.entries


def test_auth_saves_the_token_when_the_tracker_cannot_be_reached(tmp_path, memory_keyring):
    from typer.testing import CliRunner

    from connector.cli import app
    from tests.tracker_support import business_config

    section = '[tracker]\nkind = "asana"\nprojects = ["1"]\napi_url = "http://127.0.0.1:9/api"\n'
    path = business_config(tmp_path, section + "timeout = 1\nmax_wait = 0\n")
    result = CliRunner().invoke(app, ["auth", "asana", "--config", str(path)], input="tok\n")
    assert result.exit_code == 0, result.output
    assert "Could not reach asana" in result.output and "saved anyway" in result.output


# -- a [tracker.fields] name the project does not have ------------------------------------------


def rename_field(sandbox, name: str, new: str) -> None:
    """What a person does in the project's field settings."""
    with sandbox.lock:
        sandbox.fields[sandbox.field_gid(name)]["name"] = new


def _asana_business(tmp_path, demo, fields: str = ""):
    section = demo.tracker_section(EXAMPLE / "milestones.toml")
    section = section.replace("[tracker.fields]\n", "[tracker.fields]\n" + fields)
    path = business_config(tmp_path, section)
    demo.connect(BUSINESS)
    return path


def test_a_field_name_the_project_does_not_have_is_a_config_error(tmp_path, monkeypatch, capsys):
    """It used to read as if every task left the field blank: exit 1, the deposit still billed."""
    from tests.test_cli import connector

    with TrackerDemo("asana") as demo:
        path = _asana_business(tmp_path, demo, 'amount = "Amont"\n')
        code, _, err = connector(monkeypatch, capsys, "sync", "--config", str(path))
    assert code == 2
    assert f"error: {path}: 1 problem\n" in err
    assert (
        f"  tracker.fields.amount: Asana project {demo.person.project} has no custom field named "
        "'Amont'; its custom fields are: Amount, Contract, Milestone ID, Milestone status, "
        "Payment terms (days), Percent of contract"
    ) in err
    assert "unexpected" not in err
    assert not (tmp_path / "ledger.json").exists()  # nothing billed, not even the deposit


def test_plan_and_config_check_name_the_missing_field_too(tmp_path, monkeypatch, capsys):
    from tests.test_cli import connector

    with TrackerDemo("asana") as demo:
        path = _asana_business(tmp_path, demo)
        rename_field(demo.sandbox, "Contract", "Client contract")
        for command in (["plan"], ["config", "check"]):
            code, _, err = connector(monkeypatch, capsys, *command, "--config", str(path))
            assert code == 2, command
            assert f"{path}: 1 problem" in err
            assert "tracker.fields.contract: Asana project" in err
            assert "has no custom field named 'Contract'" in err


def test_an_optional_field_left_at_its_default_may_be_missing(tracker, asana):
    """`status` defaults to "Milestone status"; a project without it simply cancels nothing."""
    tracker.seed(RECORDS)
    rename_field(asana, "Milestone status", "Stage")
    batch = tracker.source.read(None)
    assert not batch.invalid
    assert {m.id: m.status for m in batch.milestones}["M3"] is not Status.CANCELLED
    named = source_for(asana, tracker.person, fields=AsanaFields(status="Milestone status"))
    with pytest.raises(SettingRefused, match=r"tracker\.fields\.status: Asana project"):
        named.read(None)


def test_the_planned_date_is_the_asana_due_date_and_an_edit_is_seen(tracker):
    """A task's `due_on` is the day the work is planned: the cash
    forecast's date. A change is read like any other, incrementally."""
    tracker.seed([{**RECORDS[1], "planned": date(2027, 1, 15)}, RECORDS[0]])
    first = tracker.source.read(None)
    found = {m.id: m for m in first.milestones}
    assert found["M2"].planned == date(2027, 1, 15) and found["M1"].planned is None
    tracker.edit("M2", planned=date(2027, 2, 1))
    changed = {m.id: m for m in tracker.source.read(first.cursor).milestones}
    assert changed["M2"].planned == date(2027, 2, 1)
