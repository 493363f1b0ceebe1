"""The job lifecycle as the workshop runs it: every stage, every action, every guard.

The expected moves are written out here by hand, not read from `lifecycle.TRANSITIONS`, so a
change to the table that nobody meant shows up as a failing test.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from decimal import Decimal

import pytest

from workflow import lifecycle
from workflow.errors import TransitionRefused
from workflow.model import JobFacts

JOB = "J-0042"
BEN, BEA = 11, 12  # two bench jewelers' staff ids

ALL_STAGES = ["new", "design_consultation", "awaiting_approval", "in_production",
              "quality_check", "ready", "completed", "on_hold", "cancelled"]
ALL_ACTIONS = ["start_design", "start_production", "send_for_approval", "approve",
               "request_changes", "submit_for_qc", "pass_qc", "fail_qc", "hand_over", "hold",
               "resume", "cancel"]
WORKING = ["new", "design_consultation", "awaiting_approval", "in_production", "quality_check",
           "ready"]

# Where each action takes a job from each stage when every condition is met. A job on hold was
# put there from in_production (see `everything_in_order`). Missing pairs are refused.
EXPECTED: dict[str, dict[str, str]] = {
    "new": {"start_design": "design_consultation", "start_production": "in_production",
            "hold": "on_hold", "cancel": "cancelled"},
    "design_consultation": {"send_for_approval": "awaiting_approval", "hold": "on_hold",
                            "cancel": "cancelled"},
    "awaiting_approval": {"approve": "in_production", "request_changes": "design_consultation",
                          "hold": "on_hold", "cancel": "cancelled"},
    "in_production": {"submit_for_qc": "quality_check", "hold": "on_hold",
                      "cancel": "cancelled"},
    "quality_check": {"pass_qc": "ready", "fail_qc": "in_production", "hold": "on_hold",
                      "cancel": "cancelled"},
    "ready": {"hand_over": "completed", "hold": "on_hold", "cancel": "cancelled"},
    "on_hold": {"resume": "in_production", "cancel": "cancelled"},
    "completed": {},
    "cancelled": {},
}


def everything_in_order(state: str, **changes) -> JobFacts:
    """A job whose every guard is satisfied: designed and approved (v2), assigned to Ben,
    QC signed by Bea with every point passed, paid in full, a reason typed."""
    facts = JobFacts(
        job_number=JOB, state=state, design_needed=False,
        held_from="in_production" if state == "on_hold" else None,
        latest_design_version=2, approved_design_version=2,
        assignee_id=BEN, last_bench_jeweler_id=BEN,
        qc_all_passed=True, qc_signed_by_id=BEA,
        balance_due=Decimal("0.00"), currency="USD",
        reason="The customer asked for it", override_reason="", actor_is_manager=False)
    return replace(facts, **changes)


def refused(facts: JobFacts, trigger: str) -> str:
    with pytest.raises(TransitionRefused) as caught:
        lifecycle.fire(facts, trigger)
    assert caught.value.job_number == facts.job_number
    return str(caught.value)


def test_the_lifecycle_has_exactly_the_stages_and_actions_the_workshop_uses():
    assert lifecycle.STATES == ALL_STAGES
    assert list(lifecycle.TRIGGERS) == ALL_ACTIONS
    assert set(EXPECTED) == set(ALL_STAGES)


@pytest.mark.parametrize("trigger", lifecycle.TRIGGERS)
@pytest.mark.parametrize("stage", lifecycle.STATES)
def test_every_action_from_every_stage_moves_or_is_refused_in_words(stage, trigger):
    facts = everything_in_order(stage)
    expected = EXPECTED[stage].get(trigger)
    if expected is not None:
        taken = lifecycle.fire(facts, trigger)
        assert (taken.source, taken.dest, taken.trigger) == (stage, expected, trigger)
    else:
        message = refused(facts, trigger)
        assert message.startswith(f"Job {JOB} ")
        assert message.endswith(".")
        assert "Traceback" not in message and "MachineError" not in message
    assert lifecycle.machine().models == []


def test_an_action_that_does_not_exist_is_refused_naming_it():
    message = refused(everything_in_order("new"), "polish")
    assert message == "Job J-0042: there is no action called 'polish'."


def test_a_closed_job_says_nothing_more_can_happen_to_it():
    message = refused(everything_in_order("completed"), "cancel")
    assert message.startswith("Job J-0042 is completed; nothing more can happen to it")


def test_a_step_from_the_wrong_stage_names_the_stage_and_the_step():
    message = refused(everything_in_order("awaiting_approval"), "submit_for_qc")
    assert message == ('Job J-0042 is in Awaiting approval; "Send to quality check" is not a '
                       "step from there.")


# --- guards -----------------------------------------------------------------------------------

@pytest.mark.parametrize("stage", WORKING + ["on_hold"])
@pytest.mark.parametrize("reason", ["", "   "])
def test_a_job_cannot_be_cancelled_without_a_reason(stage, reason):
    message = refused(everything_in_order(stage, reason=reason), "cancel")
    assert message == "Job J-0042 can't be cancelled: a reason is required."


@pytest.mark.parametrize("stage", WORKING + ["on_hold"])
def test_a_job_can_be_cancelled_from_any_open_stage_with_a_reason(stage):
    facts = everything_in_order(stage, reason="Customer changed their mind")
    assert lifecycle.fire(facts, "cancel").dest == "cancelled"


@pytest.mark.parametrize("reason", ["", "  "])
def test_failing_qc_needs_a_reason(reason):
    message = refused(everything_in_order("quality_check", reason=reason), "fail_qc")
    assert message == "Job J-0042 can't go back to the bench: a reason is required."


def test_failing_qc_with_a_reason_sends_the_piece_back_to_the_bench_as_a_rework():
    taken = lifecycle.fire(everything_in_order("quality_check", reason="Prong snags"), "fail_qc")
    assert (taken.dest, taken.effect) == ("in_production", "rework")


def test_a_design_cannot_be_approved_before_any_version_is_attached():
    facts = everything_in_order("awaiting_approval", latest_design_version=None,
                                approved_design_version=None)
    message = refused(facts, "approve")
    assert message.startswith("Job J-0042 can't go to In production: no design version has "
                              "been attached")


def test_a_design_cannot_be_approved_without_the_customers_approval_recorded():
    facts = everything_in_order("awaiting_approval", latest_design_version=1,
                                approved_design_version=None)
    message = refused(facts, "approve")
    assert "approval of design version 1 has not been recorded" in message


def test_approval_of_an_older_design_version_does_not_approve_the_latest_one():
    facts = everything_in_order("awaiting_approval", latest_design_version=2,
                                approved_design_version=1)
    message = refused(facts, "approve")
    assert message.startswith("Job J-0042 can't go to In production:")
    assert "approved design version 1" in message
    assert "version 2 is the latest" in message


def test_approval_of_the_latest_design_version_starts_production():
    facts = everything_in_order("awaiting_approval", latest_design_version=2,
                                approved_design_version=2)
    assert lifecycle.fire(facts, "approve").dest == "in_production"


def test_a_design_cannot_be_sent_for_approval_without_a_version():
    facts = everything_in_order("design_consultation", latest_design_version=None)
    message = refused(facts, "send_for_approval")
    assert message == ("Job J-0042 can't be sent for approval: no design version has been "
                       "attached yet.")
    facts = everything_in_order("design_consultation", latest_design_version=1)
    assert lifecycle.fire(facts, "send_for_approval").dest == "awaiting_approval"


def test_a_piece_cannot_go_to_quality_check_without_a_bench_jeweler():
    message = refused(everything_in_order("in_production", assignee_id=None), "submit_for_qc")
    assert message == ("Job J-0042 can't go to Quality check: no bench jeweler is assigned to "
                       "it.")
    facts = everything_in_order("in_production", assignee_id=BEN)
    assert lifecycle.fire(facts, "submit_for_qc").dest == "quality_check"


def test_a_job_cannot_pass_qc_checked_by_its_own_bench_jeweler():
    facts = everything_in_order("quality_check", last_bench_jeweler_id=BEN, qc_signed_by_id=BEN)
    message = refused(facts, "pass_qc")
    assert message.startswith("Job J-0042 can't go to Ready: the QC checklist was signed by the "
                              "bench jeweler who made the piece")


def test_a_job_cannot_pass_qc_when_the_checklist_failed():
    facts = everything_in_order("quality_check", qc_all_passed=False, qc_signed_by_id=BEA)
    message = refused(facts, "pass_qc")
    assert message.startswith("Job J-0042 can't go to Ready: quality check has not passed")


def test_a_job_cannot_pass_qc_when_nobody_signed_the_checklist():
    facts = everything_in_order("quality_check", qc_all_passed=False, qc_signed_by_id=None)
    assert refused(facts, "pass_qc").startswith(
        "Job J-0042 can't go to Ready: quality check has not passed")


def test_a_job_passes_qc_checked_by_another_bench_jeweler():
    facts = everything_in_order("quality_check", last_bench_jeweler_id=BEN, qc_signed_by_id=BEA)
    assert lifecycle.fire(facts, "pass_qc").dest == "ready"


def test_a_piece_is_not_handed_over_with_an_unpaid_balance():
    facts = everything_in_order("ready", balance_due=Decimal("250.00"))
    message = refused(facts, "hand_over")
    assert message.startswith("Job J-0042 can't be handed over: the balance of USD 250.00 is "
                              "unpaid")


def test_a_manager_can_hand_over_with_a_balance_when_they_give_an_override_reason():
    facts = everything_in_order("ready", balance_due=Decimal("250.00"), actor_is_manager=True,
                                override_reason="Regular customer, pays on Friday")
    assert lifecycle.fire(facts, "hand_over").dest == "completed"


def test_a_manager_cannot_hand_over_with_a_balance_without_an_override_reason():
    facts = everything_in_order("ready", balance_due=Decimal("250.00"), actor_is_manager=True,
                                override_reason="  ")
    assert "is unpaid" in refused(facts, "hand_over")


def test_someone_who_is_not_a_manager_cannot_override_an_unpaid_balance():
    facts = everything_in_order("ready", balance_due=Decimal("250.00"), actor_is_manager=False,
                                override_reason="Regular customer, pays on Friday")
    assert "is unpaid" in refused(facts, "hand_over")


def test_a_paid_piece_is_handed_over_by_anyone():
    facts = everything_in_order("ready", balance_due=Decimal("0.00"))
    assert lifecycle.fire(facts, "hand_over").dest == "completed"


def test_a_job_that_needs_a_design_cannot_go_straight_to_production():
    message = refused(everything_in_order("new", design_needed=True), "start_production")
    assert message == ("Job J-0042 can't go straight to production: this job needs a design; "
                       "start the design consultation first.")


def test_a_job_without_a_design_goes_straight_to_production_from_new():
    assert lifecycle.fire(everything_in_order("new", design_needed=False),
                          "start_production").dest == "in_production"


@pytest.mark.parametrize("stage", ["design_consultation", "awaiting_approval", "quality_check",
                                   "ready"])
def test_start_production_is_only_a_step_from_new(stage):
    message = refused(everything_in_order(stage, design_needed=False), "start_production")
    assert "is not a step from there" in message


@pytest.mark.parametrize("held_from", WORKING)
def test_resume_returns_a_job_to_the_stage_it_was_held_from(held_from):
    facts = everything_in_order("on_hold", held_from=held_from)
    taken = lifecycle.fire(facts, "resume")
    assert (taken.source, taken.dest) == ("on_hold", held_from)


def test_a_job_on_hold_with_no_stage_remembered_cannot_resume():
    assert "is not a step from there" in refused(everything_in_order("on_hold", held_from=None),
                                                 "resume")


@pytest.mark.parametrize("stage", WORKING)
def test_putting_a_job_on_hold_remembers_where_it_was(stage):
    taken = lifecycle.fire(everything_in_order(stage), "hold")
    assert (taken.dest, taken.effect) == ("on_hold", "remember_hold")


def test_a_job_already_on_hold_cannot_be_put_on_hold_again():
    assert "is not a step from there" in refused(everything_in_order("on_hold"), "hold")


def test_refusal_reads_like_the_workshop_talks():
    facts = everything_in_order("quality_check", qc_all_passed=False)
    assert refused(facts, "pass_qc").startswith(
        "Job J-0042 can't go to Ready: quality check has not passed")


def test_firing_does_not_change_the_facts_it_was_given():
    facts = everything_in_order("quality_check")
    before = replace(facts)
    lifecycle.fire(facts, "pass_qc")
    assert facts == before


# --- the board's allowed actions -------------------------------------------------------------

def _variants(stage: str) -> list[JobFacts]:
    """Rows as the board sees them: everything in order, everything missing, and in between."""
    good = everything_in_order(stage)
    bad = everything_in_order(stage, design_needed=True, latest_design_version=None,
                              approved_design_version=None, assignee_id=None,
                              qc_all_passed=False, qc_signed_by_id=None,
                              balance_due=Decimal("80.00"))
    return [
        good,
        bad,
        replace(bad, actor_is_manager=True, override_reason="Known customer"),
        replace(good, approved_design_version=1, qc_signed_by_id=BEN,
                balance_due=Decimal("10.00")),
        replace(good, balance_due=Decimal("10.00"), actor_is_manager=True,
                override_reason="Known customer"),
    ]


@pytest.mark.parametrize("stage", lifecycle.STATES)
def test_the_boards_allowed_actions_agree_with_firing_the_trigger(stage):
    for facts in _variants(stage):
        actions = {t.trigger: (t, blocked)
                   for t, blocked in lifecycle.allowed_actions(stage, facts.held_from, facts)}
        for trigger in lifecycle.TRIGGERS:
            if trigger not in actions:
                with pytest.raises(TransitionRefused):
                    lifecycle.fire(facts, trigger)
                continue
            transition, blocked = actions[trigger]
            if blocked is None:
                assert lifecycle.fire(facts, trigger).dest == transition.dest
            else:
                message = refused(facts, trigger)
                assert blocked in message
    assert lifecycle.machine().models == []


@pytest.mark.parametrize("stage", lifecycle.STATES)
def test_the_board_lists_the_stages_moves_without_facts(stage):
    held_from = "in_production" if stage == "on_hold" else None
    listed = {t.trigger: t.dest for t, blocked in lifecycle.allowed_actions(stage, held_from)}
    assert listed == EXPECTED[stage]
    assert all(blocked is None for _, blocked in lifecycle.allowed_actions(stage, held_from))


def test_the_board_offers_cancel_before_the_reason_is_typed():
    facts = everything_in_order("in_production", reason="")
    actions = {t.trigger: blocked for t, blocked in
               lifecycle.allowed_actions("in_production", None, facts)}
    assert actions["cancel"] is None


def test_the_board_offers_a_manager_the_hand_over_override_before_the_reason_is_typed():
    facts = everything_in_order("ready", balance_due=Decimal("90.00"), actor_is_manager=True)
    actions = {t.trigger: blocked for t, blocked in lifecycle.allowed_actions("ready", None, facts)}
    assert actions["hand_over"] is None
    staff = replace(facts, actor_is_manager=False)
    actions = {t.trigger: blocked for t, blocked in lifecycle.allowed_actions("ready", None, staff)}
    assert "USD 90.00 is unpaid" in actions["hand_over"]


# --- the one shared machine -------------------------------------------------------------------

def test_there_is_one_machine_for_the_process():
    assert lifecycle.machine() is lifecycle.machine()


def test_the_machine_holds_no_jobs_after_a_move():
    lifecycle.fire(everything_in_order("new"), "start_design")
    assert lifecycle.machine().models == []


def test_the_machine_holds_no_jobs_after_a_refusal():
    with pytest.raises(TransitionRefused):
        lifecycle.fire(everything_in_order("quality_check", qc_all_passed=False), "pass_qc")
    with pytest.raises(TransitionRefused):
        lifecycle.fire(everything_in_order("completed"), "hand_over")
    assert lifecycle.machine().models == []


def test_the_machine_holds_no_jobs_after_many_moves():
    for _ in range(200):
        lifecycle.fire(everything_in_order("quality_check"), "pass_qc")
    assert lifecycle.machine().models == []


def test_many_browser_sessions_can_move_jobs_at_once_on_the_one_machine():
    """Streamlit runs each session in its own thread; they all share the one machine."""
    cases = [(stage, trigger, dest) for stage, moves in EXPECTED.items()
             for trigger, dest in moves.items()]
    errors: list[BaseException] = []

    def session(offset: int) -> None:
        try:
            for i in range(150):
                stage, trigger, dest = cases[(offset + i) % len(cases)]
                facts = everything_in_order(stage, job_number=f"J-{offset:02d}{i:02d}")
                assert lifecycle.fire(facts, trigger).dest == dest
                with pytest.raises(TransitionRefused):
                    lifecycle.fire(everything_in_order("completed"), trigger)
        except BaseException as exc:  # reported on the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert lifecycle.machine().models == []


# --- the diagram ------------------------------------------------------------------------------

def test_the_lifecycle_diagram_shows_every_action():
    text = lifecycle.mermaid()
    assert text.startswith("stateDiagram-v2")
    for trigger in lifecycle.TRIGGERS:
        assert trigger in text, trigger


def test_the_lifecycle_diagram_draws_each_main_move():
    lines = lifecycle.mermaid().splitlines()
    for stage, moves in EXPECTED.items():
        for trigger, dest in moves.items():
            if trigger in ("hold", "resume", "cancel"):
                continue
            assert f"    {stage} --> {dest}: {trigger}" in lines
