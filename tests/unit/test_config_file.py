"""deltahook.yaml is read as rules are: every problem at once, located, duplicates refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltahook.configload import load_settings
from deltahook.errors import ConfigError


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    path = tmp_path / "deltahook.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env=env or {})
    return [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]


SUB = "  - {name: shop, url: 'https://shop.example/hook', event_types: [SkuChangedNotification]}\n"


def test_two_subscriptions_blocks_are_refused_rather_than_merged(tmp_path: Path) -> None:
    """A key given twice (two subscriptions: blocks) is an error at the second one."""
    text = f"subscriptions:\n{SUB}batch_size: 10\nsubscriptions:\n{SUB}"
    found = problems(tmp_path, text)
    assert found == [
        "deltahook.yaml:4:1: duplicate key 'subscriptions' (first at line 1, column 1)"
    ]


def test_every_problem_is_reported_at_once_with_its_place_and_plain_words(
    tmp_path: Path,
) -> None:
    """Each mistake is one located line, with a did-you-mean for misspelt keys."""
    text = (
        "batch_sise: 10\n"
        "job_events: maybe\n"
        "subscriptions:\n"
        "  - name: shop\n"
        "    url: 'https://shop.example/hook'\n"
        "    event_types: [SkuChangedNotification]\n"
        "    timeout: -1\n"
        "    retry_shedule: 5s\n"
    )
    assert problems(tmp_path, text) == [
        "deltahook.yaml:1:1: unknown setting 'batch_sise' (did you mean 'batch_size'?)",
        "deltahook.yaml:2:13: job_events must be true or false, not 'maybe'",
        "deltahook.yaml:7:14: subscriptions[0].timeout must be greater than 0, not -1",
        "deltahook.yaml:8:5: subscriptions[0]: unknown setting 'retry_shedule'"
        " (did you mean 'retry_schedule'?)",
    ]


def test_a_misspelt_event_type_of_a_subscription_is_refused_with_a_suggestion(
    tmp_path: Path,
) -> None:
    """An event type the catalog does not know is a located error naming the close one."""
    text = (
        "subscriptions:\n"
        "  - name: shop\n"
        "    url: 'https://shop.example/hook'\n"
        "    event_types: [SkuChangedNotification, SkuChangedNotifcation]\n"
    )
    (found,) = problems(tmp_path, text)
    assert found.startswith(
        "deltahook.yaml:4:43: subscriptions[0].event_types: unknown event type "
        "'SkuChangedNotifcation'; did you mean SkuChangedNotification"
    )


def test_a_header_named_twice_in_two_cases_is_located(tmp_path: Path) -> None:
    """Two custom headers whose names differ only in case are one header, refused where they
    are given: both were sent, and a receiver read ``X-Api-Key: a, b`` (or the first)."""
    text = (
        "subscriptions:\n"
        "  - name: shop\n"
        "    url: 'https://shop.example/hook'\n"
        "    event_types: [SkuChangedNotification]\n"
        "    headers: {X-Api-Key: a, x-api-key: b}\n"
    )
    assert problems(tmp_path, text) == [
        "deltahook.yaml:5:14: subscriptions[0].headers: headers 'X-Api-Key' and 'x-api-key' are "
        "one header (names are read whatever their case): keep one"
    ]


def test_a_missing_required_key_is_located_at_its_mapping(tmp_path: Path) -> None:
    """A subscription without a url is reported where the subscription starts."""
    text = "subscriptions:\n  - name: shop\n    event_types: ['*']\n"
    assert problems(tmp_path, text) == [
        "deltahook.yaml:2:5: subscriptions[0]: missing required key 'url'"
    ]


def test_yaml_1_1_booleans_stay_strings_in_the_config(tmp_path: Path) -> None:
    """`NO` in constants is the string 'NO', not false (YAML 1.2 core types)."""
    path = tmp_path / "deltahook.yaml"
    path.write_text("constants: {ClientId: 1, ApplicationId: 1, Market: NO}\n")
    assert load_settings(path, env={}).constants["Market"] == "NO"


def test_a_value_out_of_range_is_located_at_the_value(tmp_path: Path) -> None:
    """batch_size: 0 points at the 0, saying the bound."""
    assert problems(tmp_path, "batch_size: 0\n") == [
        "deltahook.yaml:1:13: batch_size must be at least 1, not 0"
    ]


@pytest.mark.parametrize("name", ["schemas_dir", "rules_dir"])
@pytest.mark.parametrize("value", ["5", "[a]", "{a: 1}"])
def test_a_folder_that_is_not_a_path_is_located_at_the_value(
    tmp_path: Path, name: str, value: str
) -> None:
    """rules_dir: 5 is refused at its place (joining it to the file's folder was a TypeError
    traceback)."""
    (found,) = problems(tmp_path, f"{name}: {value}\n")
    assert found.startswith(f"deltahook.yaml:1:{len(name) + 3}: {name} must be a path (a string)")


def test_a_job_lease_no_date_can_end_is_located_at_the_value(tmp_path: Path) -> None:
    """job_lease_s: 1e12 is refused at its place (it was taken, and every ingest then died
    with an OverflowError traceback making its job's lease)."""
    assert problems(tmp_path, "job_lease_s: 1e12\n") == [
        "deltahook.yaml:1:14: job_lease_s must be at most 315360000, not 1000000000000.0"
    ]


def test_hostile_yaml_in_the_config_is_one_located_problem(tmp_path: Path) -> None:
    """A tag asking for a Python object is refused at its place."""
    found = problems(tmp_path, "batch_size: !!python/object/apply:os.system [ls]\n")
    assert len(found) == 1
    assert found[0].startswith("deltahook.yaml:1:13: the tag !!python/object/apply:os.system")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("database_url: !!str [a]\n", "deltahook.yaml:1:15: the tag !!str does not fit a list"),
        ("batch_size: !!int {a: 1}\n", "deltahook.yaml:1:13: the tag !!int does not fit a mapping"),
        ("api_keys: !!seq abc\n", "deltahook.yaml:1:11: the tag !!seq does not fit a plain value"),
        ("constants: !!map [1]\n", "deltahook.yaml:1:12: the tag !!map does not fit a list"),
    ],
)
def test_a_core_tag_on_the_wrong_kind_of_node_is_one_located_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    """A core tag that does not fit its node (a list tagged as a string) is refused at its
    place; PyYAML's constructor raised it as a traceback."""
    assert problems(tmp_path, text) == [expected]


