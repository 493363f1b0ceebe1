"""The inventory ledger's domain: items, movements and the rules that refuse a bad one.

Plain data and pure functions only (GUIDE.md §1): nothing here reads or writes the database.
The services load an item's state (`ItemState`), ask a rule here for the movements (`Move`)
a request makes, and post them to the append-only ledger; balances are sums of those moves.

Quantities are `Decimal`s in the item's unit: pieces ("pc") for stones, melee parcels and
findings, grams ("g", 3 decimals) for metal. A stone is serialized: exactly one piece, with its
own code, held by at most one job at a time.

The buckets a move changes (each move carries a signed change for each):
- on hand: in a stock location of the shop (safe, showcase); reserved stock is still on hand;
- reserved: part of on hand set aside for a job; available = on hand - reserved;
- issued: out at a bench or an outside vendor for a job (work in progress).
Consumed metal and stones are in finished pieces; lost metal is the bench's metal loss.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from workflow.errors import InvalidInput
from workflow.numbers import parse_decimal

ZERO = Decimal("0")
ONE = Decimal("1")
GRAMS = Decimal("0.001")
GRAMS_PER_DWT = Decimal("1.55517384")   # one pennyweight (troy) in grams
GRAMS_PER_CARAT = Decimal("0.2")        # carat, the stone weight (not karat)


class StockRefused(InvalidInput):
    """A movement the stock can't make: the message says which item, job and quantity.

    `str(error)` reads like "Stone S-0012 is already reserved for job J-0040."
    """


class Category(StrEnum):
    STONE = "stone"      # an individual stone with its own code (and report number)
    MELEE = "melee"      # a parcel of small stones, counted by pieces, with a total ct weight
    METAL = "metal"      # an alloy held in grams
    FINDING = "finding"  # clasps, jump rings, ear wires, bails; by count


CATEGORY_LABELS = {Category.STONE: "Stone", Category.MELEE: "Melee parcel",
                   Category.METAL: "Metal", Category.FINDING: "Finding"}
CODE_PREFIX = {Category.STONE: "S", Category.MELEE: "P", Category.METAL: "M",
               Category.FINDING: "F"}
UNITS = {Category.STONE: "pc", Category.MELEE: "pc", Category.METAL: "g",
         Category.FINDING: "pc"}


class Ownership(StrEnum):
    OWNED = "owned"        # the shop's stock
    MEMO = "memo"          # consignment from a dealer: held, not owned; due back by a date
    CUSTOMER = "customer"  # the customer's own stone, taken in for one job; never shop stock


class Origin(StrEnum):
    NATURAL = "natural"
    LAB_GROWN = "lab_grown"


class LocationKind(StrEnum):
    SAFE = "safe"
    SHOWCASE = "showcase"
    BENCH = "bench"
    VENDOR = "vendor"    # an outside vendor / trade shop: caster, setter, engraver


STOCK_LOCATION_KINDS = (LocationKind.SAFE, LocationKind.SHOWCASE)
DEFAULT_STOCK_LOCATION = "SAFE"   # where stock is received and returns go unless told otherwise
DEFAULT_BENCH = "BENCH"           # the bench a job's materials go to when nobody is assigned


class MoveKind(StrEnum):
    RECEIVE = "receive"
    RESERVE = "reserve"
    RELEASE = "release"
    ISSUE = "issue"
    RETURN = "return"
    CONSUME = "consume"
    LOSS = "loss"
    TRANSFER = "transfer"
    ADJUST = "adjust"
    COUNT = "count"
    GIVE_BACK = "give_back"


MOVE_LABELS = {
    MoveKind.RECEIVE: "Received", MoveKind.RESERVE: "Reserved", MoveKind.RELEASE: "Released",
    MoveKind.ISSUE: "Issued", MoveKind.RETURN: "Returned", MoveKind.CONSUME: "In the piece",
    MoveKind.LOSS: "Metal loss", MoveKind.TRANSFER: "Moved", MoveKind.ADJUST: "Adjusted",
    MoveKind.COUNT: "Count variance", MoveKind.GIVE_BACK: "Given back to owner",
}

# Alloys the shop is likely to hold, with their fineness in parts per thousand.
ALLOYS: dict[str, int] = {
    "10K yellow gold": 417, "14K yellow gold": 585, "14K white gold": 585,
    "14K rose gold": 585, "18K yellow gold": 750, "18K white gold": 750, "18K rose gold": 750,
    "22K yellow gold": 916, "Pt950 platinum": 950, "Pd950 palladium": 950,
    "925 sterling silver": 925, "Fine silver": 999, "24K fine gold": 999,
}


# --- codes and quantities --------------------------------------------------------------------

def item_code(category: str, item_id: int) -> str:
    """The code printed on the label and typed by the scanner: S-0012, P-0003, M-0001."""
    return f"{CODE_PREFIX[Category(category)]}-{item_id:04d}"


_CODE = re.compile(r"^\s*(?:[A-Z]+:)?([SPMF])[-\s]?0*(\d{1,12})\s*$", re.IGNORECASE)


def parse_code(text: str) -> str | None:
    """The item code in what a person or a USB barcode scanner typed, or None.

    Accepts "S-0012", "s-12", "S0012", " S-0012\\n" and a prefixed QR payload "ATELIER:S-0012".
    """
    m = _CODE.match(text or "")
    if not m:
        return None
    return f"{m.group(1).upper()}-{int(m.group(2)):04d}"


def code_id(code: str) -> int:
    """The item id inside a code ("S-0012" -> 12). Raises `InvalidInput` for a non-code."""
    parsed = parse_code(code)
    if parsed is None:
        raise InvalidInput(f"{code!r} is not an item code such as S-0012.")
    return int(parsed.split("-")[1])


def is_serialized(category: str) -> bool:
    return category == Category.STONE


def parse_quantity(value, category: str, what: str = "The quantity", *,
                   allow_zero: bool = False, signed: bool = False) -> Decimal:
    """A quantity typed for an item of `category`: whole pieces, or grams to 0.001 g.

    Returns a Decimal (grams quantized to 3 places). Raises `InvalidInput` for text that is not
    a number, a fraction of a piece, more than 3 decimals of a gram, zero (unless `allow_zero`)
    or a negative amount (unless `signed`).
    """
    qty = parse_decimal(value, what)  # "1,200" is 1200; "0,5" is 0.5 (workflow.numbers)
    if qty is None:
        raise InvalidInput(f"{what} is missing.")
    if UNITS[Category(category)] == "pc":
        if qty != qty.to_integral_value():
            raise InvalidInput(f"{what} must be whole pieces (got {value}).")
        qty = qty.quantize(ONE)
    else:
        if qty != qty.quantize(GRAMS, rounding=ROUND_HALF_UP):
            raise InvalidInput(f"{what} is weighed to 0.001 g at most (got {value}).")
        qty = qty.quantize(GRAMS)
    if qty < 0 and not signed:
        raise InvalidInput(f"{what} can't be negative (got {value}).")
    if qty == 0 and not allow_zero:
        raise InvalidInput(f"{what} must be more than zero.")
    return qty


def fmt_qty(qty: Decimal | None, unit: str) -> str:
    """ "6.000 g", "1 pc", "240 pcs"; "" for None."""
    if qty is None:
        return ""
    if unit == "g":
        return f"{Decimal(qty).quantize(GRAMS):,} g"
    n = Decimal(qty).quantize(ONE)
    return f"{n:,} {'pc' if abs(n) == 1 else 'pcs'}"


def to_dwt(grams: Decimal) -> Decimal:
    """Grams as pennyweight (1 dwt = 1.55517384 g), to 0.001 dwt."""
    return (Decimal(grams) / GRAMS_PER_DWT).quantize(GRAMS, rounding=ROUND_HALF_UP)


def fine_weight(grams: Decimal, fineness: int) -> Decimal:
    """The pure metal in `grams` of an alloy of `fineness` (parts per thousand), to 0.001 g:
    10 g of 14K (585) hold 5.850 g of fine gold."""
    return (Decimal(grams) * Decimal(fineness) / 1000).quantize(GRAMS, rounding=ROUND_HALF_UP)


def carats_to_grams(carats: Decimal) -> Decimal:
    """Stone weight in grams (1 ct = 0.2 g), to 0.001 g."""
    return (Decimal(carats) * GRAMS_PER_CARAT).quantize(GRAMS, rounding=ROUND_HALF_UP)


def weighted_cost(old_qty: Decimal, old_cost: Decimal | None, qty: Decimal,
                  cost: Decimal | None) -> Decimal | None:
    """Unit cost after receiving `qty` at `cost` onto `old_qty` at `old_cost` (moving average,
    to the cent). Either cost unknown: the known one."""
    if cost is None:
        return old_cost
    if old_cost is None or old_qty <= 0:
        return Decimal(cost).quantize(Decimal("0.01"))
    total = old_qty * old_cost + qty * cost
    return (total / (old_qty + qty)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# --- metal loss ------------------------------------------------------------------------------

@dataclass(frozen=True)
class MetalLoss:
    """A job's metal account for one alloy, in grams (the jeweler's formula):

        loss = issued - (metal in the finished piece + metal returned: scrap, filings, sprues)
        loss % = loss / issued * 100

    `issued` and `returned` are everything issued to and returned from the job so far (rework
    rounds included); `finished` is the metal in the whole finished piece.
    """

    issued_g: Decimal
    finished_g: Decimal
    returned_g: Decimal
    loss_g: Decimal
    loss_pct: Decimal
    norm_pct: Decimal

    @property
    def over_norm(self) -> bool:
        return self.loss_pct > self.norm_pct


def metal_loss(issued_g: Decimal, finished_g: Decimal, returned_g: Decimal,
               norm_pct: Decimal) -> MetalLoss:
    """The loss of metal on a job (see `MetalLoss`). Raises `StockRefused` when the finished
    piece and the returns weigh more than was issued (a weighing slip, or metal not issued)."""
    issued_g, finished_g, returned_g = (Decimal(v).quantize(GRAMS)
                                        for v in (issued_g, finished_g, returned_g))
    if min(finished_g, returned_g) < 0:
        raise StockRefused("Weights can't be negative.")
    loss = issued_g - finished_g - returned_g
    if loss < 0:
        raise StockRefused(
            f"The finished metal ({finished_g} g) and the metal returned ({returned_g} g) "
            f"weigh more than the {issued_g} g issued; check the weights, or issue the extra "
            "metal first.")
    pct = (loss / issued_g * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) \
        if issued_g > 0 else Decimal("0.00")
    return MetalLoss(issued_g, finished_g, returned_g, loss, pct, Decimal(norm_pct))


def count_matches(category: str, expected: Decimal, counted: Decimal,
                  tolerance_g: Decimal) -> bool:
    """Whether a count line matched: stones, parcels and findings by exact pieces; metal within
    the shop's gram tolerance (a setting)."""
    if UNITS[Category(category)] == "g":
        return abs(Decimal(counted) - Decimal(expected)) <= Decimal(tolerance_g)
    return Decimal(counted) == Decimal(expected)


