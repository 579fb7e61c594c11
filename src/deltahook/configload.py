"""Loading the settings: the config file, the environment and explicit overrides.

Lookup order for the file: ``--config``, then ``$DELTAHOOK_CONFIG``, then ``./deltahook.yaml``
when it exists; no file at all is fine. Environment variables override the file. Relative paths
are resolved against the file's folder (or the working directory without a file).
``DELTAHOOK_API_KEYS`` (comma-separated) replaces the file's ``api_keys``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deltahook.config import Settings, by_pydantic, plainly_valid, shipped
from deltahook.configfile import (
    ConfigSource,
    Problem,
    event_type_problems,
    raise_problems,
    read_config,
    validation_problems,
)
from deltahook.errors import CatalogError

CONFIG_FILE = "deltahook.yaml"
_ENV = {
    "DELTAHOOK_DATABASE_URL": "database_url",
    "DELTAHOOK_SCHEMAS_DIR": "schemas_dir",
    "DELTAHOOK_RULES_DIR": "rules_dir",
}


def load_settings(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Settings from the config file, the environment and explicit overrides (in that order)."""
    env = os.environ if env is None else env
    if path is None and env.get("DELTAHOOK_CONFIG"):
        path = Path(env["DELTAHOOK_CONFIG"])
    if path is None and Path(CONFIG_FILE).is_file():
        path = Path(CONFIG_FILE)
    source = read_config(path) if path is not None else None
    data = dict(source.data) if source is not None else {}
    base = path.resolve().parent if path is not None else Path.cwd()
    origins = {field: name for name, field in _ENV.items() if env.get(name)}
    data.update({field: env[name] for field, name in origins.items()})
    if env.get("DELTAHOOK_API_KEYS"):
        data["api_keys"] = [k.strip() for k in env["DELTAHOOK_API_KEYS"].split(",") if k.strip()]
        origins["api_keys"] = "DELTAHOOK_API_KEYS"
    data.update(overrides or {})
    origins.update(dict.fromkeys(overrides or {}, "settings"))
    _resolve_paths(data, base)
    return _validated(data, source, origins)


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    for name in ("schemas_dir", "rules_dir"):
        if isinstance(data.get(name), str | Path):  # anything else: the model says what is wrong
            data[name] = base / Path(data[name])
    url = data.get("database_url")
    if isinstance(url, str) and url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        relative = url.removeprefix("sqlite:///")
        # A SQLite URI (``file:...?mode=ro&uri=true``) is relative only after its scheme.
        scheme = "file:" if relative.startswith("file:") else ""
        relative = relative.removeprefix(scheme)
        if relative and relative != ":memory:" and not relative.startswith("/"):
            data["database_url"] = f"sqlite:///{scheme}{base / relative}"


def _validated(
    data: dict[str, Any], source: ConfigSource | None, origins: dict[str, str]
) -> Settings:
    """The settings, or ``ConfigError`` with every problem (the file's located)."""
    problems = list(source.problems) if source is not None else []
    settings = None
    checked = plainly_valid(data)
    if checked is None:
        checked, found = _by_model(data, source, origins)
        problems += found
    if checked is not None:
        settings = Settings._of(checked)
    known = None
    if isinstance(data.get("subscriptions"), list):  # nothing else names an event type
        known = _event_types(settings.schemas_dir if settings else data.get("schemas_dir"))
    if known is not None:
        problems += event_type_problems(data, source=source, origins=origins, known=known)
    if problems or settings is None:
        raise_problems(problems)
    assert settings is not None
    return settings


def _by_model(
    data: dict[str, Any], source: ConfigSource | None, origins: dict[str, str]
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The values as pydantic validates them, or None and the located problems it found."""
    from pydantic import ValidationError

    from deltahook.config_model import SettingsModel
    from deltahook.delivery.settings import SubscriptionSettings

    try:
        return by_pydantic(data), []
    except ValidationError as exc:
        known = {"": SettingsModel.model_fields, "subscriptions": SubscriptionSettings.model_fields}
        return None, validation_problems(exc, source=source, origins=origins, fields=known)


def _event_types(schemas_dir: Any) -> frozenset[str] | None:
    """The event types subscriptions may name, or None when the catalog cannot be read."""
    from deltahook.catalog.events import load_event_catalog

    folder = Path(schemas_dir) if isinstance(schemas_dir, str | Path) else shipped("schemas")
    try:
        return frozenset(load_event_catalog(folder / "events").names())
    except (CatalogError, OSError):
        return None  # reported by whatever needs the catalog
