"""The HTTP API: ``create_app(settings)`` returns the FastAPI app ``deltahook serve`` runs."""

from __future__ import annotations

from deltahook.api.app import create_app

__all__ = ["create_app"]