# --- new items -------------------------------------------------------------------------------

@dataclass
class NewItem:
    """An item typed in on "Receive stock" (or at intake of a customer's stone).

    Stone: species, origin, shape, carat, colour, clarity, cut, measurements, certificate lab
    and report number. Melee parcel: species, shape, size in `measurements`, total `carat`.
    Metal: `alloy` (a key of `ALLOYS` or free text with `fineness`). Finding: `description`.
    Money is per piece, or per gram of metal, in the shop's currency unless `currency` is set.
    """

    category: str
    description: str = ""
    species: str = ""
    origin: str = ""
    shape: str = ""
    carat: Decimal | None = None
    colour: str = ""
    clarity: str = ""
    cut: str = ""
    measurements: str = ""
    cert_lab: str = ""
    cert_number: str = ""
    alloy: str = ""
    fineness: int | None = None
    reorder_point: Decimal | None = None
    unit_cost: Decimal | None = None
    currency: str = ""
    supplier: str = ""
    ownership: str = Ownership.OWNED
    memo_dealer: str = ""
    memo_date: date | None = None
    memo_due_date: date | None = None
    notes: str = ""


def describe_item(item: NewItem) -> str:
    """The line shown in lists when nothing was typed as a description:
    "1.020 ct round diamond, lab-grown, G VS1"."""
    if item.description.strip():
        return item.description.strip()
    c = item.category
    if c == Category.STONE:
        bits = [f"{Decimal(item.carat):.3f} ct" if item.carat else "",
                (item.shape or "").lower(), (item.species or "stone").lower()]
        text = " ".join(b for b in bits if b)
        extra = ["lab-grown" if item.origin == Origin.LAB_GROWN else "",
                 " ".join(x for x in (item.colour, item.clarity) if x)]
        return ", ".join([text] + [e for e in extra if e])
    if c == Category.MELEE:
        bits = ["Melee", (item.species or "diamond").lower(), (item.shape or "").lower(),
                item.measurements, "lab-grown" if item.origin == Origin.LAB_GROWN else ""]
        return " ".join(b for b in bits if b)
    if c == Category.METAL:
        return item.alloy.strip()
    return "Finding"


