"""The Asana source against the local Asana sandbox, over real HTTP."""

from __future__ import annotations

import json
import time
from datetime import date
from decimal import Decimal

import pytest

from connector.credentials import CredentialsMissing
from connector.models import Status
from connector.sandbox.asana import TOKEN, AsanaPerson, AsanaSandbox
from connector.sources.asana import AsanaFields, AsanaSettings, AsanaSource
from connector.sources.http import TrackerError
from tests.conformance.source import RECORDS, SourceConformance
from tests.tracker_support import BUSINESS, Tracker, connect, demo_bills_like_the_file


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
    first = tracker.source.read(None)
    tracker.edit("M2", amount="1.00")
    second = tracker.source.read(first.cursor)
    assert [(m.id, m.amount) for m in second.milestones] == [("M2", Decimal("1.00"))]


def test_many_pages_through_next_page_offset(tracker, asana):
    records = [
        {"id": f"M{i}", "contract": "ACME-WEB", "amount": f"{i}.00", "status": "open"}
        for i in range(1, 8)
    ]
    tracker.seed(records)
    batch = source_for(asana, tracker.person, page_size=3).read(None)
    assert len(batch.milestones) == 7 and asana.statuses[200] == 3


def test_a_429_is_waited_out(tracker, asana):
    tracker.seed(RECORDS)
    asana.faults.throttle(1, match="/tasks")
    started = time.monotonic()
    assert len(tracker.source.read(None).milestones) == 3
    assert time.monotonic() - started >= 1.0 and asana.statuses[429] == 1


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