def test_the_error_message_lists_every_problem_on_its_own_line(tmp_path: Path) -> None:
    """str(ConfigError) holds each problem, one per line, so the CLI shows them all."""
    path = tmp_path / "deltahook.yaml"
    path.write_text("batch_sise: 1\njob_event: true\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert str(caught.value).splitlines() == [
        f"{path}:1:1: unknown setting 'batch_sise' (did you mean 'batch_size'?)",
        f"{path}:2:1: unknown setting 'job_event' (did you mean 'job_events'?)",
    ]


def test_the_cli_prints_every_config_problem_as_written_without_a_traceback(
    tmp_path: Path,
) -> None:
    """Each problem is one line of its own, text like [/x] printed as is (not as markup)."""
    from click.testing import CliRunner

    from deltahook.cli import main

    path = tmp_path / "deltahook.yaml"
    path.write_text('"[/x]": 1\nbatch_sise: 2\n')
    result = CliRunner().invoke(main, ["--config", str(path), "rules", "check"])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.splitlines() == [
        f"error: {path}:1:1: unknown setting '[/x]'",
        f"{path}:2:1: unknown setting 'batch_sise' (did you mean 'batch_size'?)",
    ]


def test_a_byte_that_is_not_utf8_is_located(tmp_path: Path) -> None:
    """The config file's bad byte is named at its line and column."""
    path = tmp_path / "deltahook.yaml"
    path.write_bytes(b"batch_size: 10\njob_events: tr\xffue\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert caught.value.problems == (f"{path}:2:15: not UTF-8 text (invalid start byte 0xff)",)


@pytest.mark.parametrize(
    ("given", "read"),
    [
        ("sqlite:///db.sqlite", "sqlite:///{base}/db.sqlite"),  # relative: the config's folder
        ("sqlite:////abs/db.sqlite", "sqlite:////abs/db.sqlite"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        # SQLite URIs (read-only, say): relative after their scheme; they were joined whole,
        # so an absolute one became {base}/file:/abs/... and was made there, empty and writable
        (
            "sqlite:///file:db.sqlite?mode=ro&uri=true",
            "sqlite:///file:{base}/db.sqlite?mode=ro&uri=true",
        ),
        (
            "sqlite:///file:/abs/db.sqlite?mode=ro&uri=true",
            "sqlite:///file:/abs/db.sqlite?mode=ro&uri=true",
        ),
        (
            "sqlite:///file:///abs/db.sqlite?immutable=1&uri=true",
            "sqlite:///file:///abs/db.sqlite?immutable=1&uri=true",
        ),
    ],
)
def test_a_sqlite_path_in_the_config_is_read_from_the_files_folder(
    tmp_path: Path, given: str, read: str
) -> None:
    """A relative SQLite path, plain or in a `file:` URI, is the config file's folder's; an
    absolute one is left as written."""
    path = tmp_path / "deltahook.yaml"
    path.write_text(f"database_url: '{given}'\n")
    assert load_settings(path, env={}).database_url == read.format(base=tmp_path)
