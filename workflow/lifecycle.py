"""The job lifecycle, defined once as data (GUIDE.md §4).

`TRANSITIONS` is the single source: the shared `transitions.Machine` is built from it, the board's
allowed actions are read from it on row data (no machine per row), and the Mermaid diagram in the
README and the app is generated from it.

Guards are pure functions of `JobFacts`; each has the sentence a person reads when it refuses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from transitions import Machine, MachineError

from workflow.errors import TransitionRefused
from workflow.model import JobFacts

STAGES: dict[str, str] = {
    "new": "New",
    "design_consultation": "Design consultation",
    "awaiting_approval": "Awaiting approval",
    "in_production": "In production",
    "quality_check": "Quality check",
    "ready": "Ready",
    "completed": "Completed",
    "on_hold": "On hold",
    "cancelled": "Cancelled",
}
STATES = list(STAGES)
CLOSED_STATES = ("completed", "cancelled")
OPEN_STATES = tuple(s for s in STATES if s not in CLOSED_STATES)
# The stages a job can be put on hold from, and so resumed to.
WORKING_STATES = tuple(s for s in OPEN_STATES if s != "on_hold")
# Stages the customer hears about (the outbox gets a row when a job enters one).
CUSTOMER_NOTIFIED_STAGES = ("design_consultation", "awaiting_approval", "in_production", "ready",
                            "completed", "cancelled")


@dataclass(frozen=True)
class Guard:
    """A condition on a trigger: `check(facts)` is True when the move may happen."""

    name: str
    check: Callable[[JobFacts], bool]
    refusal: Callable[[JobFacts], str]


def _money(facts: JobFacts) -> str:
    return f"{facts.currency} {facts.balance_due:,.2f}".strip()


def _approval_refusal(f: JobFacts) -> str:
    if f.latest_design_version is None:
        return "no design version has been attached for the customer to approve"
    if f.approved_design_version is None:
        return (f"the customer's approval of design version {f.latest_design_version} "
                "has not been recorded")
    return (f"the customer approved design version {f.approved_design_version}, but version "
            f"{f.latest_design_version} is the latest; record their approval of it")


def _qc_refusal(f: JobFacts) -> str:
    if not f.qc_all_passed:
        return "quality check has not passed (the QC checklist is not complete)"
    return ("the QC checklist was signed by the bench jeweler who made the piece; "
            "someone else must check it")


GUARDS: dict[str, Guard] = {g.name: g for g in [
    Guard("reason_given", lambda f: bool(f.reason.strip()), lambda f: "a reason is required"),
    Guard("no_design_needed", lambda f: not f.design_needed,
          lambda f: "this job needs a design; start the design consultation first"),
    Guard("has_design_version", lambda f: f.latest_design_version is not None,
          lambda f: "no design version has been attached yet"),
    Guard("design_approved",
          lambda f: f.latest_design_version is not None
          and f.approved_design_version == f.latest_design_version,
          _approval_refusal),
    Guard("bench_jeweler_assigned", lambda f: f.assignee_id is not None,
          lambda f: "no bench jeweler is assigned to it"),
    Guard("qc_signed_by_other",
          lambda f: f.qc_all_passed and f.qc_signed_by_id is not None
          and f.qc_signed_by_id != f.last_bench_jeweler_id,
          _qc_refusal),
    Guard("balance_settled",
          lambda f: f.balance_due <= 0 or (f.actor_is_manager and bool(f.override_reason.strip())),
          lambda f: (f"the balance of {_money(f)} is unpaid; take the payment, or a manager "
                     "can hand it over with an override and a reason")),
]}


@dataclass(frozen=True)
class Transition:
    """One move of the lifecycle. `effect` names what the service records besides the state:
    "revision_round", "rework", "remember_hold" or "" (kept as data so services stay generic)."""

    trigger: str
    source: str
    dest: str
    label: str
    guards: tuple[str, ...] = ()
    effect: str = ""
    needs_reason: bool = False
    phrase: str = ""  # "go to Ready" / "be cancelled": the refusal sentence's verb
    resume_to: str | None = None

    @property
    def refusal_phrase(self) -> str:
        return self.phrase or f"go to {STAGES[self.dest]}"


def _build_transitions() -> list[Transition]:
    t = [
        Transition("start_design", "new", "design_consultation", "Start design consultation"),
        Transition("start_production", "new", "in_production", "Start production (no design)",
                   guards=("no_design_needed",), phrase="go straight to production"),
        Transition("send_for_approval", "design_consultation", "awaiting_approval",
                   "Send design for approval", guards=("has_design_version",),
                   phrase="be sent for approval"),
        Transition("approve", "awaiting_approval", "in_production", "Design approved: start work",
                   guards=("design_approved",)),
        Transition("request_changes", "awaiting_approval", "design_consultation",
                   "Customer asked for changes", effect="revision_round",
                   phrase="go back to design"),
        Transition("submit_for_qc", "in_production", "quality_check", "Send to quality check",
                   guards=("bench_jeweler_assigned",)),
        Transition("pass_qc", "quality_check", "ready", "QC passed: ready",
                   guards=("qc_signed_by_other",)),
        Transition("fail_qc", "quality_check", "in_production", "QC failed: back to the bench",
                   guards=("reason_given",), effect="rework", needs_reason=True,
                   phrase="go back to the bench"),
        Transition("hand_over", "ready", "completed", "Hand over to the customer",
                   guards=("balance_settled",), phrase="be handed over"),
    ]
    for s in WORKING_STATES:
        t.append(Transition("hold", s, "on_hold", "Put on hold", effect="remember_hold",
                            phrase="be put on hold"))
        t.append(Transition("resume", "on_hold", s, f"Resume ({STAGES[s]})", resume_to=s,
                            phrase="resume"))
    for s in OPEN_STATES:
        t.append(Transition("cancel", s, "cancelled", "Cancel the job", guards=("reason_given",),
                            needs_reason=True, phrase="be cancelled"))
    return t


TRANSITIONS: list[Transition] = _build_transitions()
TRIGGERS: dict[str, str] = {}
for _t in TRANSITIONS:
    TRIGGERS.setdefault(_t.trigger, _t.label if _t.trigger != "resume" else "Resume")


def transitions_from(state: str, held_from: str | None = None) -> list[Transition]:
    """The moves the lifecycle has from `state`, read from the table (no machine built).

    For `on_hold` only the resume back to `held_from` is listed, plus cancel.
    """
    out = []
    for t in TRANSITIONS:
        if t.source != state:
            continue
        if t.resume_to is not None and t.resume_to != held_from:
            continue
        out.append(t)
    return out


def find_transition(state: str, trigger: str, held_from: str | None = None) -> Transition | None:
    for t in transitions_from(state, held_from):
        if t.trigger == trigger:
            return t
    return None


def failed_guards(transition: Transition, facts: JobFacts) -> list[str]:
    """The refusal sentences of the guards of `transition` that `facts` do not satisfy."""
    return [GUARDS[g].refusal(facts) for g in transition.guards if not GUARDS[g].check(facts)]


def allowed_actions(state: str, held_from: str | None = None,
                    facts: JobFacts | None = None) -> list[tuple[Transition, str | None]]:
    """For a job row: each move from its stage, with None when allowed or the first refusal.

    Without `facts`, only the stage is considered (what the board shows for thousands of rows).
    Guards that need a typed reason are not held against the move here: the person types it.
    """
    result = []
    for t in transitions_from(state, held_from):
        blocked = None
        if facts is not None:
            probe = facts
            if t.needs_reason and not facts.reason.strip():
                probe = JobFacts(**{**facts.__dict__, "reason": "(to be typed)"})
            if t.trigger == "hand_over" and facts.actor_is_manager:
                probe = JobFacts(**{**probe.__dict__, "override_reason": "(to be typed)"})
            fails = failed_guards(t, probe)
            blocked = fails[0] if fails else None
        result.append((t, blocked))
    return result


# --- the shared machine ----------------------------------------------------------------------

class _JobModel:
    """What is bound to the shared machine for one trigger: the job's state and its facts."""

    def __init__(self, facts: JobFacts):
        self.facts = facts
        self.state = facts.state


