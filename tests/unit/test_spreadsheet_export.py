"""Exports open safely in a spreadsheet: text that looks like a formula is neutralised."""

import io
import zipfile
from datetime import date

import openpyxl
import pandas as pd
import pytest

from connectors.spreadsheet_export import safe_cell, to_csv_bytes, to_xlsx_bytes


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\")", "+44 20 7946 0000", "-5",
                                  "@SUM(A1)", "\tx", "\rx"])
def test_text_a_spreadsheet_would_run_gets_an_apostrophe(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["Ring", "J-0001", "#1001", "", "a=b"])
def test_ordinary_text_is_left_alone(value):
    assert safe_cell(value) == value


def test_numbers_stay_numbers_and_missing_values_are_blank():
    assert safe_cell(-5) == -5 and safe_cell(2.5) == 2.5
    assert safe_cell(None) == "" and safe_cell(float("nan")) == ""


def test_csv_and_xlsx_hold_the_neutralised_text_and_the_numbers():
    frame = pd.DataFrame({"customer": ["=cmd|' /C calc'!A0", "Ana"], "total": [10.5, 20]})
    csv_text = to_csv_bytes(frame).decode("utf-8-sig")
    assert csv_text.splitlines() == ["customer,total", "'=cmd|' /C calc'!A0,10.5", "Ana,20.0"]
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes(frame, "Jobs"))).active
    assert sheet.title == "Jobs"
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["customer", "total"], ["=cmd|' /C calc'!A0", 10.5], ["Ana", 20]]
    # a text cell, not a formula: Excel shows it as typed and never runs it
    assert [c.data_type for c in sheet[2]] == ["s", "n"]
    raw = zipfile.ZipFile(io.BytesIO(to_xlsx_bytes(frame))).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in raw



def test_the_board_export_reads_in_the_workshops_words():
    from pages.common import jobs_for_people

    frame = pd.DataFrame({"job_number": ["J-0042"], "state": ["in_production"],
                          "piece": ["Signet ring"], "quantity": [2], "customer": ["Ana"],
                          "email": [""], "order_name": ["#1001"],
                          "promised_date": [pd.Timestamp("2026-12-24")], "days_in_stage": [3],
                          "rush": [True], "overdue": [False], "assignee": ["Eli"]})
    out = jobs_for_people(frame)
    assert list(out.columns) == ["Job", "Stage", "Piece", "Pieces", "Customer", "Email", "Order",
                                 "Promised", "Days in stage", "Rush", "Overdue", "Assignee"]
    assert out.iloc[0].tolist() == ["J-0042", "In production", "Signet ring", 2, "Ana", "",
                                    "#1001", date(2026, 12, 24), 3, "yes", "no", "Eli"]
