"""Inventory use cases: receive, plan for a job, reserve, issue, return, finish production,
move, adjust, give back, count; and the hook that ties stock to a job's stage changes.

Each service takes a `UnitOfWork` and plain arguments, runs in one transaction, appends an
audit row, and returns plain values. A refused move raises `StockRefused` (an `InvalidInput`)
with a sentence a person understands ("Stone S-0012 is already reserved for job J-0040.");
unknown items, jobs and counts raise `NotFound`.

Items are named by their code (what the label's QR code and the scanner give: "S-0012") or by
their id; locations by their code ("SAFE", "SHOWCASE", "BENCH-3", "VENDOR-1"). Quantities are
in the item's unit (pieces, or grams to 0.001 g) and may be given as text or Decimal.

`on_stage_change` runs inside `workflow.services._apply_stage_change`, in the stage change's
own transaction: starting production (approve, start_production) reserves and issues the
job's planned materials; sending to QC is refused while metal is at the bench without a
finished weight; handing over puts what is still issued into the piece and releases the rest;
cancelling releases what was reserved and returns what was issued to the safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from storage import inventory_queries as invq
from storage import inventory_repository as irepo
from storage import queries
from storage import repositories as repo
from storage.unit_of_work import UnitOfWork
from workflow import lifecycle
from workflow.errors import InvalidInput, NotFound
from workflow.inventory import (
    DEFAULT_BENCH,
    DEFAULT_STOCK_LOCATION,
    UNITS,
    ZERO,
    Category,
    ItemState,
    JobRef,
    LocationKind,
    Move,
    MoveKind,
    NewItem,
    Ownership,
    StockRefused,
    adjust_moves,
    apply,
    check_new_item,
    check_state,
    check_usable_for,
    consume_moves,
    count_matches,
    give_back_moves,
    issue_moves,
    loss_moves,
    metal_loss,
    parse_code,
    parse_quantity,
    receive_moves,
    release_moves,
    reserve_moves,
    return_moves,
    transfer_moves,
    weighted_cost,
)
from workflow.model import Actor
from workflow.numbers import parse_decimal

PRODUCTION_START = ("approve", "start_production")
HOOKED_TRIGGERS = (*PRODUCTION_START, "submit_for_qc", "hand_over", "cancel")
# Stages in which materials may be issued to the bench by hand.
ISSUE_STAGES = ("in_production",)


def _now() -> datetime:
    return datetime.now(UTC)


# --- helpers ---------------------------------------------------------------------------------

def _item(con, item: str | int) -> dict:
    """The item row for a code ("S-0012", as scanned) or an id; raises `NotFound`."""
    if isinstance(item, int):
        row = irepo.item_row(con, item)
        if row is None:
            raise NotFound(f"There is no item with id {item}.")
        return row
    code = parse_code(str(item))
    if code is None:
        raise InvalidInput(f"{str(item).strip()!r} is not an item code such as S-0012.")
    row = irepo.item_by_code(con, code)
    if row is None:
        raise NotFound(f"There is no item {code}; check the label.")
    return row


def _state(con, item_id: int) -> ItemState:
    return irepo.load_states(con, [item_id])[item_id]


def _location(con, code: str | None, *, stock: bool = False) -> dict:
    code = (code or DEFAULT_STOCK_LOCATION).strip()
    row = irepo.location_by_code(con, code)
    if row is None:
        raise NotFound(f"There is no location {code}.")
    if stock and row["kind"] not in (LocationKind.SAFE, LocationKind.SHOWCASE):
        raise InvalidInput(f"{row['name']} is not a stock location (the safe or the showcase); "
                           "stock goes to benches and vendors by issuing it to a job.")
    return row


def _job(con, job_id: int) -> tuple[dict, JobRef]:
    row = repo.get_job(con, job_id)
    return row, JobRef(row["id"], row["job_number"])


def _summary(moves: list[Move], states: Mapping[int, ItemState]) -> list[dict]:
    """Moves as the audit log keeps them: item code, kind and the non-zero changes."""
    out = []
    for m in moves:
        entry: dict[str, Any] = {"item": states[m.item_id].code if m.item_id in states
                                 else m.item_id, "kind": str(m.kind)}
        for name in ("on_hand", "reserved", "issued"):
            if getattr(m, name):
                entry[name] = str(getattr(m, name))
        if m.job_id is not None:
            entry["job_id"] = m.job_id
        out.append(entry)
    return out


def _post(con, moves: list[Move], states: Mapping[int, ItemState], actor: Actor,
          at: datetime, *, action: str, entity: str, entity_id: int,
          extra: dict | None = None) -> int:
    """Check the end state of every item touched, append the moves and one audit row."""
    if not moves:
        return 0
    for item_id in {m.item_id for m in moves}:
        check_state(apply(states[item_id], moves))
    n = irepo.post_moves(con, moves, actor.name, at, states)
    repo.append_audit(con, actor=actor.name, action=action, entity=entity, entity_id=entity_id,
                      before=None, after={**(extra or {}), "moves": _summary(moves, states)},
                      at=at)
    return n


def _decimal(value, what: str) -> Decimal | None:
    return parse_decimal(value, what)  # one reading of typed numbers: workflow.numbers


def _money(value, what: str) -> Decimal | None:
    out = _decimal(value, what)
    if out is None:
        return None
    if out < 0:
        raise InvalidInput(f"{what} can't be negative.")
    return out.quantize(Decimal("0.01"))


def _lower_first(sentence: str) -> str:
    if len(sentence) > 1 and sentence[0].isupper() and sentence[1].islower():
        return sentence[0].lower() + sentence[1:]
    return sentence


# --- locations -------------------------------------------------------------------------------

def add_location(uow: UnitOfWork, name: str, kind: str, actor: Actor, *,
                 now: datetime | None = None) -> str:
    """Add an outside vendor (caster, setter, engraver) or another showcase; returns its code
    ("VENDOR-1"). Benches are made on first use for each bench jeweler. Raises `InvalidInput`."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("Give the location a name (e.g. 'Caster: Acme Casting').")
    if kind not in (LocationKind.VENDOR, LocationKind.SHOWCASE):
        raise InvalidInput("New locations are outside vendors or showcases.")
    at = now or _now()
    with uow:
        con = uow.con
        if con.execute("SELECT 1 FROM inventory_locations WHERE lower(name) = lower(?)",
                       [name]).fetchone():
            raise InvalidInput(f"There is already a location called {name}.")
        if kind == LocationKind.VENDOR:
            code = irepo.next_vendor_code(con)
        else:
            n = con.execute("SELECT count(*) FROM inventory_locations WHERE kind = 'showcase'"
                            ).fetchone()[0]
            code = f"SHOWCASE-{int(n) + 1}"
        loc_id = irepo.insert_location(con, code=code, name=name, kind=kind, at=at)
        repo.append_audit(con, actor=actor.name, action="inventory.location_add",
                          entity="inventory_location", entity_id=loc_id, before=None,
                          after={"code": code, "name": name, "kind": kind}, at=at)
        uow.commit()
    return code


