"""How commands are declared: one noun per group, each leaf command with the options every command
shares (where the gateway is, which key, ``--json``) and the coroutine that runs it."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

Handler = Callable[..., Awaitable[int | None]]


def _gateway_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("connection")
    group.add_argument(
        "--endpoint", help="gateway address (default: AGENTSUITE_GATEWAY_ADDR, else 127.0.0.1:50051)"
    )
    group.add_argument(
        "--key", help="API key (default: AGENTSUITE_API_KEY, else the key `agentsuite up` wrote)"
    )
    group.add_argument("--state-dir", type=Path, help="state directory of `agentsuite up` (where its key is)")
    return options


def _json_option() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--json", action="store_true", help="print the result as JSON, for scripts")
    return options


GATEWAY = _gateway_options()
JSON = _json_option()


def noun(commands, name: str, help: str) -> Any:
    """A group of commands (``agents``, ``blocks``...); returns its subparsers."""
    group = commands.add_parser(name, help=help, description=help)
    return group.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")


def command(
    group, name: str, help: str, handler: Handler, *, gateway: bool = True, json: bool = True, **kwargs
) -> argparse.ArgumentParser:
    """A leaf command run by ``handler(context, args)``; ``gateway``: it talks to the gateway
    (and takes the options saying where and with which key)."""
    parents = ([GATEWAY] if gateway else []) + ([JSON] if json else [])
    parser = group.add_parser(name, help=help, description=help, parents=parents, **kwargs)
    parser.set_defaults(handler=handler)
    return parser
