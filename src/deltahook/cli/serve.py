"""``deltahook serve``: the HTTP API on uvicorn."""

from __future__ import annotations

import click

from deltahook.cli.app import State, err, friendly, main


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
@click.pass_obj
@friendly
def serve(state: State, host: str, port: int, log_level: str) -> None:
    """Serve the HTTP API (OpenAPI document at /openapi.json; every path but /healthz needs a key).

    Keys come from api_keys in the config file or DELTAHOOK_API_KEYS (comma-separated).
    """
    import uvicorn

    from deltahook.api import create_app

    app = create_app(state.settings)
    err.print(f"serving the deltahook API on http://{host}:{port} (Ctrl-C to stop)")
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False)
