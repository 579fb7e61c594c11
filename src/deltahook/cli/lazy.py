"""The command group that imports a command's module only when that command runs.

``deltahook --help`` lists every command from ``COMMANDS`` without importing the engine, the
server or the database drivers; a test keeps the table equal to what the modules register.
"""

from __future__ import annotations

from importlib import import_module

import click

# Command name: (module under deltahook.cli that registers it, its short help).
COMMANDS: dict[str, tuple[str, str]] = {
    "db": ("db", "Database schema commands."),
    "deliver": (
        "delivery",
        "Send due deliveries until stopped (Ctrl-C / SIGTERM / SIGHUP finish the requests in "
        "flight).",
    ),
    "demo": (
        "demo",
        "The sample feeds (v1, then v2) into a fresh SQLite file, delivered to a local receiver.",
    ),
    "emit": (
        "events",
        "Validate the EVENT_TYPE payload in FILE (JSON; - for stdin) and record it for delivery.",
    ),
    "ingest": ("feeds", "Ingest FEED (a file, or - for standard input) of entity KIND."),
    "log": ("delivery_log", "Deliveries, newest first, with their status and last answer."),
    "preview": (
        "preview",
        "Show what ingesting FEED (a file, or - for standard input) of KIND would notify, and "
        "why; writes nothing.",
    ),
    "purge": (
        "delivery_log",
        "Delete delivered and dead deliveries (and their attempts and payloads), the change log "
        "and ended ingest jobs older than this.",
    ),
    "receiver": (
        "delivery_log",
        "A local webhook receiver for demos: prints every request it gets.",
    ),
    "recover": (
        "delivery_log",
        "Queue every failed or dead delivery of SUBSCRIPTION queued since a time, due now.",
    ),
    "rebuild-references": (
        "entities",
        "Write the references between entities (a SKU's manufacturer and categories) again from "
        "the stored snapshots of KIND (default: every kind that declares some).",
    ),
    "resend": (
        "delivery_log",
        "Queue deliveries again now, with the same message id (a notification id: all of its).",
    ),
    "rules": ("rules", "Check and test the Event Settings rules (rules/*.yaml)."),
    "schema": (
        "events",
        "Print the JSON Schema of EVENT_TYPE's payload, or describe an entity kind (--kind).",
    ),
    "serve": ("serve", "Serve the HTTP API and the admin console (/admin/), and deliver webhooks."),
    "show": (
        "entities",
        "Show the stored entity KEY of KIND (a composite key's parts joined by |, and a | or \\ "
        "within a part written \\| or \\\\): its snapshot, version, times, the job that last "
        "wrote it and its recent notifications.",
    ),
    "status": (
        "delivery_log",
        "Per subscription: paused, circuit open or switched off and why, pending, retrying, "
        "dead, delivered in the last hour, oldest due age.",
    ),
    "subscriptions": ("delivery", "List, switch on and off, and test subscriptions."),
    "types": (
        "events",
        "List the event types: category, family, and which rules and subscriptions use them.",
    ),
}

# Modules that add subcommands to a group another module defines: imported with that group.
SUBCOMMANDS: dict[str, tuple[str, ...]] = {"rules": ("rulescheck", "rulesdiff", "rulestats")}


def load(name: str) -> None:
    """Import the modules that register command ``name`` and its subcommands."""
    for module in (COMMANDS[name][0], *SUBCOMMANDS.get(name, ())):
        import_module(f"deltahook.cli.{module}")


def load_all() -> None:
    """Import every command module (each registers its commands on the group)."""
    for name in COMMANDS:
        load(name)


class LazyGroup(click.Group):
    """A group whose commands' modules are imported on first use, not to list them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | COMMANDS.keys())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        # A group's subcommand modules are imported even when the group's own module was
        # imported before (by a test or a tool): importing again is a dictionary look-up.
        if cmd_name in COMMANDS and (cmd_name not in self.commands or cmd_name in SUBCOMMANDS):
            load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands and their short help, as click prints them, from the table."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, self._short_help(name, limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def _short_help(self, name: str, limit: int) -> str:
        command = self.commands.get(name)
        if command is not None:
            return command.get_short_help_str(limit)
        return click.Command(name, help=COMMANDS[name][1]).get_short_help_str(limit)
