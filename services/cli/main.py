"""``agentsuite``: run the suite (``up``), chat with an agent (``chat``), manage API keys (``keys``),
fill and search archival memory (``archival``), export and import agents (``agents``)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from services.common.settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="agentsuite", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start PostgreSQL and the four services; Ctrl-C stops them")
    up.add_argument("--state-dir", type=Path, help="where the database, logs and API key live")

    chat = commands.add_parser("chat", help="chat with an agent, with streamed replies")
    chat.add_argument("--agent", default="assistant", help="agent id or name; a new name creates the agent")
    chat.add_argument("--message", "-m", action="append", help="send this message and exit (repeatable)")

    keys = commands.add_parser("keys", help="create, list and revoke API keys (admin)")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="issue a key for a tenant (created if new)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--name", default="")
    revoke = key_commands.add_parser("revoke", help="revoke a key, given the key or its id")
    revoke.add_argument("key_or_id")
    listing = key_commands.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--tenant", default=None)
    for sub in (create, revoke, listing):
        sub.add_argument("--state-dir", type=Path)

    from services.cli.agents import add_commands as add_agents_commands
    from services.cli.archival import add_commands as add_archival_commands
    from services.cli.gateway_access import add_gateway_arguments

    add_gateway_arguments(chat)

    add_archival_commands(commands)
    add_agents_commands(commands)
    from services.cli.top import add_commands as add_top_commands

    add_top_commands(commands)

    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env("cli")
    except SettingsError as exc:
        parser.exit(2, f"agentsuite: {exc}\n")
    if getattr(args, "state_dir", None):
        settings = _with_state_dir(settings, args.state_dir)

    if args.command == "up":
        from services.cli.up import run_up

        sys.exit(asyncio.run(run_up(settings)))
    if args.command == "chat":
        from services.cli.chat import run_chat

        sys.exit(asyncio.run(run_chat(settings, args)))
    if args.command == "archival":
        from services.cli.archival import run_archival

        sys.exit(asyncio.run(run_archival(settings, args)))
    if args.command == "top":
        from services.cli.top import run_top

        sys.exit(_until_interrupted(run_top(args)))
    if args.command == "agents":
        from services.cli.agents import run_agents

        sys.exit(asyncio.run(run_agents(settings, args)))
    from services.cli.keys import run_keys

    sys.exit(asyncio.run(run_keys(settings, args)))


def _until_interrupted(command) -> int:
    """Run ``command`` until it ends, or until Ctrl-C (then exit 0, without a traceback)."""
    try:
        return asyncio.run(command)
    except KeyboardInterrupt:
        return 0


def _with_state_dir(settings: Settings, state_dir: Path) -> Settings:
    from dataclasses import replace

    return replace(settings, state_dir=state_dir.resolve())


def install_stop_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)


def api_key_file(settings: Settings) -> Path:
    return settings.state_dir / "api_key"


def write_secret(path: Path, value: str) -> None:
    """Write ``value`` to ``path`` readable by the owner only (mode 0600 from the first byte)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    path.chmod(0o600)


if __name__ == "__main__":
    main()