# --- receiving -------------------------------------------------------------------------------

def add_item(uow: UnitOfWork, actor: Actor, item: NewItem, *, quantity: Any = 0,
             location: str = DEFAULT_STOCK_LOCATION, now: datetime | None = None) -> dict:
    """Add a new item to the books and receive `quantity` of it into a stock location.

    A stone is always one piece (quantity 1). A melee parcel's `item.carat` is its total carat
    weight for `quantity` pieces. Unit cost is per piece, or per gram of metal; currency is the
    shop's unless given. Returns {"id", "code", "description"}. Raises `InvalidInput` for a
    missing or bad field (naming it), a certificate already on another stone.
    """
    spec = check_new_item(item)
    if spec.ownership == Ownership.CUSTOMER:
        raise InvalidInput("A customer's stone is taken in on its job's page.")
    category = spec.category
    if category == Category.STONE:
        qty = Decimal(1)
    else:
        qty = parse_quantity(quantity, category, allow_zero=True)
    at = now or _now()
    with uow:
        con = uow.con
        fields = _item_fields(con, spec, qty)
        loc = _location(con, location, stock=True)
        item_id, code = irepo.insert_item(con, fields, at)
        state = _state(con, item_id)
        moves = receive_moves(state, qty, loc["id"], unit_cost=fields["unit_cost"],
                              reason="received") if qty > 0 else []
        repo.append_audit(con, actor=actor.name, action="inventory.item_add",
                          entity="inventory_item", entity_id=item_id, before=None,
                          after={"code": code, **{k: v for k, v in fields.items()
                                                  if v not in (None, "")}}, at=at)
        _post(con, moves, {item_id: state}, actor, at, action="inventory.receive",
              entity="inventory_item", entity_id=item_id)
        uow.commit()
    return {"id": item_id, "code": code, "description": fields["description"]}


def _item_fields(con, spec: NewItem, qty: Decimal) -> dict:
    if spec.category == Category.STONE and spec.cert_number:
        taken = irepo.stone_with_certificate(con, spec.cert_lab, spec.cert_number)
        if taken:
            raise InvalidInput(f"{spec.cert_lab} report {spec.cert_number} is already on stone "
                               f"{taken}.")
    currency = (spec.currency or queries.setting(con, "currency")).strip().upper()
    return {
        "category": spec.category, "description": spec.description,
        "unit": UNITS[Category(spec.category)],
        "species": spec.species.strip() or None, "origin": spec.origin or None,
        "shape": spec.shape.strip() or None, "carat": spec.carat,
        "pieces_received": int(qty) if spec.category == Category.MELEE else None,
        "colour": spec.colour.strip() or None, "clarity": spec.clarity.strip() or None,
        "cut": spec.cut.strip() or None, "measurements": spec.measurements.strip() or None,
        "cert_lab": spec.cert_lab or None, "cert_number": spec.cert_number or None,
        "alloy": spec.alloy or None, "fineness": spec.fineness,
        "reorder_point": spec.reorder_point,
        "unit_cost": _money(spec.unit_cost, "The cost"), "currency": currency,
        "supplier": spec.supplier.strip() or None, "ownership": spec.ownership,
        "memo_dealer": spec.memo_dealer.strip() or None, "memo_date": spec.memo_date,
        "memo_due_date": spec.memo_due_date, "notes": spec.notes.strip() or None,
    }


