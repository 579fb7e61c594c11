"""``deltahook rules check`` and ``deltahook rules test``: rule files checked, rule tests run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape

from deltahook.cli.app import State, err, friendly, out
from deltahook.cli.rules import rules
from deltahook.errors import RuleError

if TYPE_CHECKING:
    from deltahook.rules.coverage import Coverage

EXIT_PROBLEMS = 1


@rules.command("check")
@click.argument("folder", required=False, type=click.Path(path_type=Path))
@click.pass_obj
@friendly
def check(state: State, folder: Path | None) -> None:
    """Check every rule file in FOLDER (default: the configured rules folder)."""
    from deltahook.catalog.entities import load_catalog
    from deltahook.catalog.events import load_event_catalog
    from deltahook.rules.loader import load_rules

    settings = state.settings
    where = folder or settings.rules_dir
    try:
        loaded = load_rules(
            where,
            catalog=load_catalog(settings.entity_schemas_dir),
            events=load_event_catalog(settings.event_schemas_dir),
            constants=settings.constants,
        )
    except RuleError as exc:
        for problem in exc.problems:
            err.print(str(problem), style="red", soft_wrap=True, markup=False)
        err.print(f"{len(exc.problems)} problem(s) in {where}", markup=False)
        sys.exit(EXIT_PROBLEMS)
    types = len(loaded.types())
    out.print(
        f"ok: {len(loaded)} settings for {types} notification types in {len(loaded.files)} files"
    )


@rules.command("test")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--coverage",
    is_flag=True,
    help="Also list the settings and filter branches the tests exercised, and those none did.",
)
@click.pass_obj
@friendly
def test(state: State, files: tuple[Path, ...], coverage: bool) -> None:
    """Run rule test FILES (given snapshots, feeds, expected notifications)."""
    from deltahook.rule_tests import run_file
    from deltahook.rules.coverage import Coverage

    covered = Coverage() if coverage else None
    passed = failed = 0
    for path in _expand(files):
        try:
            results = run_file(state.settings, path, coverage=covered)
        except RuleError as exc:
            failed += 1
            for problem in exc.problems or [exc]:
                err.print(str(problem), soft_wrap=True, markup=False)
            continue
        for result in results:
            if result.passed:
                passed += 1
                out.print(f"[green]PASS[/] {escape(result.title)}", soft_wrap=True)
                continue
            failed += 1
            out.print(f"[red]FAIL[/] {escape(result.title)}", soft_wrap=True)
            for line in result.failures:
                out.print(f"    {line}", soft_wrap=True, markup=False)
    out.print(f"{passed} passed, {failed} failed")
    if covered is not None:
        _print_coverage(covered)
    if failed:
        sys.exit(EXIT_PROBLEMS)


def _print_coverage(covered: Coverage) -> None:
    unfired = covered.unfired()
    total = len(covered.settings)
    out.print(f"settings fired: {total - len(unfired)} of {total}", markup=False)
    for uid, count in sorted(covered.fired.items()):
        if uid in covered.settings:
            out.print(f"  fired      {uid} ({count})", markup=False, soft_wrap=True)
    for uid in unfired:
        out.print(f"  not fired  {uid}", markup=False, soft_wrap=True)
    branches = list(covered.one_sided())
    out.print(f"filter conditions not seen both true and false: {len(branches)}", markup=False)
    for uid, text, what in branches:
        out.print(f"  {uid}: {text}  ({what})", markup=False, soft_wrap=True)


def _expand(paths: tuple[Path, ...]) -> list[Path]:
    """Files as given; folders become their ``*.yaml`` files (a folder with none is refused:
    a run that tests nothing would pass in CI)."""
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
        elif tests := sorted(path.glob("*.y*ml")):
            found.extend(tests)
        else:
            raise click.BadParameter(f"{path} holds no *.yaml test file", param_hint="FILES")
    return found
