"""The inventory domain's rules, without a database: codes, quantities, metal loss, counts,
and the moves a request makes or the sentence that refuses it."""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal

import pytest
import segno
from PIL import Image

from pages.inventory_labels import Label, label_for, label_pdf, qr_payload, qr_png
from workflow.errors import InvalidInput
from workflow.inventory import (
    ItemState,
    JobRef,
    MoveKind,
    NewItem,
    StockRefused,
    adjust_moves,
    apply,
    carats_to_grams,
    check_new_item,
    check_state,
    count_matches,
    fine_weight,
    fmt_qty,
    give_back_moves,
    issue_moves,
    item_code,
    metal_loss,
    parse_code,
    parse_quantity,
    receive_moves,
    release_moves,
    reserve_moves,
    return_moves,
    to_dwt,
    transfer_moves,
    weighted_cost,
)

D = Decimal
SAFE, SHOWCASE, BENCH = 1, 2, 3
J40, J41 = JobRef(40, "J-0040"), JobRef(41, "J-0041")


def gold(on_hand="10", reserved="0", stock=None, holders=None) -> ItemState:
    return ItemState(7, "M-0007", "metal", "14K yellow gold", "g", on_hand=D(on_hand),
                     reserved=D(reserved), stock=stock or {SAFE: D(on_hand)},
                     holders=holders or {}, job_numbers={40: "J-0040", 41: "J-0041"})


def stone(**kw) -> ItemState:
    base = dict(id=12, code="S-0012", category="stone", description="1.020 ct round diamond",
                unit="pc", on_hand=D(1), stock={SAFE: D(1)},
                job_numbers={40: "J-0040", 41: "J-0041"})
    return ItemState(**{**base, **kw})


# --- codes and quantities --------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["S-0012", "s-12", "S0012", " S-0012\n", "ATELIER:S-0012",
                                   "s 12"])
def test_what_a_scanner_or_a_person_types_is_read_as_the_item_code(typed):
    assert parse_code(typed) == "S-0012"


@pytest.mark.parametrize("typed", ["", "X-0012", "S-", "12", "S-12-3"])
def test_text_that_is_not_an_item_code_is_not_read_as_one(typed):
    assert parse_code(typed) is None


def test_codes_carry_the_category_prefix():
    assert [item_code(c, 12) for c in ("stone", "melee", "metal", "finding")] == \
        ["S-0012", "P-0012", "M-0012", "F-0012"]


def test_grams_are_kept_to_a_milligram_and_pieces_whole():
    assert parse_quantity("6,5", "metal") == D("6.500")
    assert parse_quantity("12", "melee") == D(12)
    with pytest.raises(InvalidInput, match="whole pieces"):
        parse_quantity("1.5", "finding")
    with pytest.raises(InvalidInput, match="0.001 g at most"):
        parse_quantity("1.0005", "metal")
    with pytest.raises(InvalidInput, match="can't be negative"):
        parse_quantity("-2", "metal")
    with pytest.raises(InvalidInput, match="more than zero"):
        parse_quantity("0", "metal")
    with pytest.raises(InvalidInput, match="is not a number"):
        parse_quantity("six", "metal")
    assert parse_quantity("-0.25", "metal", signed=True) == D("-0.250")


def test_weights_in_the_trades_units():
    assert fine_weight(D("10"), 585) == D("5.850")          # 10 g of 14K
    assert to_dwt(D("1.55517384")) == D("1.000")
    assert to_dwt(D("31.1034768")) == D("20.000")           # a troy ounce
    assert carats_to_grams(D("1.02")) == D("0.204")
    assert fmt_qty(D("6"), "g") == "6.000 g"
    assert [fmt_qty(D(n), "pc") for n in (1, 12)] == ["1 pc", "12 pcs"]


def test_moving_average_cost():
    assert weighted_cost(D("10"), D("50.00"), D("10"), D("60.00")) == D("55.00")
    assert weighted_cost(D("0"), None, D("5"), D("48.5")) == D("48.50")
    assert weighted_cost(D("5"), D("40.00"), D("5"), None) == D("40.00")


# --- metal loss ------------------------------------------------------------------------------

def test_metal_loss_is_what_neither_the_piece_nor_the_returns_account_for():
    loss = metal_loss(D("6.000"), D("5.640"), D("0.180"), D("3.0"))
    assert (loss.loss_g, loss.loss_pct, loss.over_norm) == (D("0.180"), D("3.00"), False)
    over = metal_loss(D("6.000"), D("5.500"), D("0.200"), D("3.0"))
    assert (over.loss_g, over.loss_pct, over.over_norm) == (D("0.300"), D("5.00"), True)


def test_a_piece_and_returns_heavier_than_the_metal_issued_are_refused():
    with pytest.raises(StockRefused, match=r"weigh more than the 6.000 g issued"):
        metal_loss(D("6.000"), D("5.900"), D("0.200"), D("3.0"))


