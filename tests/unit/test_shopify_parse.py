"""Reading Shopify's "Export orders" CSV: each quirk of the format, with the right value.

Files are small and written by the test itself (tmp_path, or bytes in memory); the real
samples are read in tests/integration/test_shopify_samples.py.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.shopify import (
    SHOPIFY_EXPORT_COLUMNS,
    NotAnOrdersExport,
    parse_orders_export,
)
from connectors.shopify_demo import (
    ExportLine,
    ExportOrder,
    demo_export_bytes,
    write_export,
)
from workflow.model import LINE_COLUMNS, ORDER_COLUMNS

COLUMNS = list(SHOPIFY_EXPORT_COLUMNS)
NEW_YORK = ZoneInfo("America/New_York")


def first(name: str, cells: dict | None = None) -> dict:
    """An order's first row, as Shopify fills it."""
    return {"Name": name, "Email": "maya.chen@example.com", "Financial Status": "paid",
            "Currency": "USD", "Subtotal": "100.00", "Shipping": "0.00", "Taxes": "0.00",
            "Total": "100.00", "Created at": "2025-05-11 09:55:16 -0400",
            "Lineitem quantity": "1", "Lineitem name": "Signet Ring - 14K Yellow Gold / 7",
            "Lineitem price": "100.00", "Lineitem requires shipping": "true",
            "Lineitem fulfillment status": "pending", "Refunded Amount": "0.00",
            "Outstanding Balance": "0.00", "Id": "6634244374859", **(cells or {})}


def more(name: str, cells: dict | None = None) -> dict:
    """A continuation row: only Name, Email, Created at and the line item columns."""
    return {"Name": name, "Email": "maya.chen@example.com",
            "Created at": "2025-05-11 09:55:16 -0400", "Lineitem quantity": "1",
            "Lineitem name": "Cable Chain - 14K Yellow Gold / 18\"", "Lineitem price": "150.00",
            "Lineitem requires shipping": "true", "Lineitem fulfillment status": "pending",
            **(cells or {})}


def write(tmp_path: Path, rows: list[dict], columns: list[str] | None = None,
          name: str = "orders.csv") -> Path:
    path = tmp_path / name
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns or COLUMNS, restval="",
                                extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def parse(tmp_path: Path, rows: list[dict], **kw):
    return parse_orders_export(write(tmp_path, rows), **kw)


# --- shape -------------------------------------------------------------------------------------


def test_continuation_rows_are_line_items_of_the_order_above(tmp_path):
    got = parse(tmp_path, [
        first("#1001", {"Total": "1234.50", "Id": "6634244374859"}),
        more("#1001"),
        more("#1001", {"Lineitem name": "Gift Box", "Lineitem quantity": "2",
                       "Lineitem price": "0.00"}),
        first("#1002", {"Id": "6634245652811"}),
    ])
    assert got.problems == []
    assert got.row_count == 4
    assert list(got.orders.columns) == ORDER_COLUMNS
    assert list(got.lines.columns) == LINE_COLUMNS
    assert got.orders["name"].tolist() == ["#1001", "#1002"]
    assert got.orders["first_row"].tolist() == [2, 5]
    assert got.orders["total"].tolist() == ["1234.50", "100.00"]
    lines = got.lines
    assert lines["match_key"].tolist() == ["6634244374859"] * 3 + ["6634245652811"]
    assert lines["line_no"].tolist() == [1, 2, 3, 1]
    assert lines["row_number"].tolist() == [2, 3, 4, 5]
    assert lines["title"].tolist()[2] == "Gift Box"
    assert lines["quantity"].tolist() == [1, 1, 2, 1]
    assert lines["price"].tolist() == ["100.00", "150.00", "0.00", "100.00"]


def test_order_fields_come_from_the_first_row_only(tmp_path):
    got = parse(tmp_path, [
        first("#1001", {"Email": "Maya.Chen@Example.com", "Financial Status": "partially_paid",
                        "Outstanding Balance": "60.00"}),
        more("#1001", {"Email": "someone.else@example.com", "Total": "999.00",
                       "Financial Status": "refunded"}),
    ])
    order = got.orders.iloc[0]
    assert order["email"] == "Maya.Chen@Example.com"
    assert order["customer_key"] == "email:maya.chen@example.com"
    assert order["financial_status"] == "partially_paid"
    assert order["total"] == "100.00"
    assert order["outstanding_balance"] == "60.00"