def receive_stock(uow: UnitOfWork, item: str | int, quantity: Any, actor: Actor, *,
                  location: str = DEFAULT_STOCK_LOCATION, unit_cost: Any = None,
                  carats: Any = None, reason: str = "", now: datetime | None = None) -> Decimal:
    """Receive more of an existing metal, parcel or finding into a stock location.

    `unit_cost` (per piece or gram) is averaged into the item's cost; `carats` is the total
    carat weight of melee received. Returns the item's new on-hand quantity. Raises
    `StockRefused` for a stone (a stone is received once, when it is added), `InvalidInput`.
    """
    at = now or _now()
    with uow:
        con = uow.con
        row = _item(con, item)
        if row["category"] == Category.STONE:
            raise StockRefused(f"Stone {row['code']} is a single stone; it was received when it "
                               "was added.")
        qty = parse_quantity(quantity, row["category"])
        loc = _location(con, location, stock=True)
        state = _state(con, row["id"])
        cost = _money(unit_cost, "The cost")
        changes: dict[str, Any] = {}
        new_cost = weighted_cost(state.on_hand + state.issued, row["unit_cost"], qty, cost)
        if new_cost != row["unit_cost"]:
            changes["unit_cost"] = new_cost
        if row["category"] == Category.MELEE:
            ct = _decimal(carats, "The carat weight")
            if ct is None or ct <= 0:
                raise InvalidInput("Give the total carat weight of the melee received.")
            changes["carat"] = (row["carat"] or ZERO) + ct.quantize(Decimal("0.001"))
            changes["pieces_received"] = (row["pieces_received"] or 0) + int(qty)
        if changes:
            irepo.update_item(con, row["id"], changes, at)
        moves = receive_moves(state, qty, loc["id"], unit_cost=cost,
                              reason=reason.strip() or "received")
        _post(con, moves, {row["id"]: state}, actor, at, action="inventory.receive",
              entity="inventory_item", entity_id=row["id"],
              extra={k: str(v) for k, v in changes.items()})
        uow.commit()
    return state.on_hand + qty


def take_in_customer_stone(uow: UnitOfWork, job_id: int, actor: Actor, stone: NewItem, *,
                           declared_value: Any = None, condition: str = "",
                           location: str = DEFAULT_STOCK_LOCATION,
                           now: datetime | None = None) -> str:
    """Take in a customer's own stone for their job: it is recorded against the customer with
    its condition at intake, planned for the job and reserved for it at once. It is never shop
    stock (no value at cost, not available to other jobs) and leaves with the finished piece.
    Returns the stone's code. Raises `InvalidInput` (no condition notes, a closed job).
    """
    if not (condition or "").strip():
        raise InvalidInput("Write down the stone's condition at intake (chips, abrasions, "
                           "'no visible damage').")
    spec = check_new_item(NewItem(**{**stone.__dict__, "category": Category.STONE,
                                     "ownership": Ownership.CUSTOMER}))
    at = now or _now()
    with uow:
        con = uow.con
        row, job = _job(con, job_id)
        if row["state"] in lifecycle.CLOSED_STATES:
            raise InvalidInput(f"Job {job.number} is {row['state']}; take the stone in on an "
                               "open job.")
        fields = _item_fields(con, spec, Decimal(1))
        fields.update(customer_id=row["customer_id"], owner_job_id=job.id,
                      declared_value=_money(declared_value, "The declared value"),
                      intake_condition=condition.strip(), unit_cost=None)
        loc = _location(con, location, stock=True)
        item_id, code = irepo.insert_item(con, fields, at)
        state = _state(con, item_id)
        state.job_numbers[job.id] = job.number
        irepo.insert_plan_line(con, job_id=job.id, item_id=item_id, quantity=Decimal(1),
                               note="customer's stone", actor=actor.name, at=at)
        moves = receive_moves(state, Decimal(1), loc["id"], reason="customer's stone taken in")
        moves += reserve_moves(apply(state, moves), job, Decimal(1))
        repo.append_audit(con, actor=actor.name, action="inventory.customer_stone_in",
                          entity="job", entity_id=job.id, before=None,
                          after={"code": code, "description": fields["description"],
                                 "declared_value": fields["declared_value"],
                                 "condition": fields["intake_condition"]}, at=at)
        _post(con, moves, {item_id: state}, actor, at, action="inventory.receive",
              entity="job", entity_id=job.id)
        uow.commit()
    return code


# --- a job's planned materials ---------------------------------------------------------------

def plan_material(uow: UnitOfWork, job_id: int, item: str | int, quantity: Any, actor: Actor,
                  *, note: str = "", now: datetime | None = None) -> int:
    """Put an item on a job's planned materials (or change its planned quantity): a stone by
    its code (one piece), metal in grams, melee and findings in pieces. Nothing is held yet:
    the plan is reserved on approval and issued at production start. Returns the plan line id.
    Raises `StockRefused` (a stone another job holds, a customer's stone of another job, a
    stone no longer here), `InvalidInput`, `NotFound`.
    """
    at = now or _now()
    with uow:
        con = uow.con
        row, job = _job(con, job_id)
        if row["state"] in lifecycle.CLOSED_STATES:
            raise InvalidInput(f"Job {job.number} is {row['state']}; its materials are closed.")
        it = _item(con, item)
        qty = Decimal(1) if it["category"] == Category.STONE else \
            parse_quantity(quantity, it["category"])
        state = _state(con, it["id"])
        check_usable_for(state, job)
        if state.serialized and state.on_hand + state.issued == 0:
            raise StockRefused(f"{state.name} is not in stock.")
        line = irepo.plan_line(con, job.id, it["id"])
        reserved, issued = state.held_for(job.id)
        if line is None:
            line_id = irepo.insert_plan_line(con, job_id=job.id, item_id=it["id"], quantity=qty,
                                             note=note.strip() or None, actor=actor.name, at=at)
            before = None
        else:
            if qty < reserved + issued:
                raise StockRefused(f"Job {job.number} already holds {state.q(reserved + issued)} "
                                   f"of {state.name}; release or return some first.")
            irepo.update_plan_line(con, line["id"], qty, note.strip() or line["note"])
            line_id, before = line["id"], {"quantity": str(line["quantity"])}
        irepo.ensure_job_row(con, job.id, it["id"])
        repo.append_audit(con, actor=actor.name, action="inventory.plan", entity="job",
                          entity_id=job.id, before=before,
                          after={"item": it["code"], "quantity": str(qty)}, at=at)
        uow.commit()
    return line_id


