"""API keys, size limits and bad input: clear JSON errors, never a 500, never a key in the log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from deltahook.api import create_app
from deltahook.api.security import fingerprint, resolve_keys
from deltahook.cli import main
from deltahook.errors import ConfigError
from deltahook.feeds import values
from tests.api_support import KEY, client, settings


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    with client(f"sqlite:///{tmp_path / 'db.sqlite'}", api_max_body_bytes=4096) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "authorization",
    [
        None,  # no header at all
        "Bearer wrong-key-0123456789",  # an unknown key
        f"Basic {KEY}",  # the right key under another scheme
        "Bearer ",  # a scheme and no key
    ],
)
def test_a_missing_or_wrong_key_gets_401_with_a_json_body(
    api: TestClient, authorization: str | None
) -> None:
    """Every endpoint but /healthz refuses it, with WWW-Authenticate and an ErrorBody."""
    headers = {"Authorization": authorization} if authorization else {}
    api.headers.pop("Authorization")
    for method, path in [
        ("GET", "/v1/subscriptions"),
        ("POST", "/v1/feeds/sku"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
    ]:
        answer = api.request(method, path, headers=headers)
        assert answer.status_code == 401, path
        assert answer.headers["www-authenticate"] == "Bearer"
        assert answer.json()["error"] == "unauthorized"
    assert api.get("/healthz").status_code == 200


def test_a_refused_key_is_logged_by_fingerprint_only(
    api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The log names a short hash of the wrong key, never the key itself."""
    wrong = "my-secret-but-wrong-key-42"
    with caplog.at_level(logging.WARNING, logger="deltahook.api"):
        api.get("/v1/subscriptions", headers={"Authorization": f"Bearer {wrong}"})
    assert fingerprint(wrong) in caplog.text
    assert wrong not in caplog.text
    assert KEY not in caplog.text


def test_keys_may_name_environment_variables_and_must_be_long() -> None:
    """${VAR} is read at start; missing variables, short keys, keys no header can carry and
    no keys stop the server."""
    assert resolve_keys(["${OPS}", KEY], {"OPS": "from-the-environment-1"}) == [
        "from-the-environment-1",
        KEY,
    ]
    with pytest.raises(ConfigError, match=r"key 1 needs \$OPS"):
        resolve_keys(["${OPS}"], {})
    with pytest.raises(ConfigError, match="shorter than 16"):
        resolve_keys(["short"], {})
    for unsendable in ("sixteen chars and spaces", "nøkkel-nøkkel-nøkkel", "tab\tseparated-key-1"):
        with pytest.raises(ConfigError, match="key 2 holds a space, a control or a non-ASCII"):
            resolve_keys([KEY, unsendable], {})
    with pytest.raises(ConfigError, match="DELTAHOOK_API_KEYS"):
        create_app(settings("sqlite:///:memory:", api_keys=[]))