def test_shopifys_leading_apostrophe_is_removed_from_text(tmp_path):
    got = parse(tmp_path, [first("#1001", {
        "Email": "", "Phone": "'+1 555-0100", "Shipping Address1": "12 Court St",
        "Shipping City": "Hoboken", "Shipping Zip": "'07030", "Shipping Province": "NJ",
        "Shipping Country": "US", "Tags": "'2025, bridal", "Notes": "'-10% agreed by phone",
        "Subtotal": "'100.00",
    })])
    order = got.orders.iloc[0]
    assert order["phone"] == "+1 555-0100"
    assert order["customer_key"] == "phone:+15550100"
    assert order["shipping_address"] == "12 Court St, Hoboken, 07030, NJ, US"
    assert order["tags"] == "2025, bridal"
    assert order["notes"] == "-10% agreed by phone"
    assert order["subtotal"] == "100.00"


def test_an_apostrophe_before_a_letter_is_kept(tmp_path):
    got = parse(tmp_path, [first("#1001", {"Notes": "'Twas a gift", "Billing Name": "D'Arcy"})])
    assert got.orders.iloc[0]["notes"] == "'Twas a gift"
    assert got.orders.iloc[0]["customer_name"] == "D'Arcy"


def test_dates_across_daylight_saving_become_exact_utc_instants(tmp_path):
    got = parse(tmp_path, [
        first("#1001", {"Created at": "2025-03-08 23:30:00 -0500",
                        "Paid at": "2025-03-09 03:30:00 -0400", "Id": "1"}),
        first("#1002", {"Created at": "2025-11-02 01:30:00 -0400",
                        "Cancelled at": "2025-11-02 01:30:00 -0500", "Id": "2"}),
        first("#1003", {"Created at": "2026-01-09 17:47:33 +0500", "Paid at": "", "Id": "3"}),
    ])
    orders = got.orders.set_index("name")
    utc = pd.Timestamp
    assert orders.loc["#1001", "placed_at"] == utc("2025-03-09 04:30:00", tz="UTC")
    assert orders.loc["#1001", "paid_at"] == utc("2025-03-09 07:30:00", tz="UTC")
    assert orders.loc["#1002", "placed_at"] == utc("2025-11-02 05:30:00", tz="UTC")
    assert orders.loc["#1002", "cancelled_at"] == utc("2025-11-02 06:30:00", tz="UTC")
    assert orders.loc["#1003", "placed_at"] == utc("2026-01-09 12:47:33", tz="UTC")
    assert pd.isna(orders.loc["#1003", "paid_at"])
    assert str(got.orders["placed_at"].dt.tz) == "UTC"


def test_the_shopify_id_is_kept_exactly_as_text(tmp_path):
    # 2**53 + 1 does not survive a float; neither would a 13-digit id written as 6.6e12
    got = parse(tmp_path, [first("#1001", {"Id": "9007199254740993"}),
                           first("#1002", {"Id": "6864906191128"})])
    assert got.orders["match_key"].tolist() == ["9007199254740993", "6864906191128"]
    assert got.orders["external_id"].tolist() == ["9007199254740993", "6864906191128"]


def test_an_order_without_an_id_is_matched_by_its_name(tmp_path):
    got = parse(tmp_path, [first("#AP-516073", {"Id": ""}), more("#AP-516073")])
    order = got.orders.iloc[0]
    assert order["match_key"] == "name:#AP-516073"
    assert pd.isna(order["external_id"])
    assert got.lines["match_key"].tolist() == ["name:#AP-516073"] * 2


def test_an_id_in_scientific_notation_is_refused_because_it_lost_digits(tmp_path):
    got = parse(tmp_path, [first("#1001", {"Id": "6.86491E+12"}), first("#1002", {"Id": "7"})])
    assert got.orders["name"].tolist() == ["#1002"]
    (problem,) = got.problems
    assert (problem.row_number, problem.column, problem.value) == (2, "Id", "6.86491E+12")
    assert "scientific notation" in problem.reason


@pytest.mark.parametrize(("cell", "normalised"), [
    ("1234.50", "1234.50"), ("1234.5", "1234.50"), ("0", "0.00"), ("0.00", "0.00"),
    ("-5.00", "-5.00"), ("-5", "-5.00"), ("-0.00", "0.00"), ("007.10", "7.10"),
    ("12.500", "12.50"), (".5", "0.50"), ("+3", "3.00"), ("", "0.00"),
])
def test_money_is_normalised_to_two_decimals(tmp_path, cell, normalised):
    got = parse(tmp_path, [first("#1001", {"Total": cell, "Refunded Amount": cell,
                                           "Shipping": cell})])
    assert got.problems == []
    order = got.orders.iloc[0]
    assert (order["total"], order["refunded_amount"], order["shipping"]) == (normalised,) * 3


def test_a_line_price_is_normalised_too(tmp_path):
    got = parse(tmp_path, [first("#1001", {"Lineitem price": "45"})])
    assert got.lines["price"].tolist() == ["45.00"]