def _condition(name: str):
    return lambda event: GUARDS[name].check(event.model.facts)


def _resume_condition(dest: str):
    return lambda event: event.model.facts.held_from == dest


def build_machine() -> Machine:
    """Build the lifecycle machine from `TRANSITIONS`: no models, no auto transitions."""
    machine = Machine(model=None, states=STATES, initial=None, auto_transitions=False,
                      send_event=True, ignore_invalid_triggers=False)
    for t in TRANSITIONS:
        conditions = [_condition(g) for g in t.guards]
        if t.resume_to is not None:
            conditions.append(_resume_condition(t.resume_to))
        machine.add_transition(t.trigger, t.source, t.dest, conditions=conditions)
    return machine


_MACHINE: Machine | None = None
_MACHINE_LOCK = threading.Lock()


def machine() -> Machine:
    """The one machine of the process, built on first use."""
    global _MACHINE
    with _MACHINE_LOCK:
        if _MACHINE is None:
            _MACHINE = build_machine()
        return _MACHINE


def fire(facts: JobFacts, trigger: str) -> Transition:
    """Run `trigger` on a job described by `facts` and return the transition taken.

    Raises `TransitionRefused` with a sentence a person understands when the stage has no such
    move or a guard refuses. Binds the job to the shared machine only for this call.
    """
    transition = find_transition(facts.state, trigger, facts.held_from)
    if transition is None:
        raise TransitionRefused(facts.job_number, refusal_for_missing(facts, trigger))
    fails = failed_guards(transition, facts)
    if fails:
        raise TransitionRefused(
            facts.job_number,
            f"Job {facts.job_number} can't {transition.refusal_phrase}: {fails[0]}.")
    model = _JobModel(facts)
    m = machine()
    with _MACHINE_LOCK:  # add_model/remove_model mutate the machine's model list
        m.add_model(model, initial=facts.state)
    try:
        try:
            moved = getattr(model, trigger)()
        except MachineError as exc:  # should not happen: the table was checked above
            raise TransitionRefused(facts.job_number, str(exc)) from exc
        if not moved or model.state != transition.dest:
            raise TransitionRefused(
                facts.job_number,
                f"Job {facts.job_number} can't {transition.refusal_phrase} right now.")
    finally:
        with _MACHINE_LOCK:
            m.remove_model(model)
    return transition