def remove_material(uow: UnitOfWork, job_id: int, item: str | int, actor: Actor, *,
                    now: datetime | None = None) -> None:
    """Take an item off a job's plan, releasing what the job reserved of it. Refused while
    any of it is at the bench (return it first)."""
    at = now or _now()
    with uow:
        con = uow.con
        _, job = _job(con, job_id)
        it = _item(con, item)
        line = irepo.plan_line(con, job.id, it["id"])
        state = _state(con, it["id"])
        _, issued = state.held_for(job.id)
        if issued > 0:
            raise StockRefused(f"{state.q(issued)} of {state.name} is at the bench for job "
                               f"{job.number}; return it first.")
        if line is None and not state.holders.get(job.id):
            raise NotFound(f"{state.name} is not among job {job.number}'s materials.")
        if state.ownership == Ownership.CUSTOMER and state.owner_job_id == job.id:
            raise StockRefused(f"{state.name} is the customer's own stone for this job; give it "
                               "back to the customer from its page instead.")
        moves = release_moves(state, job, reason="taken off the plan")
        if line is not None:
            irepo.delete_plan_line(con, line["id"])
        repo.append_audit(con, actor=actor.name, action="inventory.unplan", entity="job",
                          entity_id=job.id,
                          before={"item": it["code"],
                                  "quantity": str(line["quantity"]) if line else None},
                          after=None, at=at)
        _post(con, moves, {it["id"]: state}, actor, at, action="inventory.release",
              entity="job", entity_id=job.id)
        irepo.drop_empty_job_row(con, job.id, it["id"])
        uow.commit()


def _reserve_plan(job: JobRef, plan: list[dict], states: dict[int, ItemState],
                  *, issue_to: int | None) -> list[Move]:
    """Moves that reserve the unreserved part of each planned line and, with `issue_to`, issue
    each line's not-yet-issued part to that bench. `states` is updated as moves are made."""
    moves: list[Move] = []
    for line in plan:
        item = states[line["item_id"]]
        planned = Decimal(line["quantity"])
        reserved, issued = item.held_for(job.id)
        step = reserve_moves(item, job, max(ZERO, planned - reserved - issued))
        item = apply(item, step)
        if issue_to is not None:
            more = issue_moves(item, job, max(ZERO, planned - issued), issue_to,
                               reason="production start")
            item = apply(item, more)
            step += more
        check_state(item)
        states[item.id] = item
        moves += step
    return moves


def reserve_materials(uow: UnitOfWork, job_id: int, actor: Actor, *,
                      now: datetime | None = None) -> int:
    """Reserve a job's planned materials now (before approval, by hand): what is not reserved
    or issued yet. Returns the number of ledger rows written (0: nothing to do). Raises
    `StockRefused` naming the first item short, in which case nothing is reserved."""
    at = now or _now()
    with uow:
        con = uow.con
        row, job = _job(con, job_id)
        if row["state"] in lifecycle.CLOSED_STATES:
            raise InvalidInput(f"Job {job.number} is {row['state']}.")
        plan, states, _ = irepo.job_context(con, job.id)
        original = dict(states)
        moves = _reserve_plan(job, plan, states, issue_to=None)
        n = _post(con, moves, original, actor, at, action="inventory.reserve", entity="job",
                  entity_id=job.id)
        uow.commit()
    return n


def release_materials(uow: UnitOfWork, job_id: int, actor: Actor, *,
                      now: datetime | None = None) -> int:
    """Release everything a job has reserved (the plan stays). Returns the rows written."""
    at = now or _now()
    with uow:
        con = uow.con
        _, job = _job(con, job_id)
        _, states, _ = irepo.job_context(con, job.id)
        moves = [m for s in states.values() for m in release_moves(s, job, reason="released")]
        n = _post(con, moves, states, actor, at, action="inventory.release", entity="job",
                  entity_id=job.id)
        uow.commit()
    return n


def issue_to_job(uow: UnitOfWork, job_id: int, item: str | int, quantity: Any, actor: Actor,
                 *, to_location: str | None = None, now: datetime | None = None) -> Decimal:
    """Issue more of an item to a job in production (extra metal weighed out, a stone sent to
    the setter): from what the job reserved first, then from available stock. Goes to the
    assignee's bench unless `to_location` names a bench or vendor. Returns what the job now
    has at the bench. Raises `StockRefused`, `InvalidInput` (job not in production)."""
    at = now or _now()
    with uow:
        con = uow.con
        row, job = _job(con, job_id)
        if row["state"] not in ISSUE_STAGES:
            raise InvalidInput(f"Job {job.number} is not in production; materials are issued "
                               "to the bench while it is.")
        it = _item(con, item)
        qty = parse_quantity(quantity, it["category"])
        if to_location:
            dest = _location(con, to_location)
            if dest["kind"] not in (LocationKind.BENCH, LocationKind.VENDOR):
                raise InvalidInput(f"{dest['name']} is not a bench or an outside vendor.")
            dest_id = dest["id"]
        else:
            dest_id = _bench_for(con, row, None, at)
        state = _state(con, it["id"])
        state.job_numbers.setdefault(job.id, job.number)
        moves = issue_moves(state, job, qty, dest_id, reason="issued by hand")
        _post(con, moves, {it["id"]: state}, actor, at, action="inventory.issue", entity="job",
              entity_id=job.id)
        uow.commit()
    return apply(state, moves).held_for(job.id)[1]