def test_bodies_over_the_limit_get_413_before_or_while_reading(api: TestClient) -> None:
    """A declared length over the limit, or a streamed body that grows past it: 413."""
    big = {"Name": "x" * 5000}
    answer = api.post("/v1/events/OrderConfirmedEvent", json=big)
    assert (answer.status_code, answer.json()["error"]) == (413, "too_large")

    def chunks() -> Iterator[bytes]:
        yield b'{"Name": "'
        yield b"x" * 5000
        yield b'"}'

    streamed = api.post(
        "/v1/events/OrderConfirmedEvent",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert streamed.status_code == 413


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        # malformed JSON is a 400, whichever endpoint
        ("/v1/events/OrderConfirmedEvent", b'{"OrderId": ', 400, "bad_request"),
        ("/v1/subscriptions", b"[1, 2", 400, "bad_request"),
        ("/v1/preview/sku/pair", b"\xff\xfe", 400, "bad_request"),
        # well-formed JSON of the wrong shape is a 422 naming the field
        ("/v1/subscriptions", b'{"name": "x"}', 422, "invalid_request"),
        ("/v1/events/OrderConfirmedEvent", b"[]", 422, "invalid_request"),
        ("/v1/preview/sku/pair", b'{"before": null}', 422, "invalid_request"),
    ],
)
def test_bad_json_is_400_and_schema_errors_are_422(
    api: TestClient, path: str, body: bytes, status: int, error: str
) -> None:
    """Each answer is an ErrorBody with a message a person can act on."""
    answer = api.post(path, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == error
    assert answer.json()["message"]


@pytest.mark.parametrize(
    ("path", "body", "name"),
    [
        ("/v1/events/JobCompletedEvent", b'{"JobId": 1, "StatusId": 2, "JobId": 3}', "JobId"),
        (  # at any depth, as a feed's record
            "/v1/preview/sku_onhand/pair",
            b'{"before": null, "after": {"PartNo": "A", "PartNo": "B"}}',
            "PartNo",
        ),
        (  # a subscription named once "a" and once "b" was made as "b"
            "/v1/subscriptions",
            b'{"name": "a", "url": "https://a.example/", "event_types": ["*"], "name": "b"}',
            "name",
        ),
        ("/v1/deliveries/retry-failed", b'{"limit": 1, "limit": 1000}', "limit"),
    ],
)
def test_a_name_twice_in_a_json_body_is_400_naming_it(
    api: TestClient, path: str, body: bytes, name: str
) -> None:
    """A body whose object holds a name twice is refused naming it, as ``emit`` and ``preview
    --before`` refuse such a file, not read as the last value with the first lost."""
    answer = api.post(path, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"] == f"the body: {name!r} {values.REPEATED}"
    assert api.get("/v1/subscriptions").json() == []


@pytest.mark.parametrize(
    ("headers", "body", "status", "message"),
    [
        (
            {"Content-Type": "application/json; charset=latin-1"},
            '{"name": "caf\u00e9", "url": "https://a.example/", "event_types": ["*"]}'.encode(
                "latin-1"
            ),
            415,
            "JSON bodies are read as UTF-8: send the body as UTF-8, not 'latin-1'",
        ),
        (  # without a charset, a byte that is not UTF-8 is named, not a generic parse error
            {"Content-Type": "application/json"},
            b'{"name": "caf\xe9"}',
            400,
            "the body is not UTF-8 (byte 14)",
        ),
        (
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            b"\x1f\x8b\x08\x00",
            415,
            "JSON bodies are read uncompressed: send the body without Content-Encoding, not 'gzip'",
        ),
    ],
)
def test_a_json_body_is_utf8_and_uncompressed_as_a_feed_is(
    api: TestClient, headers: dict[str, str], body: bytes, status: int, message: str
) -> None:
    """Another charset or a Content-Encoding is a 415 saying what is read, as for a feed; a
    byte that is not UTF-8 is a 400 saying where; nothing is made."""
    answer = api.post("/v1/subscriptions", content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.json()["message"] == message
    assert api.get("/v1/subscriptions").json() == []


def test_schema_errors_list_each_field(api: TestClient) -> None:
    """422 details carry loc, msg and type per problem."""
    answer = api.post("/v1/subscriptions", json={"name": "shop", "url": 5, "event_types": []})
    assert answer.status_code == 422
    locs = {tuple(d["loc"]) for d in answer.json()["details"]}
    assert {("body", "url"), ("body", "event_types")} <= locs


def test_unknown_paths_and_methods_get_json_errors(api: TestClient) -> None:
    """404 and 405 answer with the same ErrorBody."""
    assert api.get("/v1/nothing-here").json()["error"] == "not_found"
    assert api.delete("/v1/event-types").json()["error"] == "method_not_allowed"


def test_serve_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    """`deltahook serve` with no key configured exits 1 with one line saying how to set one."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = CliRunner().invoke(
        main, ["--database-url", url, "serve", "--port", "0"], env={"DELTAHOOK_API_KEYS": ""}
    )
    assert result.exit_code == 1
    assert "needs at least one key" in result.stderr
    assert "Traceback" not in result.output
