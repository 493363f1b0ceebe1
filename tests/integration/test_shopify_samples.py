"""The three real Shopify exports in ../shared/samples read with exact counts and values.

Counts are made a second time here with the stdlib csv module, independently of the parser,
and compared; the literal figures are those of ../shared/samples/README.md.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from connectors.shopify import SHOPIFY_EXPORT_COLUMNS, parse_orders_export
from connectors.shopify_demo import demo_export_bytes

SAMPLES = {  # file: (rows, orders), as the samples README gives them
    "jewelry_store_pkr_2026.csv": (182, 140),
    "dev_store_eur_2025.csv": (40, 19),
    "dev_store_inr_2025.csv": (121, 51),
}


def count_with_stdlib(path: Path) -> dict[str, int]:
    """Rows, orders (runs of adjacent rows with one Name) and distinct customers (email, else
    the digits and + of Phone/Billing Phone/Shipping Phone, else billing or shipping name),
    reading order-level cells from each order's first row."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    firsts = [row for i, row in enumerate(rows) if i == 0 or row["Name"] != rows[i - 1]["Name"]]
    customers = set()
    for row in firsts:
        email = row["Email"].strip().lower()
        phone_cell = next((row[c] for c in ("Phone", "Billing Phone", "Shipping Phone")
                           if row[c].strip()), "")
        phone = "".join(ch for ch in phone_cell if ch.isdigit() or ch == "+")
        name = (row["Billing Name"].strip() or row["Shipping Name"].strip()).lower()
        if email:
            customers.add("email:" + email)
        elif phone.strip("+"):
            customers.add("phone:" + phone)
        elif name:
            customers.add("name:" + name)
    return {"rows": len(rows), "orders": len(firsts), "customers": len(customers)}


@pytest.fixture(scope="module")
def shopify_dir(samples_dir: Path) -> Path:
    return samples_dir / "shopify"


@pytest.mark.parametrize("sample", list(SAMPLES))
def test_a_real_export_reads_with_the_counts_the_stdlib_finds(shopify_dir, sample):
    path = shopify_dir / sample
    expected = count_with_stdlib(path)
    got = parse_orders_export(path)
    assert got.problems == []
    assert got.notes == []
    assert got.file_name == sample
    assert got.row_count == expected["rows"]
    assert len(got.lines) == expected["rows"]
    assert len(got.orders) == expected["orders"]
    assert got.orders["customer_key"].nunique() == expected["customers"]
    assert (got.row_count, len(got.orders)) == SAMPLES[sample]


def test_the_literal_counts_of_the_samples_readme(shopify_dir):
    got = {s: parse_orders_export(shopify_dir / s) for s in SAMPLES}
    assert {s: (g.row_count, len(g.lines), len(g.orders)) for s, g in got.items()} == {
        "jewelry_store_pkr_2026.csv": (182, 182, 140),
        "dev_store_eur_2025.csv": (40, 40, 19),
        "dev_store_inr_2025.csv": (121, 121, 51),
    }


def test_the_jewelry_export_keeps_ids_sizes_zips_and_the_multiline_cell(shopify_dir):
    path = shopify_dir / "jewelry_store_pkr_2026.csv"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == list(SHOPIFY_EXPORT_COLUMNS)
        ids = [row["Id"] for row in reader if row["Id"]]
    got = parse_orders_export(path)
    orders = got.orders.set_index("name")
    assert got.orders["external_id"].tolist() == ids
    assert got.orders["external_id"].str.fullmatch(r"\d{13}").all()

    sized = got.lines.dropna(subset=["ring_size_text"])
    assert sorted(zip(sized["title"], sized["ring_size_text"], strict=True)) == [
        ("Aeris Ring - 4", "4"),
        ("Beaded Milgrain Ring - 8", "8"),
        ("Clara Ring - 6.5 / Gold", "6.5"),
        ("Ridge Ring - Rhodium Plating / 8", "8"),
        ("Ridge Ring - Rhodium Plating / 8", "8"),
        ("Twin Pearl Ring - 7", "7"),
    ]
    assert "Rhodium Plating / 8" in set(got.lines["options"])

    addresses = got.orders["shipping_address"].dropna()
    assert not addresses.str.contains("'").any()
    assert addresses.str.contains("75500").sum() >= 7
    multiline = got.orders["note_attributes"].dropna()
    assert multiline.str.contains("\n").sum() == 1
    assert multiline[multiline.str.contains("\n")].iloc[0].startswith("hxs_courier_name: ")

    assert got.orders["financial_status"].value_counts().to_dict() == {
        "paid": 131, "voided": 5, "refunded": 2, "expired": 1, "pending": 1}
    assert got.orders["cancelled_at"].notna().sum() == 9
    assert set(got.orders["currency"]) == {"PKR"}
    # Pakistan has no daylight saving: +0500 throughout
    assert orders.loc["#1140", "placed_at"] == pd.Timestamp("2026-01-09 12:47:33", tz="UTC")


def test_the_eur_dev_store_export(shopify_dir):
    got = parse_orders_export(shopify_dir / "dev_store_eur_2025.csv")
    orders = got.orders.set_index("name")
    assert orders.loc["#1001", "placed_at"] == pd.Timestamp("2025-05-11 13:55:16", tz="UTC")
    assert orders.loc["#1001", "total"] == "1659.95"
    assert got.lines[got.lines["match_key"] == orders.loc["#1001", "match_key"]][
        "line_no"].tolist() == [1, 2, 3, 4]
    assert (got.orders["fulfillment_status"] == "partial").sum() == 2
    assert sorted(got.orders["outstanding_balance"].unique()) == ["0.00", "0.01", "127.59"]
    assert got.orders["shipping_address"].dropna().str.contains("K2P 2L8").any()


def test_the_inr_dev_store_export(shopify_dir):
    got = parse_orders_export(shopify_dir / "dev_store_inr_2025.csv")
    assert set(got.orders["source_name"]) == {"301689896961", "shopify_draft_order"}
    assert got.orders["paid_at"].notna().sum() == 3
    assert got.orders["customer_key"].value_counts().to_dict() == {
        "email:shivagtx@gmail.com": 49, "email:test1@gmail.com": 1}
    # "#1001" has no email, phone or name at all: no customer rather than a made-up one
    assert pd.isna(got.orders.set_index("name").loc["#1001", "customer_key"])
    assert got.lines.groupby("match_key").size().max() == 5
    assert got.lines["quantity"].sum() == 33 * 1 + 41 * 2 + 46 * 3 + 1 * 5


def test_the_demo_export_has_the_real_exports_columns_in_their_order(shopify_dir):
    with (shopify_dir / "jewelry_store_pkr_2026.csv").open(encoding="utf-8-sig") as handle:
        real = next(csv.reader(handle))
    demo = next(csv.reader(demo_export_bytes(3).decode("utf-8").splitlines()))
    assert demo == real