def _bench_code(job_row: dict) -> str:
    assignee = job_row.get("assignee_id")
    return DEFAULT_BENCH if assignee is None else f"BENCH-{assignee}"


def _bench_for(con, job_row: dict, known_id: int | None, at: datetime) -> int:
    """The location id of the job's bench: its assignee's (made on first use) or the shared
    one. `known_id` is the id already read with the job's context, if any."""
    if known_id is not None:
        return known_id
    assignee = job_row.get("assignee_id")
    name = None
    if assignee is not None:
        member = repo.staff_member(con, assignee)
        name = member["name"] if member else None
    return irepo.bench_of(con, assignee, name, at)


def return_from_job(uow: UnitOfWork, job_id: int, item: str | int, quantity: Any,
                    actor: Actor, *, location: str = DEFAULT_STOCK_LOCATION, reason: str = "",
                    now: datetime | None = None) -> Decimal:
    """Return stock from a job's bench to a stock location (a stone not used, scrap metal during
    the work). Returns what the job still has at the bench. Raises `StockRefused` for more than
    the job has there."""
    at = now or _now()
    with uow:
        con = uow.con
        _, job = _job(con, job_id)
        it = _item(con, item)
        qty = parse_quantity(quantity, it["category"])
        loc = _location(con, location, stock=True)
        state = _state(con, it["id"])
        moves = return_moves(state, job, qty, loc["id"], reason=reason.strip() or "returned")
        _post(con, moves, {it["id"]: state}, actor, at, action="inventory.return",
              entity="job", entity_id=job.id)
        uow.commit()
    return apply(state, moves).held_for(job.id)[1]


def finish_production(uow: UnitOfWork, job_id: int, actor: Actor,
                      metals: Mapping[str | int, tuple[Any, Any]], *,
                      now: datetime | None = None) -> list[dict]:
    """The bench jeweler's metal check-in at the end of production.

    `metals` maps each metal the job was issued (code or id) to (metal in the finished piece
    in g, metal returned now in g: scrap, filings, sprues). For each, the returns go back to
    the safe, the piece's metal is consumed, and what is left is posted as metal loss:

        loss = issued - (finished metal + all metal returned), as % of issued

    against the shop's norm (setting `metal_loss_norm_pct`). On a rework the finished weight is
    the whole piece again; only the difference is consumed. Stones, melee and findings still at
    the bench go into the piece. Returns one dict per metal: code, description, issued_g,
    finished_g, returned_g, loss_g, loss_pct, norm_pct, over_norm. Raises `InvalidInput` (job
    not in production, a metal at the bench left out), `StockRefused` (weights above what was
    issued).
    """
    at = now or _now()
    with uow:
        con = uow.con
        row, job = _job(con, job_id)
        if row["state"] != "in_production":
            raise InvalidInput(f"Job {job.number} is not in production.")
        given: dict[int, tuple[Decimal, Decimal]] = {}
        for ref, (finished, returned) in metals.items():
            it = _item(con, ref)
            if it["category"] != Category.METAL:
                raise InvalidInput(f"{it['code']} is not metal.")
            given[it["id"]] = (parse_quantity(finished, Category.METAL, "The finished weight",
                                              allow_zero=True),
                               parse_quantity(returned or "0", Category.METAL,
                                              "The metal returned", allow_zero=True))
        _, states, _ = irepo.job_context(con, job.id)
        missing = set(given) - set(states)
        if missing:
            states.update(irepo.load_states(con, missing))
        original = dict(states)
        norm = Decimal(invq.inventory_setting(con, "metal_loss_norm_pct"))
        moves: list[Move] = []
        results = []
        for item in sorted(states.values(), key=lambda s: s.code):
            _, at_bench = item.held_for(job.id)
            if item.category == Category.METAL:
                if item.id not in given:
                    if at_bench > 0:
                        raise InvalidInput(f"Give the finished and returned weight of "
                                           f"{item.name}: {item.q(at_bench)} is at the bench.")
                    continue
                totals = irepo.job_metal_totals(con, job.id, item.id)
                if totals["issued"] == 0:
                    raise InvalidInput(f"{item.name} was never issued to job {job.number}.")
                finished, returned = given[item.id]
                into_piece = finished - totals["consumed"]
                if into_piece + returned > at_bench:
                    raise StockRefused(
                        f"The finished piece ({finished} g of {item.description}) and the metal "
                        f"returned ({returned} g) weigh more than job {job.number} had: "
                        f"{item.q(at_bench)} at the bench plus {totals['consumed']} g already in "
                        "the piece. Check the weights, or issue the extra metal first.")
                account = metal_loss(totals["issued"], finished, totals["returned"] + returned,
                                     norm)
                step = return_moves(item, job, returned,
                                    _location(con, DEFAULT_STOCK_LOCATION)["id"],
                                    reason="returned at the end of production")
                item = apply(item, step)
                more = consume_moves(item, job, into_piece, reason="metal in the finished piece")
                item = apply(item, more)
                step += more
                step += loss_moves(item, job, item.held_for(job.id)[1],
                                   reason=f"metal loss {account.loss_pct}%")
                moves += step
                irepo.insert_metal_result(
                    con, job_id=job.id, item_id=item.id, issued_g=account.issued_g,
                    finished_g=account.finished_g, returned_g=account.returned_g,
                    loss_g=account.loss_g, loss_pct=account.loss_pct, norm_pct=norm,
                    actor=actor.name, at=at)
                results.append({"code": item.code, "description": item.description,
                                "issued_g": account.issued_g, "finished_g": account.finished_g,
                                "returned_g": account.returned_g, "loss_g": account.loss_g,
                                "loss_pct": account.loss_pct, "norm_pct": norm,
                                "over_norm": account.over_norm})
            elif at_bench > 0:
                moves += consume_moves(item, job, at_bench, reason="set in the finished piece")
        _post(con, moves, original, actor, at, action="inventory.finish_production",
              entity="job", entity_id=job.id,
              extra={"metal": [{k: str(v) for k, v in r.items()} for r in results]})
        uow.commit()
    return results