def test_counts_match_exactly_by_pieces_and_within_tolerance_by_grams():
    assert count_matches("metal", D("50.000"), D("50.030"), D("0.05"))
    assert not count_matches("metal", D("50.000"), D("49.900"), D("0.05"))
    assert count_matches("melee", D("200"), D("200"), D("0.05"))
    assert not count_matches("melee", D("200"), D("199"), D("5"))


# --- reserving, issuing, returning -----------------------------------------------------------

def test_a_stone_reserved_for_one_job_is_refused_for_another():
    held = stone(reserved=D(1), holders={40: (D(1), D(0))})
    with pytest.raises(StockRefused) as refused:
        reserve_moves(held, J41, D(1))
    assert str(refused.value) == "Stone S-0012 is already reserved for job J-0040."
    at_bench = stone(on_hand=D(0), issued=D(1), stock={}, holders={40: (D(0), D(1))})
    with pytest.raises(StockRefused, match="Stone S-0012 is already issued to job J-0040."):
        issue_moves(at_bench, J41, D(1), BENCH)


def test_a_customers_stone_serves_only_its_own_job():
    theirs = stone(ownership="customer", owner_job_id=40)
    assert reserve_moves(theirs, J40, D(1))[0].reserved == 1
    with pytest.raises(StockRefused, match="belongs to the customer of job J-0040; it can't go "
                                           "into job J-0041"):
        reserve_moves(theirs, J41, D(1))


def test_metal_cant_be_reserved_beyond_what_is_available():
    item = gold("10", "6", holders={40: (D(6), D(0))})
    with pytest.raises(StockRefused) as refused:
        reserve_moves(item, J41, D("4.5"))
    assert str(refused.value) == ("Only 4.000 g of 14K yellow gold (M-0007) is available; "
                                  "job J-0041 needs 4.500 g.")


def test_issuing_takes_from_the_jobs_reservation_first_then_from_the_fullest_location():
    item = gold("10", "3", stock={SAFE: D(4), SHOWCASE: D(6)}, holders={40: (D(3), D(0))})
    moves = issue_moves(item, J40, D(8), BENCH)
    assert [(m.location_id, m.on_hand, m.reserved, m.issued) for m in moves] == [
        (SHOWCASE, D(-6), D(-3), D(6)), (SAFE, D(-2), D(0), D(2))]
    after = apply(item, moves)
    assert (after.on_hand, after.reserved, after.issued) == (D(2), D(0), D(8))
    assert after.holders == {40: (D(0), D(8))} and after.stock == {SAFE: D(2)}
    check_state(after)
    with pytest.raises(StockRefused, match=r"Only 10.000 g of 14K yellow gold \(M-0007\) can "
                                           r"be issued to job J-0040"):
        issue_moves(item, J40, D(11), BENCH)


def test_returns_and_releases_are_limited_to_what_the_job_has():
    item = apply(gold("10"), issue_moves(gold("10"), J40, D(6), BENCH))
    back = return_moves(item, J40, D("0.5"), SAFE)
    assert (back[0].kind, back[0].on_hand, back[0].issued) == (MoveKind.RETURN, D("0.5"),
                                                               D("-0.5"))
    with pytest.raises(StockRefused, match="Job J-0041 has 0.000 g of 14K yellow gold"):
        return_moves(item, J41, D(1), SAFE)
    with pytest.raises(StockRefused, match="Job J-0040 has 0.000 g of 14K yellow gold "
                                           r"\(M-0007\) reserved"):
        release_moves(item, J40, D(1))
    assert release_moves(item, J40) == []


def test_adjustments_need_a_reason_and_cant_eat_into_reservations():
    item = gold("10", "8", holders={40: (D(8), D(0))})
    with pytest.raises(StockRefused, match="Say why 14K yellow gold"):
        adjust_moves(item, D(-1), SAFE, " ")
    with pytest.raises(StockRefused, match="8.000 g is reserved for jobs and only 2.000 g is "
                                           "available; release it first"):
        adjust_moves(item, D(-3), SAFE, "scale check")
    assert adjust_moves(item, D(-2), SAFE, "scale check")[0].on_hand == D(-2)
    with pytest.raises(StockRefused, match="single stone and is already accounted for"):
        adjust_moves(stone(), D(1), SAFE, "found")


def test_a_stone_is_received_once_and_moves_as_a_whole():
    with pytest.raises(StockRefused, match="single stone and is already here"):
        receive_moves(stone(), D(1), SAFE)
    moves = transfer_moves(stone(), D(1), SAFE, SHOWCASE)
    assert apply(stone(), moves).stock == {SHOWCASE: D(1)}
    with pytest.raises(StockRefused, match="already there"):
        transfer_moves(stone(), D(1), SAFE, SAFE)


