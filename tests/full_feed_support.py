"""Full feeds of stock rows written as NDJSON, a JSON array or CSV, with raw bad entries."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import orjson

from deltahook.engine import Engine
from deltahook.results import RunResult

FORMATS = ("ndjson", "json", "csv")
COLUMNS = ("PartNo", "WarehouseCode", "WarehouseId", "LocationCode", "LocationId", "OnhandValue")

# An entry is a record (a dict) or the raw text of one line, array element or CSV row.
Entry = dict[str, Any] | str


def onhand(part: str, wh: str = "W1", **fields: Any) -> dict[str, Any]:
    """A valid stock row at location A of warehouse ``wh``."""
    row = {"PartNo": part, "WarehouseCode": wh, "WarehouseId": 1, "LocationCode": "A"}
    return {**row, "LocationId": 1, "OnhandValue": 5, **fields}


def encode(entries: Sequence[Entry], fmt: str) -> bytes:
    """The feed in ``fmt``: each entry on a line of its own (see ``line_of``)."""
    if fmt == "csv":
        rows = [e if isinstance(e, str) else _csv_row(e) for e in entries]
        return ("\n".join([",".join(COLUMNS), *rows]) + "\n").encode()
    texts = [e if isinstance(e, str) else orjson.dumps(e).decode() for e in entries]
    if fmt == "json":
        return ("[\n" + ",\n".join(texts) + "\n]\n").encode()
    return ("\n".join(texts) + "\n").encode()


def line_of(index: int, fmt: str) -> int:
    """The line the entry at ``index`` (0-based) starts on in a feed made by ``encode``."""
    return index + (1 if fmt == "ndjson" else 2)


def _csv_row(record: dict[str, Any]) -> str:
    return ",".join("" if record.get(c) is None else str(record[c]) for c in COLUMNS)


def ingest(
    engine: Engine, entries: Sequence[Entry], fmt: str, kind: str = "sku_onhand", **options: Any
) -> RunResult:
    """Ingest the entries as one feed of ``kind`` in ``fmt`` (mode full unless told)."""
    options.setdefault("mode", "full")
    feed = io.BytesIO(encode(entries, fmt))
    return engine.ingest(kind, feed, fmt=fmt, collect=True, **options)
