"""``deltahook serve``: the HTTP API and the admin console on uvicorn, delivering too."""

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
@click.option(
    "--deliver/--no-deliver",
    default=True,
    show_default=True,
    help="Run a dispatcher in this process; --no-deliver leaves delivery to `deltahook deliver`.",
)
@click.pass_obj
@friendly
def serve(state: State, host: str, port: int, log_level: str, deliver: bool) -> None:
    """Serve the HTTP API and the admin console (/admin/), and deliver webhooks.

    Every path but /healthz needs a key: the API as a bearer token, the console through its
    sign-in form. Keys come from api_keys in the config file or DELTAHOOK_API_KEYS
    (comma-separated).
    """
    import uvicorn

    from deltahook.api import create_app
    from deltahook.api.server import uvicorn_options
    from deltahook.cli.delivery import worker_id
    from deltahook.delivery.dispatcher import DispatcherOptions
    from deltahook.delivery.envelope import event_categories
    from deltahook.delivery.operational import client_id_of

    options = DispatcherOptions(
        worker_id=worker_id(),
        allow_private=state.settings.allow_private_urls,
        client_id=client_id_of(state.settings.constants),
        categories=event_categories(state.settings.event_schemas_dir),
    )
    app = create_app(state.settings, deliver=options if deliver else None)
    base = f"http://{host}:{port}"
    err.print(f"serving the deltahook API on {base} and the console on {base}/admin/")
    err.print("delivering in this process" if deliver else "not delivering (--no-deliver)")
    err.print("Ctrl-C to stop")
    guards = uvicorn_options(state.settings)
    uvicorn.run(app, host=host, port=port, log_level=log_level, **guards)
