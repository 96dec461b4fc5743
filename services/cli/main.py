"""agentsuite: run the suite, and drive every public API of it from the shell.

One noun per group (agents, blocks, messages, tools, secrets, runs, archives, keys), ``up`` and
``chat``. Results go to stdout (a table, or JSON with ``--json``), errors to stderr with an exit
status that says what kind of failure it was (docs/cli.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from agentsuite.client.errors import AgentSuiteError
from services.cli import agents, archives, blocks, chat, keys, messages, runs, secrets, tools, top
from services.cli.console import Output
from services.cli.context import Context, Target
from services.cli.exits import CliError, ExitCode
from services.cli.parsing import command
from services.common.settings import Settings, SettingsError

EPILOG = """exit status: 0 ok, 1 error, 2 usage (bad arguments or input), 3 not found,
4 unavailable (the suite is down), 5 no or refused API key, 130 interrupted.
Every command takes --help; add --json for output a script can read."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentsuite",
        description=__doc__.split("\n\n")[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"agentsuite {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = command(
        commands,
        "up",
        "start PostgreSQL and the four services; Ctrl-C stops them",
        _up,
        gateway=False,
        json=False,
    )
    up.add_argument("--state-dir", type=Path, help="where the database, logs and API key live")
    chat.add_command(commands)
    for module in (agents, blocks, messages, tools, secrets, runs, archives, keys, top):
        module.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env("cli")
    except SettingsError as exc:
        parser.exit(ExitCode.USAGE, f"agentsuite: {exc}\n")
    if getattr(args, "state_dir", None):
        settings = replace(settings, state_dir=args.state_dir.resolve())
    output = Output(json_mode=getattr(args, "json", False))
    try:
        code = asyncio.run(run(args, settings, output))
    except KeyboardInterrupt:
        output.err.print()
        code = ExitCode.INTERRUPTED
    sys.exit(int(code))


async def run(args: argparse.Namespace, settings: Settings, output: Output) -> int:
    """Run the command ``args`` names; its exit status. Failures a user can cause are reported
    in a few lines on stderr, never as a traceback."""
    target = Target.of(settings, args)
    context = Context(settings, output, target)
    try:
        return await args.handler(context, args) or ExitCode.OK
    except AgentSuiteError as exc:
        failure = target.explain(exc)
    except CliError as exc:
        failure = exc
    finally:
        await context.close()
    output.error(failure.message)
    for detail in failure.details:
        output.err.print(f"  {detail}", markup=False)
    return failure.code


async def _up(context: Context, args: argparse.Namespace) -> int:
    from services.cli.up import run_up

    return await run_up(context.settings)


def _version() -> str:
    try:
        return version("agentsuite")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    main()