def check_new_item(item: NewItem) -> NewItem:
    """Validate and tidy a new item; returns it with defaults filled (fineness from the alloy,
    upper-case certificate lab). Raises `InvalidInput` naming the field."""
    try:
        category = Category(item.category)
    except ValueError as exc:
        raise InvalidInput(f"Category {item.category!r} is not one of: "
                           f"{', '.join(c.value for c in Category)}.") from exc
    out = replace(item, category=category.value)
    if out.ownership not in {o.value for o in Ownership}:
        raise InvalidInput(f"Ownership {out.ownership!r} is not one of: owned, memo, customer.")
    if out.origin and out.origin not in {o.value for o in Origin}:
        raise InvalidInput(f"Origin {out.origin!r} must be natural or lab_grown.")
    if category in (Category.STONE, Category.MELEE):
        if not out.species.strip():
            raise InvalidInput("Say what the stone is (diamond, sapphire, ...).")
        if out.carat is None or Decimal(out.carat) <= 0:
            what = "the stone's carat weight" if category == Category.STONE else \
                "the parcel's total carat weight"
            raise InvalidInput(f"Give {what} (ct, more than zero).")
        carat = Decimal(out.carat)
        if carat != carat.quantize(GRAMS) or carat >= 100000:
            raise InvalidInput(f"Carat weight {out.carat} is given to 0.001 ct at most.")
        out.carat = carat.quantize(GRAMS)
    lab, number = out.cert_lab.strip().upper(), out.cert_number.strip()
    if bool(lab) != bool(number):
        raise InvalidInput("Give both the certificate lab (GIA, IGI, ...) and the report number,"
                           " or neither.")
    if number and category != Category.STONE:
        raise InvalidInput("Only a single stone carries a certificate (report number).")
    out.cert_lab, out.cert_number = lab, number
    if category == Category.METAL:
        if not out.alloy.strip():
            raise InvalidInput("Say which alloy the metal is (14K yellow gold, Pt950, ...).")
        out.alloy = out.alloy.strip()
        fineness = out.fineness or ALLOYS.get(out.alloy)
        if fineness is None:
            raise InvalidInput(f"Give the fineness of {out.alloy} (parts per thousand, e.g. 585).")
        if not 1 <= int(fineness) <= 1000:
            raise InvalidInput(f"Fineness {fineness} must be between 1 and 1000.")
        out.fineness = int(fineness)
    if category == Category.FINDING and not out.description.strip():
        raise InvalidInput("Describe the finding (e.g. '14K yellow lobster clasp 10 mm').")
    if out.ownership == Ownership.MEMO:
        if category != Category.STONE:
            raise InvalidInput("Only single stones are taken on memo here.")
        if not out.memo_dealer.strip() or out.memo_due_date is None:
            raise InvalidInput("A memo stone needs the dealer and the date it is due back.")
        if out.memo_date and out.memo_due_date < out.memo_date:
            raise InvalidInput("The memo's due-back date is before its memo date.")
    if out.unit_cost is not None and Decimal(out.unit_cost) < 0:
        raise InvalidInput("The cost can't be negative.")
    if out.reorder_point is not None and Decimal(out.reorder_point) < 0:
        raise InvalidInput("The reorder point can't be negative.")
    out.description = describe_item(out)
    return out