# --- moves in the shop -----------------------------------------------------------------------

def transfer_stock(uow: UnitOfWork, item: str | int, quantity: Any, from_location: str,
                   to_location: str, actor: Actor, *, now: datetime | None = None) -> None:
    """Move stock between stock locations (safe, showcase). Raises `StockRefused` for more
    than is at `from_location`."""
    at = now or _now()
    with uow:
        con = uow.con
        it = _item(con, item)
        qty = Decimal(1) if it["category"] == Category.STONE and not quantity else \
            parse_quantity(quantity, it["category"])
        src = _location(con, from_location, stock=True)
        dst = _location(con, to_location, stock=True)
        state = _state(con, it["id"])
        moves = transfer_moves(state, qty, src["id"], dst["id"],
                               reason=f"{src['name']} → {dst['name']}")
        _post(con, moves, {it["id"]: state}, actor, at, action="inventory.transfer",
              entity="inventory_item", entity_id=it["id"])
        uow.commit()


def adjust_stock(uow: UnitOfWork, item: str | int, change: Any, reason: str, actor: Actor, *,
                 location: str = DEFAULT_STOCK_LOCATION, now: datetime | None = None) -> Decimal:
    """Correct what is on hand at a stock location by a signed `change` ("-0.250", "+2"), with
    a reason (required; to be limited to managers later). Returns the new on-hand total.
    Raises `StockRefused` (below zero, below what is reserved, a stone twice)."""
    at = now or _now()
    with uow:
        con = uow.con
        it = _item(con, item)
        delta = parse_quantity(change, it["category"], "The change", signed=True)
        loc = _location(con, location, stock=True)
        state = _state(con, it["id"])
        moves = adjust_moves(state, delta, loc["id"], reason)
        _post(con, moves, {it["id"]: state}, actor, at, action="inventory.adjust",
              entity="inventory_item", entity_id=it["id"], extra={"reason": reason.strip()})
        uow.commit()
    return state.on_hand + delta


def give_back(uow: UnitOfWork, item: str | int, actor: Actor, *, reason: str = "",
              now: datetime | None = None) -> None:
    """A memo stone back to its dealer, or a customer's stone back to the customer (a cancelled
    job). Raises `StockRefused` for the shop's own stock or a stone a job still holds."""
    at = now or _now()
    with uow:
        con = uow.con
        it = _item(con, item)
        state = _state(con, it["id"])
        default = "back to the dealer" if it["ownership"] == Ownership.MEMO else \
            "back to the customer"
        moves = give_back_moves(state, reason or default)
        _post(con, moves, {it["id"]: state}, actor, at, action="inventory.give_back",
              entity="inventory_item", entity_id=it["id"])
        uow.commit()


# --- cycle counts ----------------------------------------------------------------------------

def start_count(uow: UnitOfWork, actor: Actor, *, location: str | None = None,
                category: str | None = None, now: datetime | None = None) -> int:
    """Open a cycle count of one stock location and/or one category (neither: all stock).
    Returns the count's id."""
    if category and category not in {c.value for c in Category}:
        raise InvalidInput(f"Category {category!r} is not one of: "
                           f"{', '.join(c.value for c in Category)}.")
    at = now or _now()
    with uow:
        con = uow.con
        loc_id = _location(con, location, stock=True)["id"] if location else None
        count_id = irepo.insert_count(con, location_id=loc_id, category=category or None,
                                      actor=actor.name, at=at)
        repo.append_audit(con, actor=actor.name, action="inventory.count_start",
                          entity="inventory_count", entity_id=count_id, before=None,
                          after={"location": location, "category": category}, at=at)
        uow.commit()
    return count_id


def _open_count(con, count_id: int) -> dict:
    row = irepo.count_row(con, count_id)
    if row is None:
        raise NotFound(f"There is no count #{count_id}.")
    if row["status"] != "open":
        raise InvalidInput(f"Count #{count_id} was posted already; start a new one.")
    return row