def test_a_missing_money_column_is_empty_not_zero(tmp_path):
    columns = [c for c in COLUMNS if c != "Outstanding Balance"]
    got = parse_orders_export(write(tmp_path, [first("#1001")], columns))
    assert got.orders["outstanding_balance"].isna().all()


# --- problems: named exactly, and the whole order left out -------------------------------------


@pytest.mark.parametrize(("cell", "reason"), [
    ("12,50", "is not an amount like 1234.50"),
    ("USD 12", "is not an amount like 1234.50"),
    ("1.2E+3", "is not an amount like 1234.50"),
    ("12.345", "has more than 2 decimal places"),
])
def test_a_bad_amount_leaves_the_whole_order_out_and_names_the_cell(tmp_path, cell, reason):
    got = parse(tmp_path, [
        first("#1001", {"Id": "1"}), more("#1001"),
        first("#1002", {"Id": "2", "Total": cell}), more("#1002"),
        first("#1003", {"Id": "3"}),
    ])
    assert got.orders["name"].tolist() == ["#1001", "#1003"]
    assert got.lines["match_key"].tolist() == ["1", "1", "3"]
    (problem,) = got.problems
    assert problem.file_name == "orders.csv"
    assert problem.row_number == 4
    assert problem.column == "Total"
    assert problem.value == cell
    assert problem.reason == reason
    assert problem.order_name == "#1002"
    assert str(problem) == f"orders.csv, row 4, column 'Total', value {cell!r}: {reason}"


def test_a_bad_price_on_a_continuation_row_leaves_the_whole_order_out(tmp_path):
    got = parse(tmp_path, [
        first("#1001", {"Id": "1"}), more("#1001", {"Lineitem price": "forty"}),
        first("#1002", {"Id": "2"}),
    ])
    assert got.orders["name"].tolist() == ["#1002"]
    assert got.lines["match_key"].tolist() == ["2"]
    (problem,) = got.problems
    assert (problem.row_number, problem.column, problem.value, problem.order_name) == (
        3, "Lineitem price", "forty", "#1001")


def test_a_blank_line_price_is_a_problem_not_zero(tmp_path):
    got = parse(tmp_path, [first("#1001", {"Lineitem price": ""})])
    assert got.orders.empty
    assert got.problems[0].reason == "is blank; an amount is needed"


def test_a_date_that_cannot_be_read_leaves_the_order_out(tmp_path):
    got = parse(tmp_path, [first("#1001", {"Id": "1", "Paid at": "yesterday"}),
                           first("#1002", {"Id": "2"})])
    assert got.orders["name"].tolist() == ["#1002"]
    (problem,) = got.problems
    assert (problem.file_name, problem.row_number, problem.column, problem.value) == (
        "orders.csv", 2, "Paid at", "yesterday")
    assert "not a date" in problem.reason


@pytest.mark.parametrize("cell", ["0", "1.5", "-1", "", "two"])
def test_a_quantity_must_be_a_positive_whole_number(tmp_path, cell):
    got = parse(tmp_path, [first("#1001", {"Id": "1"}), more("#1001", {"Lineitem quantity": cell}),
                           first("#1002", {"Id": "2"})])
    assert got.orders["name"].tolist() == ["#1002"]
    (problem,) = got.problems
    assert (problem.row_number, problem.column, problem.value) == (3, "Lineitem quantity", cell)


def test_a_row_with_a_blank_name_is_a_problem_and_its_order_is_left_out(tmp_path):
    got = parse(tmp_path, [first("#1001", {"Id": "1"}), more(""), first("#1002", {"Id": "2"})])
    assert got.orders["name"].tolist() == ["#1002"]
    assert got.lines["match_key"].tolist() == ["2"]
    (problem,) = got.problems
    assert (problem.row_number, problem.column, problem.value) == (3, "Name", "")
    assert problem.order_name == "#1001"
    assert problem.reason.startswith("Name is blank")


def test_a_first_row_with_a_blank_name_is_a_problem_on_its_own(tmp_path):
    got = parse(tmp_path, [first("#1001", {"Id": "1"}), first("", {"Id": "2"}),
                           first("#1003", {"Id": "3"})])
    assert got.orders["name"].tolist() == ["#1001", "#1003"]
    assert [(p.row_number, p.reason, p.order_name) for p in got.problems] == [
        (3, "Name is blank", "")]


def test_an_order_whose_rows_are_in_two_places_is_left_out(tmp_path):
    got = parse(tmp_path, [first("#1001", {"Id": "1"}), first("#1002", {"Id": "2"}),
                           more("#1001")])
    assert got.orders["name"].tolist() == ["#1002"]
    assert [(p.row_number, p.column, p.order_name) for p in got.problems] == [
        (2, "Name", "#1001"), (4, "Name", "#1001")]
    assert "starting at rows 2 and 4" in got.problems[0].reason


