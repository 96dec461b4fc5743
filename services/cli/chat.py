"""``agentsuite chat``: talk with an agent, replies streamed. Interactive on a terminal (see
``chat_input`` for the keys), or one message per ``-m`` (or all of stdin) for scripts.

Ctrl-C while a reply streams cancels the run through ``CancelRun`` and returns to the prompt (a
second Ctrl-C stops following it at once). A run that waits for approval asks inline. A name no
agent has is created only when asked (``--create``) or confirmed; ``chat`` without a name uses
the agent "assistant", created from the default template the first time.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import AsyncIterator

from agentsuite.client import Client
from agentsuite.client.errors import AgentSuiteError
from agentsuite.client.events import Event
from agentsuite.client.types import Agent, RunStatus, ToolApproval
from services.cli import resolve
from services.cli.agent_files import DEFAULT_TEMPLATE, load_template
from services.cli.agents import create_agent, model_name
from services.cli.chat_input import Leave, LineReader
from services.cli.console import Output
from services.cli.context import Context
from services.cli.exits import CliError, ExitCode
from services.cli.parsing import command
from services.cli.run_view import BlockWatch, RunPrinter, call_text, usage_line

DEFAULT_AGENT = "assistant"
SCRIPTED_NOTE = (
    "note: the offline scripted model answered, not a real LLM. Start the suite with\n"
    "      AGENTSUITE_OPENAI_BASE_URL and/or OPENAI_API_KEY set to chat with a real one."
)
BANNER = (
    "/help lists commands · /quit or Ctrl-D leaves · Enter sends, Alt-Enter starts a new line · "
    "Ctrl-C cancels a reply"
)
HELP = """commands:
  /help            this help
  /usage [on|off]  the model, steps and tokens of the last reply (on: after every reply)
  /memory          the agent's core memory blocks
  /agent           the agent's settings
  /quit            leave (or Ctrl-D, or Ctrl-C on an empty line)