def record_count(uow: UnitOfWork, count_id: int, scanned: str, actor: Actor, *,
                 quantity: Any = None, now: datetime | None = None) -> dict:
    """Record one item counted: `scanned` is what the scanner (or a person) typed, holding the
    item code. A stone counts as one piece (scanning it again changes nothing); metal needs
    its weight in grams, melee and findings their pieces (a second entry replaces the first).

    Returns {"code", "name", "unit", "expected", "counted", "again": bool, "stone": bool}.
    Raises
    `InvalidInput` (not a code, outside the count's category, no quantity), `NotFound`,
    `StockRefused` (a stone issued to a job, or no longer the shop's).
    """
    at = now or _now()
    with uow:
        con = uow.con
        count = _open_count(con, count_id)
        it = _item(con, scanned)
        if count["category"] and it["category"] != count["category"]:
            raise InvalidInput(f"{it['code']} is {it['category']}; this count is for "
                               f"{count['category']} only.")
        state = _state(con, it["id"])
        if state.serialized:
            qty = Decimal(1)
            if state.on_hand == 0:
                if state.issued > 0:
                    job_id = next(iter(state.holders))
                    raise StockRefused(f"{state.name} is issued to job "
                                       f"{state.job_number(job_id)}, not in stock; return it "
                                       "from the job first.")
                raise StockRefused(f"{state.name} is no longer in the shop's books (used or "
                                   "given back); tell the manager.")
        else:
            if quantity is None or str(quantity).strip() == "":
                what = "its weight in grams" if it["unit"] == "g" else "how many pieces"
                raise InvalidInput(f"{it['code']}: enter {what}.")
            qty = parse_quantity(quantity, it["category"], "The count", allow_zero=True)
        expected = state.stock.get(count["location_id"], ZERO) \
            if count["location_id"] is not None else state.on_hand
        line = irepo.count_line(con, count_id, it["id"])
        again = line is not None
        if line is None:
            irepo.insert_count_line(con, count_id=count_id, item_id=it["id"],
                                    location_id=count["location_id"], expected=expected,
                                    counted=qty, actor=actor.name, at=at)
        elif not state.serialized:
            irepo.update_count_line(con, line["id"], qty, actor.name, at)
            expected = line["expected"]
        else:
            expected = line["expected"]
        uow.commit()
    return {"code": it["code"], "name": state.name, "unit": it["unit"], "expected": expected,
            "counted": qty, "again": again, "stone": state.serialized}


def post_count(uow: UnitOfWork, count_id: int, actor: Actor, *, reason: str = "",
               now: datetime | None = None) -> dict:
    """Confirm a count: items the records put in its scope but nobody counted are counted as
    zero (missing); every line is marked matched or not (stones, parcels, findings: exact;
    metal: within the `count_tolerance_g` setting), and each variance is posted to the ledger
    as a count adjustment with the reason. A stone found in another stock location is moved
    here instead of being adjusted.

    Returns {"lines", "matched", "pct", "adjustments": [{"code", "expected", "counted",
    "variance"}]}. Raises `InvalidInput` when a line is off and no reason is given,
    `StockRefused` when a shortfall would leave less than jobs have reserved.
    """
    at = now or _now()
    with uow:
        con = uow.con
        count = _open_count(con, count_id)
        tolerance = Decimal(invq.inventory_setting(con, "count_tolerance_g"))
        loc_id = count["location_id"]
        scope = irepo.expected_in_scope(con, loc_id, count["category"])
        counted_ids = {ln["item_id"] for ln in irepo.count_lines(con, count_id)}
        for item_id, expected in scope.items():
            if item_id not in counted_ids:
                irepo.insert_count_line(con, count_id=count_id, item_id=item_id,
                                        location_id=loc_id, expected=expected, counted=ZERO,
                                        actor=actor.name, at=at)
        lines = irepo.count_lines(con, count_id)
        states = irepo.load_states(con, [ln["item_id"] for ln in lines])
        original = dict(states)
        flags = {ln["id"]: count_matches(ln["category"], ln["expected"], ln["counted"],
                                         tolerance) for ln in lines}
        off = [ln for ln in lines if not flags[ln["id"]]]
        if off and not (reason or "").strip():
            raise InvalidInput(f"{len(off)} of {len(lines)} lines differ from the records "
                               f"({', '.join(ln['code'] for ln in off[:5])}"
                               f"{' …' if len(off) > 5 else ''}); say why before posting.")
        why = f"Count #{count_id}: {(reason or '').strip() or 'within tolerance'}"
        safe_id = _location(con, DEFAULT_STOCK_LOCATION)["id"]
        moves: list[Move] = []
        adjustments = []
        for ln in lines:
            variance = ln["counted"] - ln["expected"]
            irepo.set_line_matched(con, ln["id"], flags[ln["id"]])
            if variance == 0:
                continue
            item = states[ln["item_id"]]
            here = loc_id if loc_id is not None else \
                (max(item.stock, key=item.stock.get) if item.stock else safe_id)
            elsewhere = [lid for lid, q in item.stock.items() if lid != here and q > 0]
            if item.serialized and variance > 0 and elsewhere:
                step = transfer_moves(item, Decimal(1), elsewhere[0], here, reason=why)
            else:
                step = adjust_moves(item, variance, here, why, kind=MoveKind.COUNT,
                                    count_id=count_id)
            step = [Move(**{**m.__dict__, "count_id": count_id}) for m in step]
            states[item.id] = apply(item, step)
            moves += step
            adjustments.append({"code": ln["code"], "expected": ln["expected"],
                                "counted": ln["counted"], "variance": variance})
        matched = sum(1 for v in flags.values() if v)
        irepo.close_count(con, count_id, actor=actor.name, at=at,
                          reason=(reason or "").strip() or None, lines=len(lines),
                          matched=matched)
        for item_id in {m.item_id for m in moves}:
            check_state(states[item_id])
        if moves:
            irepo.post_moves(con, moves, actor.name, at, original)
        repo.append_audit(con, actor=actor.name, action="inventory.count_post",
                          entity="inventory_count", entity_id=count_id, before=None,
                          after={"lines": len(lines), "matched": matched,
                                 "reason": (reason or "").strip(),
                                 "moves": _summary(moves, original)}, at=at)
        uow.commit()
    pct = (Decimal(matched) * 100 / len(lines)).quantize(Decimal("0.1")) if lines else None
    return {"lines": len(lines), "matched": matched, "pct": pct, "adjustments": adjustments}