def test_two_orders_with_the_same_id_are_both_left_out(tmp_path):
    got = parse(tmp_path, [first("#1001", {"Id": "5"}), first("#1002", {"Id": "5"}),
                           first("#1003", {"Id": "6"})])
    assert got.orders["name"].tolist() == ["#1003"]
    assert [p.row_number for p in got.problems] == [2, 3]


def test_a_quoted_multiline_cell_counts_as_one_row(tmp_path):
    got = parse(tmp_path, [
        first("#1001", {"Id": "1", "Note Attributes": "Engraving: J + M\nGift wrap: yes\n"
                                                      "Ring size confirmed: no"}),
        first("#1002", {"Id": "2", "Total": "n/a"}),
        first("#1003", {"Id": "3"}),
    ])
    assert got.orders.iloc[0]["note_attributes"] == ("Engraving: J + M\nGift wrap: yes\n"
                                                     "Ring size confirmed: no")
    assert got.orders["first_row"].tolist() == [2, 4]
    assert [(p.row_number, p.value) for p in got.problems] == [(3, "n/a")]


def test_a_row_with_too_few_cells_is_a_problem_and_row_numbers_stay_right(tmp_path):
    path = write(tmp_path, [first("#1001", {"Id": "1", "Notes": "line one\nline two"}),
                            first("#1002", {"Id": "2"}), first("#1003", {"Id": "3"})])
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[3] = ",".join(lines[3].split(",")[:20])  # #1002's row, cut short
    path.write_text("\n".join(lines), encoding="utf-8")
    got = parse_orders_export(path)
    assert got.orders["name"].tolist() == ["#1001", "#1003"]
    assert [(p.row_number, p.column, p.order_name) for p in got.problems] == [
        (3, "(whole row)", "#1002")]
    assert "has 20 cells where the header has 79" in got.problems[0].reason


def test_empty_rows_are_skipped_and_other_rows_keep_their_numbers(tmp_path):
    got = parse(tmp_path, [first("#1001", {"Id": "1"}), {}, first("#1002", {"Id": "2",
                                                                            "Total": "x"}), {}])
    assert got.orders["name"].tolist() == ["#1001"]
    assert [p.row_number for p in got.problems] == [4]
    assert "2 empty rows were skipped." in got.notes
    assert got.row_count == 4


# --- what the file is --------------------------------------------------------------------------


def test_a_file_without_a_name_column_is_refused_in_one_sentence(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text("Handle,Title,Body (HTML),Vendor\nridge-ring,Ridge Ring,,Luna\n")
    with pytest.raises(NotAnOrdersExport) as caught:
        parse_orders_export(path)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == (
        "products.csv has no Name column; this doesn't look like a Shopify orders export "
        "(it has columns: Handle, Title, Body (HTML), Vendor).")


def test_an_empty_file_is_refused(tmp_path):
    with pytest.raises(NotAnOrdersExport, match="empty"):
        parse_orders_export(b"", file_name="orders.csv")


def test_a_missing_optional_column_is_noted_once(tmp_path):
    columns = [c for c in COLUMNS if c not in ("Id", "Email")]
    got = parse_orders_export(write(tmp_path, [first("#1001"), more("#1001")], columns))
    assert got.problems == []
    assert "The file has no 'Id' column: orders are matched by Name." in got.notes
    assert sum("'Email'" in note for note in got.notes) == 1
    assert got.orders.iloc[0]["match_key"] == "name:#1001"
    assert pd.isna(got.orders.iloc[0]["external_id"])
    assert pd.isna(got.orders.iloc[0]["email"])


def test_an_older_73_column_export_reads_with_notes(tmp_path):
    newer = {"Payment ID", "Payment Terms Name", "Next Payment Due At", "Payment References",
             "Outstanding Balance", "Employee"}
    columns = [c for c in COLUMNS if c not in newer]
    assert len(columns) == 73
    got = parse_orders_export(write(tmp_path, [first("#1001")], columns))
    assert got.problems == []
    assert len(got.orders) == 1
    assert got.notes == ["The file has no 'Outstanding Balance' column: outstanding_balance is "
                         "left empty."]


def test_only_name_is_required(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("Name\n#1001\n#1001\n#1002\n")
    got = parse_orders_export(path)
    assert got.problems == []
    assert got.orders["match_key"].tolist() == ["name:#1001", "name:#1002"]
    assert got.lines["line_no"].tolist() == [1, 2, 1]
    assert got.lines["quantity"].tolist() == [1, 1, 1]
    assert got.orders["total"].isna().all()
    assert pd.isna(got.orders.iloc[0]["placed_at"])


def test_a_bom_and_crlf_file_from_excel_reads_the_same(tmp_path):
    plain = write(tmp_path, [first("#1001"), more("#1001")])
    excel = tmp_path / "excel.csv"
    excel.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes().replace(b"\n", b"\r\n"))
    a, b = parse_orders_export(plain), parse_orders_export(excel)
    assert b.problems == []
    pd.testing.assert_frame_equal(a.orders, b.orders)
    pd.testing.assert_frame_equal(a.lines, b.lines)


def test_a_semicolon_file_with_dates_without_offset_reads_in_the_shop_zone(tmp_path):
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Name", "Id", "Created at", "Total", "Lineitem name", "Lineitem quantity",
                     "Lineitem price"])
    writer.writerow(["#1001", "1", "31/12/2023 22:36", "0", "Signet Ring - 7", "1", "0"])
    writer.writerow(["#1002", "2", "01/07/2024 09:05", "12,50", "Chain", "1", "12.50"])
    got = parse_orders_export(buffer.getvalue().encode("cp1252"), file_name="excel.csv",
                              shop_tz="America/New_York")
    assert got.orders["name"].tolist() == ["#1001", "#1002"]
    assert got.orders.iloc[0]["placed_at"] == pd.Timestamp("2024-01-01 03:36", tz="UTC")
    # a ;-file's decimal comma is read (test_decimal_commas_of_a_semicolon_file_...)
    assert got.orders["total"].tolist() == ["0.00", "12.50"]
    assert got.problems == []
    assert any("semicolons" in note for note in got.notes)
    assert "2 dates in 'Created at' have no UTC offset (the file went through a " \
        "spreadsheet?): read as America/New_York time, day/month/year." in got.notes


