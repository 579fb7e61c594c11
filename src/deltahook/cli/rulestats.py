"""``deltahook rules stats``: per setting, how much it fired in the last day and week."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from deltahook.cli.app import State, friendly, out, print_json
from deltahook.cli.rules import rules

SHOWN_FIELDS = 5


@rules.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@friendly
def stats(state: State, as_json: bool) -> None:
    """Per setting: notifications fired in the last day and week, and the fields that
    triggered them (from the stored explanations)."""
    from deltahook.bootstrap import open_store
    from deltahook.clock import utc_now
    from deltahook.rulestats import setting_stats
    from deltahook.store.db import reading

    db = open_store(state.settings)
    try:
        with reading(db) as conn:
            found = setting_stats(conn, now=utc_now())
    finally:
        db.dispose()
    if as_json:
        print_json([s.to_json() for s in found])
        return
    if not found:
        out.print("no setting fired in the last week")
        return
    table = Table("setting", "last day", "last week", "fields (last week)")
    for s in found:
        fields = ", ".join(
            f"{name} {count:,}" for name, count in s.fields.most_common(SHOWN_FIELDS)
        )
        table.add_row(escape(s.setting), f"{s.day:,}", f"{s.week:,}", escape(fields))
    out.print(table)