# --- settings --------------------------------------------------------------------------------

def set_inventory_setting(uow: UnitOfWork, key: str, value: Any, actor: Actor, *,
                          now: datetime | None = None) -> str:
    """Change an inventory setting (keys of `storage.inventory_queries.INVENTORY_SETTINGS`);
    returns the stored text. Raises `InvalidInput` for an unknown key or a bad value."""
    if key not in invq.INVENTORY_SETTINGS:
        raise InvalidInput(f"There is no inventory setting {key!r}.")
    text = str(value).strip()
    if key == "show_dwt":
        if text.lower() not in ("yes", "no"):
            raise InvalidInput("Show pennyweight: yes or no.")
        text = text.lower()
    elif key == "accuracy_counts":
        if not text.isdigit() or int(text) < 1:
            raise InvalidInput("Accuracy is taken over 1 count or more.")
        text = str(int(text))
    else:
        number = _decimal(text, invq.INVENTORY_SETTING_HELP[key])
        upper = Decimal(100) if key == "metal_loss_norm_pct" else Decimal(100000)
        if number is None or not (0 <= number <= upper):
            raise InvalidInput(f"{invq.INVENTORY_SETTING_HELP[key]}: a number from 0 to "
                               f"{upper}.")
        text = str(number)
    at = now or _now()
    with uow:
        before = irepo.put_setting(uow.con, key, text)
        repo.append_audit(uow.con, actor=actor.name, action="settings.change", entity="settings",
                          entity_id=None, before={key: before}, after={key: text}, at=at)
        uow.commit()
    return text


# --- the hook in a job's stage change --------------------------------------------------------

def on_stage_change(con, job_row: dict, transition: lifecycle.Transition, actor: Actor,
                    at: datetime) -> int:
    """Move a job's materials with its stage, inside the stage change's transaction (called by
    `workflow.services._apply_stage_change` after the job row is updated; no commit here).

    - approve / start_production (production starts): reserve the planned materials not yet
      reserved and issue what is not yet issued to the assignee's bench (the shared bench
      when nobody is assigned);
    - submit_for_qc: refused while metal is at the bench without its finished weight
      (`finish_production` first);
    - hand_over: stones, melee and findings still issued go into the piece (a customer's stone
      leaves with it); what is still reserved is released;
    - cancel: everything reserved is released and everything issued returns to the safe.

    Any other move, and any job without materials, costs nothing. Returns the number of ledger
    rows written. Raises `StockRefused` ("Job J-0041 can't start production: only 3.200 g of
    ... is available ...") and so rolls the whole stage change back.
    """
    trigger = transition.trigger
    if trigger not in HOOKED_TRIGGERS:
        return 0
    starting = trigger in PRODUCTION_START
    # Read without job numbers (cheaper); a refusal reads them to name the jobs.
    plan, states, bench_id = irepo.job_context(
        con, job_row["id"], _bench_code(job_row) if starting else None, numbers=False)
    if not states:
        return 0
    job = JobRef(job_row["id"], job_row["job_number"])
    original = dict(states)
    moves: list[Move] = []
    if starting:
        bench = _bench_for(con, job_row, bench_id, at)
        try:
            moves = _reserve_plan(job, plan, states, issue_to=bench)
        except StockRefused as first:
            named = irepo.load_states(con, original)
            try:
                _reserve_plan(job, plan, named, issue_to=bench)
            except StockRefused as exc:
                raise StockRefused(f"Job {job.number} can't start production: "
                                   f"{_lower_first(str(exc))}") from exc
            raise first
    elif trigger == "submit_for_qc":
        for item in states.values():
            _, at_bench = item.held_for(job.id)
            if item.category == Category.METAL and at_bench > 0:
                raise StockRefused(
                    f"Job {job.number} can't go to Quality check: {item.q(at_bench)} of "
                    f"{item.description} ({item.code}) is still at the bench; record the "
                    "finished weight and the metal returned first.")
        return 0
    elif trigger == "hand_over":
        for item in sorted(states.values(), key=lambda s: s.code):
            _, at_bench = item.held_for(job.id)
            step = consume_moves(item, job, at_bench, reason="left with the finished piece")
            step += release_moves(apply(item, step), job, reason="not used")
            moves += step
    elif trigger == "cancel":
        safe_id = _location(con, DEFAULT_STOCK_LOCATION)["id"]
        for item in sorted(states.values(), key=lambda s: s.code):
            step = release_moves(item, job, reason="job cancelled")
            _, at_bench = item.held_for(job.id)
            step += return_moves(apply(item, step), job, at_bench, safe_id,
                                 reason="job cancelled")
            moves += step
    return _post(con, moves, original, actor, at, action=f"inventory.{trigger}", entity="job",
                 entity_id=job.id)