@pytest.mark.parametrize(("cell", "utc", "reason"), [
    ("2025-07-01 09:05", "2025-07-01 13:05", None),
    ("2025-12-01 09:05:30", "2025-12-01 14:05:30", None),
    ("2025-11-02 01:30:00", None, "hour that repeats when daylight saving ends"),
    ("2025-03-09 02:30:00", None, "hour skipped when daylight saving starts"),
])
def test_a_date_that_lost_its_offset_is_read_in_the_shop_zone_unless_it_is_no_moment(
        tmp_path, cell, utc, reason):
    got = parse(tmp_path, [first("#1001", {"Created at": cell})], shop_tz="America/New_York")
    if reason is None:
        assert got.problems == []
        assert got.orders.iloc[0]["placed_at"] == pd.Timestamp(utc, tz="UTC")
        assert got.notes == ["1 date in 'Created at' has no UTC offset (the file went "
                             "through a spreadsheet?): read as America/New_York time."]
    else:
        assert got.orders.empty
        (problem,) = got.problems
        assert (problem.column, problem.value) == ("Created at", cell)
        assert reason in problem.reason and "America/New_York" in problem.reason


def test_slash_dates_are_month_first_when_the_file_says_so(tmp_path):
    got = parse(tmp_path, [first("#1001", {"Id": "1", "Created at": "12/31/2023 22:36"}),
                           first("#1002", {"Id": "2", "Created at": "01/02/2024 09:00"})],
                shop_tz="America/New_York")
    assert got.orders["placed_at"].tolist() == [pd.Timestamp("2024-01-01 03:36", tz="UTC"),
                                                pd.Timestamp("2024-01-02 14:00", tz="UTC")]
    assert any("month/day/year." in note for note in got.notes)


def test_spanish_and_portuguese_names_in_windows_1252_are_not_read_as_central_european():
    # These bytes decode as well in cp1250 ("Peńa", "Joăo"): Windows-1252 is taken on a tie.
    text = ("Name;Billing Name;Lineitem name\r\n#1001;José Peña;Ring\r\n"
            "#1002;João Cañón;Band\r\n")
    got = parse_orders_export(text.encode("cp1252"), file_name="orders.csv")
    assert got.orders["customer_name"].tolist() == ["José Peña", "João Cañón"]
    assert any("read as Windows-1252 (detected)" in note for note in got.notes)


def test_a_windows_1252_file_is_read_and_said(tmp_path):
    text = "Name,Billing Name,Lineitem name\n#1001,Zoë Müller,Ring - N½\n"
    got = parse_orders_export(text.encode("cp1252"), file_name="orders.csv")
    assert got.orders.iloc[0]["customer_name"] == "Zoë Müller"
    assert got.lines.iloc[0]["ring_size_text"] == "N½"
    assert any("Windows-1252" in note for note in got.notes)