def refusal_for_missing(facts: JobFacts, trigger: str) -> str:
    stage = STAGES.get(facts.state, facts.state)
    action = TRIGGERS.get(trigger)
    if action is None:
        return f"Job {facts.job_number}: there is no action called {trigger!r}."
    if facts.state in CLOSED_STATES:
        return (f"Job {facts.job_number} is {stage.lower()}; "
                f"nothing more can happen to it (tried: {action.lower()}).")
    return (f"Job {facts.job_number} is in {stage}; "
            f"\"{action}\" is not a step from there.")


def mermaid() -> str:
    """The lifecycle as a Mermaid state diagram, generated from `TRANSITIONS`.

    Hold/resume and cancel are drawn once each (from "any open stage") to keep it readable.
    """
    lines = ["stateDiagram-v2", "    [*] --> new"]
    for t in TRANSITIONS:
        if t.trigger in ("hold", "resume", "cancel"):
            continue
        lines.append(f"    {t.source} --> {t.dest}: {t.trigger}")
    lines.append("    state \"any open stage\" as open_stage")
    lines.append("    open_stage --> on_hold: hold")
    lines.append("    on_hold --> open_stage: resume (to where it was)")
    lines.append("    open_stage --> cancelled: cancel (reason)")
    lines.append("    completed --> [*]")
    lines.append("    cancelled --> [*]")
    return "\n".join(lines)


def graphviz_dot() -> str:
    """The lifecycle as Graphviz DOT (drawn on the Staff and workflow page), from
    `TRANSITIONS`; hold/resume and cancel are drawn once each, from "any open stage"."""
    lines = ["digraph lifecycle {", "  rankdir=LR;",
             '  node [shape=box, style="rounded,filled", fillcolor="#f7f3ea", fontname=Helvetica];',
             "  edge [fontname=Helvetica, fontsize=10];"]
    for state, label in STAGES.items():
        lines.append(f'  {state} [label="{label}"];')
    lines.append('  open_stage [label="any open stage", style="dashed,rounded"];')
    for t in TRANSITIONS:
        if t.trigger in ("hold", "resume", "cancel"):
            continue
        lines.append(f'  {t.source} -> {t.dest} [label="{t.label}"];')
    lines += ['  open_stage -> on_hold [label="Put on hold"];',
              '  on_hold -> open_stage [label="Resume (where it was)"];',
              '  open_stage -> cancelled [label="Cancel (reason)"];', "}"]
    return "\n".join(lines)


if __name__ == "__main__":  # `python -m workflow.lifecycle` prints the diagram for the README
    print(mermaid())
