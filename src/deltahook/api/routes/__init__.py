"""The API's routers, one per area, each mounted under ``/v1`` (operations at the root)."""