# --- item state and moves --------------------------------------------------------------------

@dataclass(frozen=True)
class JobRef:
    """The job a move serves: its id and the number on its envelope."""

    id: int
    number: str


@dataclass(frozen=True)
class Move:
    """One ledger row to be: signed changes of an item's on hand (at `location_id`), reserved
    and issued (for `job_id`). `to_location_id` is where issued stock went (a bench, a vendor)."""

    item_id: int
    kind: str
    on_hand: Decimal = ZERO
    reserved: Decimal = ZERO
    issued: Decimal = ZERO
    location_id: int | None = None
    to_location_id: int | None = None
    job_id: int | None = None
    reason: str | None = None
    unit_cost: Decimal | None = None
    count_id: int | None = None


@dataclass
class ItemState:
    """What the rules look at for one item: its identity and its balances.

    `stock` maps a stock location id to the quantity on hand there; `holders` maps a job id to
    (reserved, issued) for that job; `job_numbers` names those jobs for messages (a job
    missing from it is named "#<id>").
    """

    id: int
    code: str
    category: str
    description: str
    unit: str
    ownership: str = Ownership.OWNED
    owner_job_id: int | None = None
    on_hand: Decimal = ZERO
    reserved: Decimal = ZERO
    issued: Decimal = ZERO
    stock: dict[int, Decimal] = field(default_factory=dict)
    holders: dict[int, tuple[Decimal, Decimal]] = field(default_factory=dict)
    job_numbers: dict[int, str] = field(default_factory=dict)
    # Storage bookkeeping, not a rule's business: the (location id, job id) keys of the balance
    # rows the database holds for this item when it was read (lets the writer UPDATE those and
    # INSERT the rest instead of a slower upsert).
    balance_keys: frozenset[tuple[int, int]] = frozenset()

    @property
    def available(self) -> Decimal:
        return self.on_hand - self.reserved

    @property
    def serialized(self) -> bool:
        return is_serialized(self.category)

    @property
    def name(self) -> str:
        """How messages name it: "Stone S-0012", "14K yellow gold (M-0003)"."""
        if self.serialized:
            return f"Stone {self.code}"
        return f"{self.description} ({self.code})"

    def held_for(self, job_id: int) -> tuple[Decimal, Decimal]:
        return self.holders.get(job_id, (ZERO, ZERO))

    def q(self, qty: Decimal) -> str:
        return fmt_qty(qty, self.unit)

    def job_number(self, job_id: int) -> str:
        return self.job_numbers.get(job_id, f"#{job_id}")