def test_a_path_bytes_or_an_upload_are_all_read(tmp_path):
    path = write(tmp_path, [first("#1001")], name="may.csv")

    class Upload(io.BytesIO):  # what Streamlit's UploadedFile looks like to us
        name = "upload.csv"

    assert parse_orders_export(str(path)).file_name == "may.csv"
    assert parse_orders_export(path.read_bytes()).file_name == "orders export"
    assert parse_orders_export(path.read_bytes(), file_name="x.csv").file_name == "x.csv"
    upload = Upload(path.read_bytes())
    upload.read()  # a page may have read it already
    got = parse_orders_export(upload)
    assert got.file_name == "upload.csv"
    assert got.orders["name"].tolist() == ["#1001"]


def test_an_unknown_shop_time_zone_is_refused():
    with pytest.raises(ValueError, match="Unknown time zone 'Mars/Olympus'"):
        parse_orders_export(b"Name\n#1\n", shop_tz="Mars/Olympus")


# --- customers and line items ------------------------------------------------------------------


def test_the_customer_key_is_email_then_phone_then_name(tmp_path):
    got = parse(tmp_path, [
        first("#1", {"Id": "1", "Email": " Maya.Chen@Example.COM ", "Phone": "+1 555-0100"}),
        first("#2", {"Id": "2", "Email": "", "Billing Phone": "'+1 (555) 010-0199",
                     "Billing Name": "Zoë Chen"}),
        first("#3", {"Id": "3", "Email": "", "Shipping Phone": "0300 555 0101"}),
        first("#4", {"Id": "4", "Email": "", "Billing Name": "  Jordan Lee "}),
        first("#5", {"Id": "5", "Email": "", "Shipping Name": "Avery Clark"}),
        first("#6", {"Id": "6", "Email": ""}),
    ])
    orders = got.orders
    assert orders["customer_key"].tolist()[:5] == [
        "email:maya.chen@example.com", "phone:+15550100199", "phone:03005550101",
        "name:jordan lee", "name:avery clark"]
    assert pd.isna(orders["customer_key"].iloc[5])
    assert [None if pd.isna(n) else n for n in orders["customer_name"]] == [
        "Maya.Chen@Example.COM", "Zoë Chen", None, "Jordan Lee", "Avery Clark", None]
    assert orders["phone"].tolist()[:3] == ["+1 555-0100", "+1 (555) 010-0199", "0300 555 0101"]


@pytest.mark.parametrize(("cell", "accepts"), [("yes", True), ("TRUE", True), ("no", False),
                                               ("false", False), ("", False)])
def test_accepts_marketing_is_yes_or_true(tmp_path, cell, accepts):
    got = parse(tmp_path, [first("#1001", {"Accepts Marketing": cell})])
    assert got.orders["accepts_marketing"].tolist() == [accepts]


@pytest.mark.parametrize(("title", "options", "size"), [
    ("Ridge Ring - Rhodium Plating / 8", "Rhodium Plating / 8", "8"),
    ("Solitaire Engagement Ring - 14K Yellow Gold / 6.5", "14K Yellow Gold / 6.5", "6.5"),
    ("Signet Ring - 7 1/2", "7 1/2", "7 1/2"),
    ("Eternity Ring - Platinum / N½", "Platinum / N½", "N½"),
    ("Eternity Ring - Platinum / N 1/2", "Platinum / N 1/2", "N 1/2"),
    ("Wedding Ring - 18K White Gold / EU 54", "18K White Gold / EU 54", "EU 54"),
    ("Stacking Ring - 16", "16", "16"),
    ("Stacking Ring - 17", "17", None),
    ("Hoop Earrings - 14K Yellow Gold / 7", "14K Yellow Gold / 7", None),
    ("Initial Pendant - Sterling Silver / M", "Sterling Silver / M", None),
    ("Birthstone Ring - April, Diamond / 18K Gold-plated", "April, Diamond / 18K Gold-plated",
     None),
    ("Custom 4ct + 1ct x 2 Moissanite Ring", "", None),
    ("Emani -", "", None),
])
def test_the_ring_size_is_lifted_from_the_variant_options(tmp_path, title, options, size):
    got = parse(tmp_path, [first("#1001", {"Lineitem name": title})])
    line = got.lines.iloc[0]
    assert line["title"] == title
    assert line["options"] == options
    assert (None if pd.isna(line["ring_size_text"]) else line["ring_size_text"]) == size


def test_line_flags_and_statuses(tmp_path):
    got = parse(tmp_path, [
        first("#1001", {"Lineitem requires shipping": "false", "Lineitem sku": "SIG-14Y-7",
                        "Vendor": "Atelier Workshop", "Lineitem fulfillment status": "fulfilled"}),
        more("#1001", {"Lineitem requires shipping": ""}),
    ])
    lines = got.lines
    assert lines["requires_shipping"].tolist() == [False, pd.NA]
    assert lines["sku"].tolist()[0] == "SIG-14Y-7"
    assert lines["vendor"].tolist()[0] == "Atelier Workshop"
    assert lines["fulfillment_status"].tolist() == ["fulfilled", "pending"]


