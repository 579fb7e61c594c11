"""The public API is exactly what ``deltahook.__all__`` says, and nothing leaks in by accident."""

from __future__ import annotations

import deltahook

PUBLIC = {
    "MISSING",
    "DeltahookError",
    "Engine",
    "EntityChange",
    "FieldChange",
    "Notification",
    "Op",
    "Reject",
    "RowChange",
    "RunResult",
    "Settings",
    "__version__",
    "load_settings",
}


def test_the_public_api_changes_only_on_purpose() -> None:
    """__all__ lists exactly the public names, and each of them can be imported."""
    assert set(deltahook.__all__) == PUBLIC
    for name in deltahook.__all__:
        assert hasattr(deltahook, name), name


def test_exported_objects_say_they_belong_to_deltahook() -> None:
    """Exported classes and functions come from the deltahook package itself."""
    for name in deltahook.__all__:
        member = getattr(deltahook, name)
        module = getattr(member, "__module__", "deltahook")
        assert module.startswith("deltahook"), f"{name} comes from {module}"