def test_only_memo_and_customer_stones_are_given_back_and_not_while_held():
    with pytest.raises(StockRefused, match="the shop's own"):
        give_back_moves(stone(), "")
    memo = stone(ownership="memo")
    assert give_back_moves(memo, "back to dealer")[0].on_hand == D(-1)
    with pytest.raises(StockRefused, match="held by job J-0040"):
        give_back_moves(stone(ownership="memo", reserved=D(1), holders={40: (D(1), D(0))}), "")


def test_the_invariants_catch_a_stone_in_two_places():
    with pytest.raises(StockRefused, match="can't be in two places"):
        check_state(stone(on_hand=D(1), issued=D(1)))
    with pytest.raises(StockRefused, match="one job at a time"):
        check_state(stone(reserved=D(1), holders={40: (D(1), D(0)), 41: (D(0), D(0))}))
    with pytest.raises(StockRefused, match="available can't go below zero"):
        check_state(gold("1", "2"))


# --- new items -------------------------------------------------------------------------------

def test_a_new_stone_is_described_and_checked():
    item = check_new_item(NewItem("stone", species="Diamond", origin="lab_grown",
                                  shape="Round", carat=D("1.02"), colour="G", clarity="VS1",
                                  cert_lab=" gia ", cert_number=" 2141438167 "))
    assert item.description == "1.020 ct round diamond, lab-grown, G VS1"
    assert (item.cert_lab, item.cert_number) == ("GIA", "2141438167")
    with pytest.raises(InvalidInput, match="both the certificate lab"):
        check_new_item(NewItem("stone", species="Diamond", carat=D("1"), cert_number="123"))
    with pytest.raises(InvalidInput, match="carat weight"):
        check_new_item(NewItem("stone", species="Diamond"))
    with pytest.raises(InvalidInput, match="dealer and the date it is due back"):
        check_new_item(NewItem("stone", species="Ruby", carat=D("1"), ownership="memo"))
    with pytest.raises(InvalidInput, match="before its memo date"):
        check_new_item(NewItem("stone", species="Ruby", carat=D("1"), ownership="memo",
                               memo_dealer="R&R", memo_date=date(2026, 5, 2),
                               memo_due_date=date(2026, 5, 1)))


def test_metal_takes_its_fineness_from_the_alloy():
    assert check_new_item(NewItem("metal", alloy="18K white gold")).fineness == 750
    assert check_new_item(NewItem("metal", alloy="Pt950 platinum")).fineness == 950
    assert check_new_item(NewItem("metal", alloy="18K green gold", fineness=750)).fineness == 750
    with pytest.raises(InvalidInput, match="Give the fineness of Mokume"):
        check_new_item(NewItem("metal", alloy="Mokume"))


# --- labels ----------------------------------------------------------------------------------

def _modules(png: bytes, size: int, scale: int = 8, border: int = 1) -> list[list[bool]]:
    image = Image.open(io.BytesIO(png)).convert("L")
    return [[image.getpixel(((c + border) * scale + scale // 2,
                             (r + border) * scale + scale // 2)) < 128 for c in range(size)]
            for r in range(size)]


def test_the_label_qr_code_carries_exactly_the_item_code():
    assert qr_payload(" s-0012 ") == "S-0012"
    expected = segno.make("S-0012", error="m", micro=False)
    size = expected.symbol_size(scale=1, border=0)[0]
    drawn = _modules(qr_png("S-0012"), size)
    assert drawn == [[bool(v) for v in row] for row in expected.matrix]


def test_labels_print_one_per_page_on_a_roll_or_21_to_an_a4_sheet():
    labels = [Label(f"S-{i:04d}", "1.020 ct round diamond", "GIA 2141438167") for i in range(22)]
    roll = label_pdf(labels[:2], "roll", compress=False)
    sheet = label_pdf(labels, "sheet", compress=False)
    assert roll.startswith(b"%PDF") and sheet.startswith(b"%PDF")
    assert len(re.findall(rb"/Type /Page\b", roll)) == 2
    assert len(re.findall(rb"/Type /Page\b", sheet)) == 2            # 21 + 1
    assert b"S-0021" in sheet and b"GIA 2141438167" in sheet
    with pytest.raises(ValueError):
        label_pdf([], "roll")


def test_a_label_says_memo_or_customers_stone():
    row = {"code": "S-0012", "category": "stone", "description": "2.10 ct oval sapphire",
           "cert": None, "ownership": "memo", "carat": D("2.1"), "pieces_received": None}
    assert label_for(row).detail == "MEMO"
    parcel = {"code": "P-0003", "category": "melee", "description": "Melee diamond round",
              "cert": None, "ownership": "owned", "carat": D("2"), "pieces_received": 200}
    assert label_for(parcel).detail == "2.00 ctw / 200 pcs received"