def apply(item: ItemState, moves: list[Move]) -> ItemState:
    """The item's state after `moves` (pure; the item given is not changed)."""
    stock = dict(item.stock)
    holders = dict(item.holders)
    on_hand, reserved, issued = item.on_hand, item.reserved, item.issued
    for m in moves:
        if m.item_id != item.id:
            continue
        on_hand += m.on_hand
        reserved += m.reserved
        issued += m.issued
        if m.on_hand and m.location_id is not None:
            stock[m.location_id] = stock.get(m.location_id, ZERO) + m.on_hand
            if stock[m.location_id] == 0:
                del stock[m.location_id]
        if m.job_id is not None and (m.reserved or m.issued):
            r, i = holders.get(m.job_id, (ZERO, ZERO))
            r, i = r + m.reserved, i + m.issued
            if r == 0 and i == 0:
                holders.pop(m.job_id, None)
            else:
                holders[m.job_id] = (r, i)
    return replace(item, on_hand=on_hand, reserved=reserved, issued=issued, stock=stock,
                   holders=holders)


def check_state(item: ItemState) -> None:
    """The invariants every balance keeps; raises `StockRefused` naming the item.

    Nothing negative; reserved within on hand (available >= 0); per location and per job
    nothing negative; a stone is one piece in one place, held by at most one job.
    """
    if item.available < 0:
        raise StockRefused(f"{item.name} has {item.q(item.on_hand)} on hand and "
                           f"{item.q(item.reserved)} reserved; available can't go below zero.")
    if min(item.on_hand, item.reserved, item.issued) < 0 or \
            any(v < 0 for v in item.stock.values()):
        raise StockRefused(f"{item.name} can't go below zero.")
    if any(r < 0 or i < 0 for r, i in item.holders.values()):
        raise StockRefused(f"{item.name}: a job can't hold less than nothing.")
    if item.serialized:
        if item.on_hand + item.issued > 1 or item.reserved > 1:
            raise StockRefused(f"{item.name} is a single stone; it can't be in two places.")
        if len(item.holders) > 1:
            raise StockRefused(f"{item.name} can be held by one job at a time.")


def _other_holder(item: ItemState, job: JobRef) -> str | None:
    for job_id, (r, i) in item.holders.items():
        if job_id != job.id and (r > 0 or i > 0):
            what = "issued to" if i > 0 else "reserved for"
            return f"{item.name} is already {what} job {item.job_number(job_id)}."
    return None