# --- the demo generator, and a round trip ------------------------------------------------------


def test_the_demo_export_parses_with_no_problems():
    data = demo_export_bytes(400, seed=11)
    text = data.decode("utf-8")
    header = next(csv.reader(io.StringIO(text)))
    assert header == COLUMNS
    got = parse_orders_export(data, file_name="demo.csv", shop_tz="America/New_York")
    assert got.problems == []
    assert got.notes == []
    assert len(got.orders) == 400
    assert got.orders["name"].tolist() == [f"#{n}" for n in range(1400, 1000, -1)]
    assert got.orders["external_id"].str.fullmatch(r"\d{13}").all()
    assert len(got.lines) == got.row_count
    multi = got.lines.groupby("match_key").size().gt(1).mean()
    assert 0.22 < multi < 0.38
    assert got.lines["ring_size_text"].notna().sum() > 50
    assert " -0500" in text and " -0400" in text  # daylight saving inside one file
    assert ",'+1 " in text and ",'0" in text        # apostrophe-guarded phones and zips
    assert "Engraving: " in text
    assert set(got.orders["financial_status"]) >= {"paid", "partially_paid", "refunded",
                                                    "voided"}
    assert got.orders["cancelled_at"].notna().sum() > 0
    assert demo_export_bytes(400, seed=11) == data  # deterministic


names = st.tuples(st.sampled_from(["#", "#AP-", "#W"]), st.integers(1000, 999_999))
cents = st.integers(-10**8, 10**10)
texts = st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "S"],
                              exclude_characters="'") | st.sampled_from([" ", "\n", ","]),
                max_size=30).map(str.strip)
lines_st = st.lists(st.tuples(
    st.sampled_from(["Signet Ring", "Cable Chain", "Stud Earrings", "Band, \"Classic\""]),
    st.sampled_from(["", " - 14K Yellow Gold / 7", " - Platinum / N½", " - 18\""]),
    st.integers(1, 50), st.integers(0, 10**9)), min_size=1, max_size=4)
orders_st = st.lists(st.tuples(
    names, st.one_of(st.none(), st.integers(10**12, 10**13 - 1)),
    st.datetimes(datetime(2024, 1, 1), datetime(2026, 12, 31), allow_imaginary=False,
                 timezones=st.sampled_from([NEW_YORK, ZoneInfo("Europe/London"),
                                            ZoneInfo("Asia/Karachi")])),
    cents, texts, lines_st), min_size=1, max_size=8, unique_by=lambda o: o[0]).filter(
    lambda orders: len({o[1] for o in orders if o[1]}) == sum(1 for o in orders if o[1]))


def _money(c: int) -> str:
    return f"{'-' if c < 0 else ''}{abs(c) // 100}.{abs(c) % 100:02d}"


def as_flavour(text: str, flavour: str) -> bytes:
    """Shopify's two export flavours: "Plain CSV file" (UTF-8, LF) and "CSV for Excel, Numbers,
    or other spreadsheet programs" (a UTF-8 BOM and CRLF between records)."""
    if flavour == "plain":
        return text.encode("utf-8")
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(csv.reader(io.StringIO(text, newline="")))
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders_st, st.sampled_from(["plain", "excel"]))
def test_orders_written_in_shopify_format_come_back_the_same(drawn, flavour):
    orders = []
    for (prefix, number), order_id, created, total, note, lines in drawn:
        orders.append(ExportOrder(
            name=f"{prefix}{number}", id="" if order_id is None else str(order_id),
            created_at=created.replace(microsecond=0), total=Decimal(total).scaleb(-2),
            notes=note,
            lines=[ExportLine(title=title + options, quantity=qty,
                              price=Decimal(price).scaleb(-2))
                   for title, options, qty, price in lines]))
    buffer = io.StringIO(newline="")
    rows = write_export(buffer, orders)
    got = parse_orders_export(as_flavour(buffer.getvalue(), flavour), file_name="drawn.csv")
    assert got.problems == []
    assert got.row_count == rows == sum(len(o.lines) for o in orders)
    back = got.orders
    assert back["name"].tolist() == [o.name for o in orders]
    assert back["match_key"].tolist() == [o.id or f"name:{o.name}" for o in orders]
    assert back["total"].tolist() == [_money(t) for *_, t, _, _ in drawn]
    assert back["placed_at"].tolist() == [
        pd.Timestamp(o.created_at.astimezone(UTC)) for o in orders]
    assert [None if pd.isna(n) else n for n in back["notes"]] == [o.notes or None
                                                                  for o in orders]
    expected_lines = [(o.id or f"name:{o.name}", i, line.title, line.quantity,
                       f"{line.price:.2f}")
                      for o in orders for i, line in enumerate(o.lines, start=1)]
    assert list(got.lines[["match_key", "line_no", "title", "quantity", "price"]]
                .itertuples(index=False, name=None)) == expected_lines


