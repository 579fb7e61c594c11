"""Hypothesis strategies for rule properties: small feeds of stock, prices and SKUs.

Keys come from small pools so that feeds overlap with what is stored (updates, not only
inserts), and values from small ranges so that breakpoints and filters are crossed often.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

PARTS = ["A", "B", "C"]
NAMES = st.sampled_from(["Tröja", "Jumper", "Mössa", "Cap", ""])


@st.composite
def stock_rows(draw: st.DrawFn) -> dict[str, Any]:
    location = draw(st.sampled_from(["L1", "L2"]))
    row: dict[str, Any] = {
        "PartNo": draw(st.sampled_from(PARTS)),
        "WarehouseCode": "W1",
        "WarehouseId": 1,
        "LocationCode": location,
        "LocationId": 1 if location == "L1" else 2,
        "OnhandValue": draw(st.integers(0, 8)),
        "IsActive": draw(st.booleans()),
    }
    if draw(st.booleans()):
        row["MinimumValue"] = draw(st.integers(0, 5))
    return row


@st.composite
def price_rows(draw: st.DrawFn) -> dict[str, Any]:
    code = draw(st.sampled_from(["SE", "NO"]))
    return {
        "PartNo": draw(st.sampled_from(PARTS)),
        "PriceListCode": code,
        "PricelistId": 12 if code == "SE" else 13,
        "QuantityBreak": draw(st.sampled_from([1, 10])),
        "PriceSale": draw(st.one_of(st.none(), st.integers(90, 110), st.just(99.5))),
        "PriceRecommended": draw(st.sampled_from([120, 130])),
        "CurrencyCode": "SEK",
    }


@st.composite
def sku_records(draw: st.DrawFn) -> dict[str, Any]:
    cultures = draw(st.lists(st.sampled_from(["sv-SE", "en-GB", "nb-NO"]), unique=True))
    categories = draw(st.lists(st.sampled_from(["C1", "C2"]), unique=True))
    return {
        "PartNo": draw(st.sampled_from(PARTS)),
        "StatusId": draw(st.integers(1, 6)),
        "CommodityCode": draw(st.sampled_from(["6109", "6110"])),
        "Cultures": [
            {"CultureCode": code, "Name": draw(NAMES), "Comment": draw(NAMES)} for code in cultures
        ],
        "Categories": [
            {"CategoryCode": code, "IsPrimary": draw(st.booleans()), "SortOrder": 1}
            for code in categories
        ],
    }


KEYS = {
    "sku_onhand": ("PartNo", "WarehouseCode", "LocationCode"),
    "sku_price": ("PartNo", "PriceListCode", "QuantityBreak"),
    "sku": ("PartNo",),
}
RECORDS = {"sku_onhand": stock_rows(), "sku_price": price_rows(), "sku": sku_records()}


def feed(kind: str) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Records of ``kind`` with distinct keys (a feed without duplicates)."""
    return st.lists(RECORDS[kind], max_size=8, unique_by=lambda r: tuple(r[k] for k in KEYS[kind]))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """A kind, the feed stored first, and the feed that follows it."""
    kind = draw(st.sampled_from(sorted(RECORDS)))
    return kind, draw(feed(kind)), draw(feed(kind))
