"""``deltahook serve``: the HTTP API and the admin console on uvicorn, delivering too."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING

import click

from deltahook.cli import stops
from deltahook.cli.app import EXIT_ERROR, State, err, friendly, main

if TYPE_CHECKING:
    import socket


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
    from deltahook.api.server import Server, uvicorn_options
    from deltahook.cli.delivery import log_to_stderr, worker_id
    from deltahook.delivery.dispatcher import DispatcherOptions
    from deltahook.delivery.envelope import event_categories
    from deltahook.delivery.operational import client_id_of
    from deltahook.store.db import ensure_writable

    options = DispatcherOptions(
        worker_id=worker_id(),
        allow_private=state.settings.allow_private_urls,
        client_id=client_id_of(state.settings.constants),
        categories=event_categories(state.settings.event_schemas_dir),
    )
    app = create_app(state.settings, deliver=options if deliver else None)
    if stops.pending():  # a stop came while the store was opened: nothing was started yet
        app.state.engine.close()
        err.print("stopped before serving: a stop was requested while it started")
        return
    if deliver:  # a read-only store: one line now, not the failed startup's traceback
        why = "the dispatcher in this process writes it (serve --no-deliver does not)"
        ensure_writable(app.state.engine.db, why=why)
    sockets = _listen(host, port)  # before the announcement: a taken port is one line
    base = f"http://{host}:{sockets[0].getsockname()[1]}"
    err.print(f"serving the deltahook API on {base} and the console on {base}/admin/")
    err.print("delivering in this process" if deliver else "not delivering (--no-deliver)")
    log_to_stderr("text", quiet=False)  # the in-process dispatcher's log, as `deliver` writes it
    err.print("Ctrl-C to stop")
    guards = uvicorn_options(state.settings)
    server = Server(
        uvicorn.Config(app, host=host, port=port, log_level=log_level, **guards),
        stop_requested=lambda: stops.pending() > 0,
    )
    # uvicorn gives the signal that stopped it to the handler it found (``stops``, which only
    # records it: exit 0) once it has shut down; where that handler is Python's own (serve run
    # in-process) a Ctrl-C raises here. A failed start is uvicorn's exit 3.
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        server.run(sockets=sockets)
    if not server.started:  # the app's startup failed (uvicorn said why)
        sys.exit(EXIT_ERROR)  # not uvicorn's 3: the CLI's "records rejected"


def _listen(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to every address of ``host`` at ``port``, as asyncio would bind them for
    uvicorn; a ``ClickException`` (one line, exit 1) when the name does not resolve or an
    address cannot be had (the port is taken, say)."""
    import socket

    sockets: list[socket.socket] = []
    try:
        # '' is every interface, as asyncio (and so uvicorn) takes it
        found = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        for family, kind, proto, _, given in dict.fromkeys(found):
            try:
                sock = socket.socket(family, kind, proto)
            except OSError:  # a family this system lacks (IPv6 off): asyncio skips it too
                continue
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # the IPv4 address, if any, has its own socket
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            address = given
            if port == 0 and len(sockets) > 1:  # one port for every address, the announced one
                address = (given[0], sockets[0].getsockname()[1], *given[2:])
            sock.bind(address)
        if not sockets:
            raise OSError(f"no address of {host!r} can be had on this system")
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None
    return sockets
