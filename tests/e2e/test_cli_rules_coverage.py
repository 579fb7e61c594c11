"""`deltahook rules test --coverage`: which settings and filter branches the rule tests
exercised, and which none did."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO
from tests.e2e.test_cli_rules import run

CASES = f"""\
rules: {REPO / "rules"}
defaults:
  sku: {{StatusId: 1, EanCode: "7310000000001"}}
cases:
  - name: a status change and a primary category's new sort order
    only: [SkuChangedNotification]
    given:
      sku: [{{PartNo: S1, Categories: [{{CategoryCode: C, IsPrimary: true, SortOrder: 1}}]}}]
    feed:
      sku:
        - PartNo: S1
          StatusId: 2
          Categories: [{{CategoryCode: C, IsPrimary: true, SortOrder: 2}}]
    expect:
      - {{type: SkuChangedNotification, payload: {{EntityChanged: tClientProductSku}}}}
      - {{type: SkuChangedNotification, payload: {{EntityChanged: tCategory}}}}
"""


def test_coverage_names_fired_and_unfired_settings_and_one_sided_branches(
    tmp_path: Path,
) -> None:
    """The settings the cases fired are listed with their count, the others as not fired, and
    a filter condition seen only true is named as never false."""
    cases = tmp_path / "cases.yaml"
    cases.write_text(CASES)
    code, out, err = run(tmp_path, "rules", "test", "--coverage", str(cases))
    assert code == 0, out + err
    lines = out.splitlines()
    assert "  fired      SkuChangedNotification/sku (1)" in lines
    assert "  fired      SkuChangedNotification/sku-category (1)" in lines
    assert "  not fired  SkuChangedNotification/sku-culture" in lines
    assert any("sku-category" in line and "never false" in line for line in lines)
    assert "settings fired: 2 of 34" in out


def test_without_coverage_the_output_is_as_before(tmp_path: Path) -> None:
    """Plain `rules test` prints no coverage."""
    cases = tmp_path / "cases.yaml"
    cases.write_text(CASES)
    code, out, _ = run(tmp_path, "rules", "test", str(cases))
    assert code == 0
    assert "not fired" not in out
