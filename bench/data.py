"""Deterministic synthetic feeds for the benchmarks: SKUs, their prices and their stock.

``write_feeds(directory, n=..., seed=...)`` writes, for each kind (``sku``, ``sku_price``,
``sku_onhand``), a first version (``v1``) and second versions in which a given fraction of the
entities changed the way real imports change them: a culture's name or description, a status,
a sales area's VAT, a category position; a sale price up or down; stock levels, some of which
cross their reorder point (``MinimumValue``) down or back up. The 0%-changed second version is
``v1`` itself (the nightly "nothing changed" feed). Everything comes from one seed: the same
arguments always write the same bytes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

Record = dict[str, Any]
KINDS = ("sku", "sku_price", "sku_onhand")
FRACTIONS = (0.01, 1.0)
_BLOCK = 100

# culture: (product nouns, colour words, description sentences, sub-header)
_TEXTS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], str]] = {
    "sv-SE": (
        ("Regnjacka", "Huvtröja", "Ryggsäck", "Pannlampa", "Sovsäck", "Ullsockor"),
        ("svart", "marinblå", "grön", "röd", "grå"),
        (
            "Tillverkad av återvunnet material och testad i nordiskt klimat.",
            "Justerbar passform som fungerar lika bra i stan som på fjället.",
            "Tejpade sömmar och vattenavvisande yta håller dig torr hela dagen.",
            "Lätt att packa ihop och väger nästan ingenting i ryggsäcken.",
        ),
        "Hållbar vardagsfavorit",
    ),
    "en-GB": (
        ("Rain jacket", "Hoodie", "Backpack", "Headlamp", "Sleeping bag", "Wool socks"),
        ("black", "navy", "green", "red", "grey"),
        (
            "Made from recycled materials and tested in a Nordic climate.",
            "An adjustable fit that works as well in town as in the mountains.",
            "Taped seams and a water-repellent finish keep you dry all day.",
            "Packs down small and weighs next to nothing in your backpack.",
        ),
        "A durable everyday favourite",
    ),
    "nb-NO": (
        ("Regnjakke", "Hettegenser", "Ryggsekk", "Hodelykt", "Sovepose", "Ullsokker"),
        ("svart", "marineblå", "grønn", "rød", "grå"),
        (
            "Laget av resirkulert materiale og testet i nordisk klima.",
            "Justerbar passform som fungerer like godt i byen som på fjellet.",
            "Tapede sømmer og vannavstøtende overflate holder deg tørr hele dagen.",
            "Lett å pakke sammen og veier nesten ingenting i sekken.",
        ),
        "En slitesterk hverdagsfavoritt",
    ),
    "fi-FI": (
        ("Sadetakki", "Huppari", "Reppu", "Otsalamppu", "Makuupussi", "Villasukat"),
        ("musta", "tummansininen", "vihreä", "punainen", "harmaa"),
        (
            "Valmistettu kierrätetyistä materiaaleista ja testattu pohjoisessa ilmastossa.",
            "Säädettävä istuvuus toimii yhtä hyvin kaupungissa kuin tuntureilla.",
            "Teipatut saumat ja vettä hylkivä pinta pitävät sinut kuivana koko päivän.",
            "Pakkautuu pieneen tilaan eikä paina repussa juuri mitään.",
        ),
        "Kestävä arjen suosikki",
    ),
    "da-DK": (
        ("Regnjakke", "Hættetrøje", "Rygsæk", "Pandelampe", "Sovepose", "Uldsokker"),
        ("sort", "marineblå", "grøn", "rød", "grå"),
        (
            "Fremstillet af genanvendte materialer og testet i nordisk klima.",
            "Justerbar pasform, der fungerer lige godt i byen og på fjeldet.",
            "Tapede sømme og vandafvisende overflade holder dig tør hele dagen.",
            "Let at pakke sammen og vejer næsten ingenting i rygsækken.",
        ),
        "En holdbar hverdagsfavorit",
    ),
}
_CULTURES = tuple(_TEXTS)
_BRANDS = ("Nordlys", "Fjellkam", "Skogsrå", "Kvist", "Vidde")
_CATEGORIES = ("APPAREL-TOPS", "APPAREL-JACKETS", "EQUIPMENT-BAGS", "EQUIPMENT-HIKING", "SALE")
_SALES_AREAS = ((1, 25.0), (2, 25.0), (3, 25.0), (4, 25.5), (5, 20.0))
# (PriceListCode, PricelistId, CurrencyCode, QuantityBreak, price factor against SEK)
_PRICE_LISTS = (
    ("SE-B2C", 1, "SEK", 1, 1.0),
    ("NO-B2C", 2, "NOK", 1, 1.02),
    ("DK-B2C", 3, "DKK", 1, 0.68),
    ("FI-B2C", 4, "EUR", 1, 0.09),
    ("SE-B2B", 5, "SEK", 1, 0.8),
    ("SE-B2B", 5, "SEK", 10, 0.72),
)
# (WarehouseCode, WarehouseId, LocationCode, LocationId)
_LOCATIONS = (
    ("WH-STO", 1, "A", 11),
    ("WH-STO", 1, "B", 12),
    ("WH-GOT", 2, "A", 21),
    ("WH-OSL", 3, "A", 31),
    ("STORE-STO", 4, "SHOP", 41),
    ("STORE-OSL", 5, "SHOP", 51),
)


@dataclass(frozen=True, slots=True)
class Feeds:
    """Where the feeds of one size and seed were written."""

    directory: Path
    n: int
    seed: int

    def path(self, kind: str, changed: float = 0.0) -> Path:
        """The feed of ``kind`` whose entities changed by ``changed`` against ``v1`` (0 = v1)."""
        name = "v1" if changed == 0 else f"v2-{_percent(changed)}"
        return self.directory / f"{kind}.{name}.ndjson"


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g}pct"


def write_feeds(
    directory: Path,
    *,
    n: int,
    seed: int = 1,
    fractions: Iterable[float] = FRACTIONS,
    kinds: Iterable[str] = KINDS,
) -> Feeds:
    """Write ``v1`` of every kind for ``n`` SKUs and a second version per changed fraction."""
    directory.mkdir(parents=True, exist_ok=True)
    feeds = Feeds(directory, n, seed)
    fractions = [f for f in fractions if f > 0]
    for kind in kinds:
        _write_kind(feeds, kind, fractions)
    return feeds


def _write_kind(feeds: Feeds, kind: str, fractions: list[float]) -> None:
    build, mutate = _BUILDERS[kind]
    rng = random.Random(f"{feeds.seed}:{kind}")
    records = (row for i in range(feeds.n) for row in build(rng, i))
    pickers = {f: _Picker(random.Random(f"{feeds.seed}:{kind}:{f}"), f) for f in fractions}
    outs = {f: feeds.path(kind, f).open("wb") for f in fractions}
    try:
        with feeds.path(kind).open("wb") as v1:
            for record in records:
                line = orjson.dumps(record) + b"\n"
                v1.write(line)
                for fraction, out in outs.items():
                    picker = pickers[fraction]
                    if picker.next():
                        out.write(orjson.dumps(mutate(picker.rng, _copy(record))) + b"\n")
                    else:
                        out.write(line)
    finally:
        for out in outs.values():
            out.close()


class _Picker:
    """Exactly ``round(fraction * 100)`` changed rows in every block of 100, at random places.

    The number of rows of a kind is known only once they are built, so the choice streams.
    """

    def __init__(self, rng: random.Random, fraction: float) -> None:
        self.rng = rng
        self.per_block = round(fraction * _BLOCK)
        if not 0 < self.per_block <= _BLOCK or abs(self.per_block - fraction * _BLOCK) > 1e-9:
            raise ValueError(f"changed fraction {fraction} is not a whole percent in (0, 1]")
        self.row = 0
        self.chosen: set[int] = set()

    def next(self) -> bool:
        """Whether the next row changes."""
        place = self.row % _BLOCK
        if place == 0:
            self.chosen = set(self.rng.sample(range(_BLOCK), self.per_block))
        self.row += 1
        return place in self.chosen


def _copy(record: Record) -> Record:
    return orjson.loads(orjson.dumps(record))  # type: ignore[no-any-return]


def part_no(i: int) -> str:
    return f"SKU-{i:07d}"


def _ean(i: int) -> str:
    digits = f"73{i:010d}"
    total = sum(int(d) * (3 if k % 2 else 1) for k, d in enumerate(digits))
    return digits + str((10 - total % 10) % 10)


def build_sku(rng: random.Random, i: int) -> Iterable[Record]:
    noun, colour = rng.randrange(6), rng.randrange(5)
    brand = _BRANDS[i % len(_BRANDS)]
    cultures = ["sv-SE", *rng.sample(_CULTURES[1:], 1 if rng.random() < 0.7 else 2)]
    areas = rng.sample(_SALES_AREAS, rng.randint(1, 3))
    categories = rng.sample(_CATEGORIES, rng.randint(1, 2))
    yield {
        "PartNo": part_no(i),
        "ProductId": 100_000 + i // 3,
        "EanCode": _ean(i),
        "StatusId": rng.choices((1, 2, 3, 4, 5), (85, 5, 4, 3, 3))[0],
        "SkuTypeId": 1,
        "ManufacturerCode": brand.upper(),
        "ManufacturerPartNo": f"{brand[:3].upper()}-{i:07d}",
        "IsBuyable": True,
        "IsDropShip": rng.random() < 0.08,
        "StartDate": f"202{rng.randint(1, 4)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "EndDate": None,
        "Weight": round(rng.uniform(0.05, 2.5), 3),
        "Width": rng.randrange(50, 600, 10),
        "Height": rng.randrange(50, 600, 10),
        "Depth": rng.randrange(10, 300, 10),
        "VatRate": 25.0,
        "UnitOfMeasurementCode": "PCS",
        "UnitOfMeasurementCount": 1,
        "CommodityCode": f"{rng.randrange(10_000_000, 99_999_999)}",
        "Cultures": [_culture(rng, code, brand, noun, colour) for code in cultures],
        "SalesAreas": [
            {"SalesAreaId": area, "IsBuyable": True, "VatRate": vat} for area, vat in areas
        ],
        "Categories": [
            {"CategoryCode": code, "IsPrimary": k == 0, "SortOrder": rng.randrange(1000)}
            for k, code in enumerate(categories)
        ],
    }


def _culture(rng: random.Random, code: str, brand: str, noun: int, colour: int) -> Record:
    nouns, colours, sentences, sub_header = _TEXTS[code]
    name = f"{brand} {nouns[noun]} {colours[colour]}"
    culture = {"CultureCode": code, "Name": name, "ErpName": name.upper()}
    if code == "sv-SE":  # the master culture carries the full texts, translations lag behind
        culture["SubHeader"] = sub_header
        culture["Description"] = " ".join(rng.sample(sentences, 2))
    else:
        culture["Description"] = rng.choice(sentences)
    return culture


def mutate_sku(rng: random.Random, sku: Record) -> Record:
    """One realistic change: mostly texts, sometimes status, VAT or category position."""
    roll = rng.random()
    if roll < 0.45:
        culture = sku["Cultures"][0] if rng.random() < 0.7 else rng.choice(sku["Cultures"])
        culture["Name"] = f"{culture['Name']} ({rng.choice(('ny', 'v2', '2025'))})"
    elif roll < 0.65:
        culture = rng.choice(sku["Cultures"])
        culture["Description"] = f"{culture['Description']} {culture['Name']}."
    elif roll < 0.8:
        sku["StatusId"] = 3 if sku["StatusId"] == 1 else 1
        sku["IsBuyable"] = sku["StatusId"] in (1, 3)
    elif roll < 0.9:
        area = rng.choice(sku["SalesAreas"])
        area["VatRate"] = 12.0 if area["VatRate"] != 12.0 else 25.0
    else:
        category = rng.choice(sku["Categories"])
        category["SortOrder"] = (category["SortOrder"] + rng.randint(1, 50)) % 1000
    return sku


def build_prices(rng: random.Random, i: int) -> Iterable[Record]:
    base = rng.randrange(99, 3_000)
    for code, list_id, currency, quantity, factor in rng.sample(_PRICE_LISTS, rng.randint(2, 4)):
        sale = round(base * factor * (0.9 if quantity > 1 else 1.0), 2)
        yield {
            "PartNo": part_no(i),
            "PriceListCode": code,
            "PricelistId": list_id,
            "QuantityBreak": quantity,
            "PriceSale": sale,
            "PriceRecommended": round(sale * 1.25, 2),
            "PriceCatalog": round(sale * 1.25, 2),
            "PricePrevious": None,
            "CostPurchase": round(base * 0.45, 2),
            "CostUnit": round(base * 0.5, 2),
            "CurrencyCode": currency,
            "IsActive": True,
            "IsPriceDiscountable": True,
        }


def mutate_price(rng: random.Random, row: Record) -> Record:
    """A new sale price: small moves and campaign-sized ones, down more often than up."""
    step = rng.choice((-0.3, -0.2, -0.1, -0.03, 0.02, 0.05, 0.1))
    row["PricePrevious"] = row["PriceSale"]
    row["PriceSale"] = round(row["PriceSale"] * (1 + step), 2) or 1.0
    return row


def build_stock(rng: random.Random, i: int) -> Iterable[Record]:
    for warehouse, warehouse_id, location, location_id in rng.sample(_LOCATIONS, rng.randint(2, 5)):
        minimum = rng.randrange(2, 20)
        # About one row in ten already sits at or below its reorder point.
        onhand = rng.randint(0, minimum) if rng.random() < 0.1 else rng.randint(minimum + 1, 200)
        yield {
            "PartNo": part_no(i),
            "WarehouseCode": warehouse,
            "WarehouseId": warehouse_id,
            "LocationCode": location,
            "LocationId": location_id,
            "OnhandValue": onhand,
            "IncomingValue": rng.choice((0, 0, 0, 24, 48)),
            "NextDeliveryDate": None,
            "LeadTimeDayCount": rng.randrange(1, 30),
            "MinimumValue": minimum,
            "MaximumValue": minimum * 10,
            "IsActive": True,
        }


def mutate_stock(rng: random.Random, row: Record) -> Record:
    """New stock levels: sales and deliveries; about a third cross the reorder point."""
    minimum, onhand = row["MinimumValue"], row["OnhandValue"]
    roll = rng.random()
    if onhand > minimum and roll < 0.3:
        row["OnhandValue"] = rng.randint(0, minimum)  # sold down to or below the breakpoint
    elif onhand <= minimum and roll < 0.6:
        row["OnhandValue"] = row["MaximumValue"]  # replenished back above it
    else:
        row["OnhandValue"] = onhand - 1 if onhand > minimum + 1 else onhand + 1
        row["IncomingValue"] += rng.choice((0, 12, 24))
    return row


_Builder = Callable[[random.Random, int], Iterable[Record]]
_Mutator = Callable[[random.Random, Record], Record]
_BUILDERS: Mapping[str, tuple[_Builder, _Mutator]] = {
    "sku": (build_sku, mutate_sku),
    "sku_price": (build_prices, mutate_price),
    "sku_onhand": (build_stock, mutate_stock),
}