def check_usable_for(item: ItemState, job: JobRef) -> None:
    """Whether `item` may serve `job` at all: a customer's stone only its own job, a stone
    only while no other job holds it. Raises `StockRefused`."""
    if item.ownership == Ownership.CUSTOMER and item.owner_job_id != job.id:
        owner = item.job_number(item.owner_job_id) if item.owner_job_id else "another job"
        raise StockRefused(f"{item.name} belongs to the customer of job {owner}; it can't go "
                           f"into job {job.number}.")
    if item.serialized:
        other = _other_holder(item, job)
        if other:
            raise StockRefused(other)


def receive_moves(item: ItemState, qty: Decimal, location_id: int, *,
                  unit_cost: Decimal | None = None, reason: str | None = None) -> list[Move]:
    """Stock arriving at a stock location (a purchase, a memo, a customer's stone at intake)."""
    if qty <= 0:
        raise StockRefused("A receipt must be more than zero.")
    if item.serialized and (item.on_hand + item.issued + qty > 1):
        raise StockRefused(f"{item.name} is a single stone and is already here.")
    return [Move(item.id, MoveKind.RECEIVE, on_hand=qty, location_id=location_id,
                 unit_cost=unit_cost, reason=reason)]


def reserve_moves(item: ItemState, job: JobRef, qty: Decimal) -> list[Move]:
    """Set `qty` of available stock aside for `job`. Refused for a stone another job holds,
    a customer's stone of another job, or more than is available."""
    if qty <= 0:
        return []
    check_usable_for(item, job)
    if qty > item.available:
        if item.serialized:
            raise StockRefused(f"{item.name} is not in stock to reserve for job {job.number}.")
        raise StockRefused(f"Only {item.q(item.available)} of {item.name} is available; "
                           f"job {job.number} needs {item.q(qty)}.")
    return [Move(item.id, MoveKind.RESERVE, reserved=qty, job_id=job.id)]


def release_moves(item: ItemState, job: JobRef, qty: Decimal | None = None,
                  reason: str | None = None) -> list[Move]:
    """Give back to available what `job` reserved (all of it when `qty` is None)."""
    held, _ = item.held_for(job.id)
    qty = held if qty is None else qty
    if qty <= 0:
        return []
    if qty > held:
        raise StockRefused(f"Job {job.number} has {item.q(held)} of {item.name} reserved; "
                           f"{item.q(qty)} can't be released.")
    return [Move(item.id, MoveKind.RELEASE, reserved=-qty, job_id=job.id, reason=reason)]


def _take_from_stock(item: ItemState, qty: Decimal,
                     from_location_id: int | None) -> list[tuple[int, Decimal]]:
    """Which stock locations `qty` comes out of: the one asked for, else the fullest first."""
    if from_location_id is not None:
        there = item.stock.get(from_location_id, ZERO)
        if qty > there:
            raise StockRefused(f"Only {item.q(there)} of {item.name} is there.")
        return [(from_location_id, qty)]
    parts, left = [], qty
    for loc, there in sorted(item.stock.items(), key=lambda kv: (-kv[1], kv[0])):
        if left <= 0:
            break
        take = min(there, left)
        if take > 0:
            parts.append((loc, take))
            left -= take
    if left > 0:
        raise StockRefused(f"Only {item.q(item.on_hand)} of {item.name} is on hand.")
    return parts


def issue_moves(item: ItemState, job: JobRef, qty: Decimal, to_location_id: int, *,
                from_location_id: int | None = None, reason: str | None = None) -> list[Move]:
    """Hand `qty` to a bench or vendor for `job`: first out of what the job reserved, then out
    of available stock. Refused beyond that, or for a stone another job holds."""
    if qty <= 0:
        return []
    check_usable_for(item, job)
    held, _ = item.held_for(job.id)
    from_reserved = min(held, qty)
    extra = qty - from_reserved
    if extra > item.available:
        if item.serialized:
            raise StockRefused(f"{item.name} is not in stock to issue to job {job.number}.")
        raise StockRefused(f"Only {item.q(item.available + held)} of {item.name} can be "
                           f"issued to job {job.number} ({item.q(held)} reserved for it, "
                           f"{item.q(item.available)} available); {item.q(qty)} asked.")
    moves = []
    for loc, take in _take_from_stock(item, qty, from_location_id):
        r = min(from_reserved, take)
        from_reserved -= r
        moves.append(Move(item.id, MoveKind.ISSUE, on_hand=-take, reserved=-r, issued=take,
                          location_id=loc, to_location_id=to_location_id, job_id=job.id,
                          reason=reason))
    return moves