keys: Enter sends · Alt-Enter (Esc Enter) starts a new line · a paste stays one message
      Ctrl-C while the agent answers cancels the run"""


def add_command(commands) -> None:
    chat = command(commands, "chat", "talk with an agent, replies streamed", _chat, json=False)
    chat.add_argument(
        "agent",
        nargs="?",
        help=f"name or id (default: {DEFAULT_AGENT}, created from the default template if new)",
    )
    chat.add_argument(
        "-m", "--message", action="append", help="send this message, print the reply and exit (repeatable)"
    )
    chat.add_argument("--create", action="store_true", help="create the agent if no agent has this name")
    chat.add_argument(
        "--template", help=f"template of a new agent (default: {DEFAULT_TEMPLATE}; see agents templates)"
    )
    chat.add_argument(
        "--usage", action="store_true", help="show the model, steps and tokens after every reply"
    )


async def _chat(context: Context, args: argparse.Namespace) -> int:
    client = context.gateway
    agent = await _agent(context, args)
    output = context.output
    blocks = BlockWatch(client, agent.id)
    await blocks.load()
    session = ChatSession(
        context, agent, RunPrinter(output, agent_name=agent.name, blocks=blocks, usage=args.usage)
    )
    output.line(f"agent {agent.name} ({agent.id}) · model: {model_name(agent)}", style="bold")
    if args.message:
        return await session.send_all(args.message)
    if not sys.stdin.isatty():
        text = await asyncio.to_thread(sys.stdin.read)
        return await session.send_all([text] if text.strip() else [])
    output.line(BANNER, style="dim")
    return await session.repl(LineReader(context.settings.state_dir / "chat_history"))


async def _agent(context: Context, args: argparse.Namespace) -> Agent:
    """The agent to talk with; a new one only when that is clearly meant."""
    client, output = context.gateway, context.output
    name = args.agent or DEFAULT_AGENT
    found = await resolve.agent_or_none(client, name)
    if found is not None:
        return found
    if not (args.agent is None or args.create):
        await _confirm_new(client, name)
    template = args.template or DEFAULT_TEMPLATE
    agent = await create_agent(client, name, load_template(template))
    output.note(f"created agent {agent.name} from the template {template}")
    return agent


async def _confirm_new(client: Client, name: str) -> None:
    """Ask before creating an agent of a name nobody has (it may be a typo); refuse without a terminal."""
    names = [a.name async for a in client.agents.list(page_size=resolve.LISTED)]
    missing = resolve.missing("agent", name, names, "agentsuite agents list")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise CliError(f"{missing.message}. Add --create to create it.", ExitCode.NOT_FOUND)
    question = f"{missing.message}\nCreate a new agent {name!r}? [y/N] "
    try:
        answer = await LineReader(None).ask(question)
    except Leave:
        answer = ""
    if answer.lower() not in ("y", "yes"):
        raise CliError(f"no agent {name!r}; nothing created", ExitCode.NOT_FOUND)


class ChatSession:
    """One conversation: sends, shows the events, cancels on Ctrl-C, asks for approvals."""

    def __init__(self, context: Context, agent: Agent, printer: RunPrinter):
        self._context = context
        self._client = context.gateway
        self._output: Output = context.output
        self._agent = agent
        self._printer = printer
        self._noted_offline = False
        self._cancel_sent = False
        self._interrupts = 0
        self._cancelling: asyncio.Task | None = None

    # -- scripts ----------------------------------------------------------------------------

    async def send_all(self, texts: list[str]) -> int:
        """Send each message in turn (no questions asked); the exit status."""
        for text in texts:
            self._output.line(f"you> {text}", style="bold")
            if not await self.turn(self._client.messages.stream(self._agent.id, text)):
                return ExitCode.ERROR
            run = self._printer.run
            if run is not None and run.status == RunStatus.RUN_STATUS_AWAITING_APPROVAL:
                self._output.line(
                    f"run {run.id} waits for approval: agentsuite runs approve {run.id} "
                    "(or --deny --reason ...)",
                    style="yellow",
                )
                return ExitCode.OK
            if run is not None and run.status == RunStatus.RUN_STATUS_FAILED:
                return ExitCode.ERROR
        return ExitCode.OK

    # -- people -----------------------------------------------------------------------------

    async def repl(self, reader: LineReader) -> int:
        while True:
            try:
                text = await reader.message()
            except (Leave, EOFError):
                return ExitCode.OK
            if not text.strip():
                continue
            if text.strip().startswith("/"):
                if await self._command(text.strip()) == "quit":
                    return ExitCode.OK
                continue
            await self.turn(self._client.messages.stream(self._agent.id, text))
            while self._printer.pending:
                decisions = await self._decide(reader)
                if decisions is None:
                    break
                await self.turn(self._client.runs.approve_stream(self._agent.id, decisions))

    async def _decide(self, reader: LineReader) -> list[ToolApproval] | None:
        """Ask about each call awaiting approval; None when the person backs out (the run keeps
        waiting; a new message leaves those calls unanswered)."""
        decisions = []
        for call in self._printer.pending:
            try:
                answer = await reader.ask(f"approve {call_text(call, 80)}? [y]es / [n]o: ")
                approve = answer.lower() in ("y", "yes")
                reason = "" if approve else await reader.ask("reason (optional, the agent reads it): ")
            except Leave:
                self._output.line("  (left undecided; the run keeps waiting)", style="dim")
                return None
            decisions.append(ToolApproval(tool_call_id=call.id, approve=approve, reason=reason))
        return decisions

    async def _command(self, line: str) -> str | None:
        name, _, rest = line.partition(" ")
        out = self._output
        if name in ("/quit", "/exit"):
            return "quit"
        if name == "/help":
            out.line(HELP, style="dim")
        elif name == "/usage":
            if rest.strip() in ("on", "off"):
                self._printer.show_usage = rest.strip() == "on"
                out.line(f"usage after every reply: {rest.strip()}", style="dim")
            elif self._printer.run is None and self._printer.usage is None:
                out.line("no reply yet", style="dim")
            else:
                out.line(usage_line(self._printer.usage, self._printer.model), style="dim")
        elif name == "/memory":
            async for block in self._client.blocks.list(agent_id=self._agent.id):
                out.line(
                    f"[{block.label}] ({len(block.value)}/{block.limit} chars, version {block.version})",
                    style="bold",
                )
                out.line(block.value)
        elif name == "/agent":
            agent = await self._client.agents.get(self._agent.id)
            out.line(
                f"{agent.name} ({agent.id}) · model: {model_name(agent)} · tags: {', '.join(agent.tags) or '-'}"
            )
            if self._printer.model:
                out.line(f"last answered by {self._printer.model}", style="dim")
        else:
            out.line(f"unknown command {name}; /help lists them", style="yellow")
        return None

    # -- one run ----------------------------------------------------------------------------

    async def turn(self, events: AsyncIterator[Event]) -> bool:
        """Show a run's events until it stops; Ctrl-C cancels it. False when it could not be
        followed (the error is shown)."""
        self._printer.start_turn()
        self._cancel_sent, self._interrupts = False, 0
        loop = asyncio.get_running_loop()
        reading = asyncio.create_task(self._follow(events))
        loop.add_signal_handler(signal.SIGINT, self._interrupted, reading)
        try:
            return await reading
        except asyncio.CancelledError:
            if not reading.cancelled():
                raise
            self._output.line(
                f"  (stopped following run {self._printer.run_id}; `agentsuite runs show {self._printer.run_id}` tells how it ended)",
                style="yellow",
            )
            return True
        finally:
            loop.remove_signal_handler(signal.SIGINT)

    async def _follow(self, events: AsyncIterator[Event]) -> bool:
        try:
            async for event in events:
                await self._printer.show(event)
                self._cancel_if_asked()
        except AgentSuiteError as exc:
            failure = self._context.target.explain(exc)
            self._output.line(f"error: {failure.message}", style="red")
            return False
        if self._printer.model.startswith("scripted/") and not self._noted_offline:
            self._output.line(SCRIPTED_NOTE, style="dim")
            self._noted_offline = True
        return True

    def _interrupted(self, reading: asyncio.Task) -> None:
        self._interrupts += 1
        if self._interrupts == 1:
            self._output.line("\n  (cancelling the run; Ctrl-C again stops waiting)", style="yellow")
            self._cancel_if_asked()
        else:
            reading.cancel()

    def _cancel_if_asked(self) -> None:
        if self._interrupts and not self._cancel_sent and self._printer.run_id:
            self._cancel_sent = True
            self._cancelling = asyncio.get_running_loop().create_task(self._cancel(self._printer.run_id))

    async def _cancel(self, run_id: str) -> None:
        try:
            await self._client.runs.cancel(run_id)
        except AgentSuiteError as exc:
            self._output.line(f"  (could not cancel run {run_id}: {exc.message})", style="red")