def test_ambiguous_slash_dates_are_flagged_and_the_person_can_say_day_first(tmp_path):
    rows = [first("#1001", {"Id": "1", "Created at": "03/04/2024 10:00"}),
            first("#1002", {"Id": "2", "Created at": "05/06/2024 11:00"})]
    guessed = parse(tmp_path, rows, shop_tz="UTC")
    assert guessed.date_order_guessed  # nothing in the file tells 3 April from 4 March
    day_first = parse(tmp_path, rows, shop_tz="UTC", day_first=True)
    month_first = parse(tmp_path, rows, shop_tz="UTC", day_first=False)
    assert not day_first.date_order_guessed and not month_first.date_order_guessed
    assert day_first.orders.iloc[0]["placed_at"] == pd.Timestamp("2024-04-03 10:00", tz="UTC")
    assert month_first.orders.iloc[0]["placed_at"] == pd.Timestamp("2024-03-04 10:00",
                                                                   tz="UTC")


def test_a_file_whose_dates_say_their_order_is_not_flagged(tmp_path):
    got = parse(tmp_path, [first("#1001", {"Id": "1", "Created at": "31/12/2023 22:36"})],
                shop_tz="UTC")
    assert not got.date_order_guessed
    assert got.orders.iloc[0]["placed_at"] == pd.Timestamp("2023-12-31 22:36", tz="UTC")


def test_blank_and_repeated_headers_are_reported_not_collapsed():
    text = ("Name,Email,,Email,Lineitem name\n"
            "#1001,first@example.com,x,second@example.com,Ring\n")
    got = parse_orders_export(text.encode("utf-8"), file_name="edited.csv")
    assert got.orders.iloc[0]["email"] == "first@example.com"  # the first Email is read
    assert "Column 3 has no header; it was kept as '(column 3)' and not read." in got.notes
    assert any("The header 'Email' appears more than once (again in column 4)" in n
               for n in got.notes)


def test_a_file_in_another_single_byte_encoding_is_detected_and_said():
    # A Russian shop's Excel saves Windows-1251: not UTF-8, and not Windows-1252 either.
    text = ("Name,Billing Name,Lineitem name\n"
            "#1001,Анна Иванова,Кольцо с бриллиантом из белого золота\n")
    got = parse_orders_export(text.encode("cp1251"), file_name="ru.csv")
    assert got.orders.iloc[0]["customer_name"] == "Анна Иванова"
    assert any("isn't UTF-8; it was read as cp1251 (detected)" in note for note in got.notes)


def test_decimal_commas_of_a_semicolon_file_are_read_and_said():
    text = ("Name;Id;Financial Status;Currency;Total;Subtotal;Lineitem name;Lineitem price\r\n"
            "#1001;6400000000001;paid;EUR;1659,95;1.234,50;Ring;1234,5\r\n"
            "#1002;6400000000002;paid;EUR;0;0;Band;12\r\n")
    got = parse_orders_export(text.encode("utf-8"), file_name="eu.csv")
    assert got.problems == []
    assert got.orders[["total", "subtotal"]].values.tolist() == [["1659.95", "1234.50"],
                                                                 ["0.00", "0.00"]]
    assert got.lines["price"].tolist() == ["1234.50", "12.00"]
    assert any("decimal commas (1659,95)" in note for note in got.notes)


def test_a_comma_in_an_amount_of_a_comma_separated_file_is_still_refused():
    # "12,50" in a file Shopify wrote can't be told from a thousands separator: refused.
    text = 'Name,Id,Total,Lineitem name\n#1001,6400000000001,"12,50",Ring\n'
    got = parse_orders_export(text.encode("utf-8"), file_name="us.csv")
    assert [(p.column, p.value) for p in got.problems] == [("Total", "12,50")]


@pytest.mark.parametrize(("data", "kind"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
    (b"PK\x03\x04\x14\x00\x06\x00", "a zip file; an Excel workbook (.xlsx) is one: save it "
                                     "as CSV first"),
    (b"%PDF-1.7\n", "a PDF"),
    (b"Name,Id\x00\x01\x02", "not text"),
])
def test_a_file_that_is_not_a_csv_is_refused_saying_what_it_is(data, kind):
    with pytest.raises(NotAnOrdersExport) as caught:
        parse_orders_export(data, file_name="orders.csv")
    assert str(caught.value) == (f"orders.csv is not a CSV file (it is {kind}); in Shopify, "
                                 "export the orders as CSV and upload that file.")