def _check_at_bench(item: ItemState, job: JobRef, qty: Decimal, verb: str) -> None:
    _, out = item.held_for(job.id)
    if qty > out:
        raise StockRefused(f"Job {job.number} has {item.q(out)} of {item.name} at the bench; "
                           f"{item.q(qty)} can't be {verb}.")


def return_moves(item: ItemState, job: JobRef, qty: Decimal, location_id: int, *,
                 reason: str | None = None) -> list[Move]:
    """Stock coming back from the bench to a stock location (unused stones, scrap metal)."""
    if qty <= 0:
        return []
    _check_at_bench(item, job, qty, "returned")
    return [Move(item.id, MoveKind.RETURN, on_hand=qty, issued=-qty, location_id=location_id,
                 job_id=job.id, reason=reason)]


def consume_moves(item: ItemState, job: JobRef, qty: Decimal, *,
                  reason: str | None = None) -> list[Move]:
    """Issued stock going into the finished piece. A negative `qty` (metal taken off a piece
    in a rework) puts metal back at the bench."""
    if qty == 0:
        return []
    if qty > 0:
        _check_at_bench(item, job, qty, "put into the piece")
    return [Move(item.id, MoveKind.CONSUME, issued=-qty, job_id=job.id, reason=reason)]


def loss_moves(item: ItemState, job: JobRef, qty: Decimal, *,
               reason: str | None = None) -> list[Move]:
    """Metal that went missing at the bench (filings not recovered, polishing)."""
    if qty <= 0:
        return []
    _check_at_bench(item, job, qty, "written off as loss")
    return [Move(item.id, MoveKind.LOSS, issued=-qty, job_id=job.id, reason=reason)]


def transfer_moves(item: ItemState, qty: Decimal, from_location_id: int, to_location_id: int,
                   *, reason: str | None = None) -> list[Move]:
    """Stock moving between stock locations (safe to showcase): two rows, out and in."""
    if qty <= 0:
        raise StockRefused("A move must be more than zero.")
    if from_location_id == to_location_id:
        raise StockRefused("The item is already there.")
    _take_from_stock(item, qty, from_location_id)
    return [Move(item.id, MoveKind.TRANSFER, on_hand=-qty, location_id=from_location_id,
                 reason=reason),
            Move(item.id, MoveKind.TRANSFER, on_hand=qty, location_id=to_location_id,
                 reason=reason)]


def adjust_moves(item: ItemState, delta: Decimal, location_id: int, reason: str, *,
                 kind: str = MoveKind.ADJUST, count_id: int | None = None) -> list[Move]:
    """Correct on hand at a location by `delta` (found, broken, miscounted). A reason is
    required; stock reserved for jobs can't be adjusted away (release it first)."""
    if not (reason or "").strip():
        raise StockRefused(f"Say why {item.name} is adjusted.")
    if delta == 0:
        return []
    there = item.stock.get(location_id, ZERO)
    if there + delta < 0:
        raise StockRefused(f"Only {item.q(there)} of {item.name} is there; it can't go down "
                           f"by {item.q(-delta)}.")
    if delta < 0 and item.available + delta < 0:
        raise StockRefused(f"{item.name}: {item.q(item.reserved)} is reserved for jobs and "
                           f"only {item.q(item.available)} is available; release it first.")
    if item.serialized and item.on_hand + item.issued + delta > 1:
        raise StockRefused(f"{item.name} is a single stone and is already accounted for.")
    return [Move(item.id, kind, on_hand=delta, location_id=location_id, reason=reason.strip(),
                 count_id=count_id)]


def give_back_moves(item: ItemState, reason: str) -> list[Move]:
    """A memo stone back to its dealer, or a customer's stone back to the customer: all of it
    leaves the stock locations. Refused while a job holds it."""
    if item.ownership == Ownership.OWNED:
        raise StockRefused(f"{item.name} is the shop's own; adjust it instead.")
    if item.holders:
        job_id = next(iter(item.holders))
        raise StockRefused(f"{item.name} is held by job {item.job_number(job_id)}; release or "
                           "return it from the job first.")
    if item.on_hand <= 0:
        raise StockRefused(f"{item.name} is not in stock.")
    return [Move(item.id, MoveKind.GIVE_BACK, on_hand=-qty, location_id=loc,
                 reason=(reason or "").strip() or None)
            for loc, qty in sorted(item.stock.items()) if qty > 0]
