"""The architectural floor: one chat message through the suite's mandated hops, with no logic at all.

What any Python implementation of this architecture must do per message, between real processes
(client, gateway, agent, memory, the fake LLM, PostgreSQL), and nothing else:

1. client -> gateway: one unary gRPC call;
2. gateway: INSERT the run (one committed statement);
3. gateway -> agent: one server-streaming call, answered with two messages (reply, stop);
4. agent -> memory: one unary call, the context read: SELECT the agent's last 20 messages;
5. agent -> fake LLM: one POST /v1/chat/completions, not streamed (aiohttp, keep-alive);
6. agent -> memory: one unary call, the append: INSERT user and assistant message in one statement;
7. gateway: UPDATE the run's end, then reply to the client.

Four gRPC calls (grpc.aio, generic handlers on raw bytes as in echo.py: no protobuf, no
interceptors), four statements (asyncpg pools), one HTTP call. Its rate against the echo ceiling,
measured in the same run, bounds what fraction of echo the real suite could ever reach here. Its
gateway overhead (steps 1, 2, 7 and the reply: ``Send`` against the agent's ``Step`` called
directly, taking turns at concurrency 1, as ``throughput.py`` measures the suite's) bounds the
suite's the same way.

    python bench/floor.py --concurrency 1,32 --seconds 10 [--overhead-seconds 5] [--uvloop] [--no-db]

``--uvloop`` runs gateway, agent and memory on uvloop, as the suite's services run (the client and
echo stay on asyncio);
``--no-db`` drops the four statements (memory then answers with a fixed 20-message context), which
leaves the cost of the hops alone. ``serve`` runs one of the three services (started as
subprocesses by the default command). Prints one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import asyncpg
import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import echo
from bench.harness import embedded_database, fake_llm, listening_process, log, machine, postmaster_pid
from bench.load import CpuMeter, closed_loop, paired
from services.common.embedded_pg import EmbeddedPostgres
from services.common.event_loop import run_event_loop

SERVICE = "agentsuite.bench.Floor"
MESSAGE = "hello there, how are you today?"
REPLY = f"echo: {MESSAGE}"
"""What the fake LLM answers to ``MESSAGE``."""
CONTEXT_MESSAGES = 20
POOL_SIZE = 20
"""As the suite's default ``AGENTSUITE_DB_POOL_SIZE``."""
STOP = b"\0stop"
CALL_TIMEOUT_S = 10.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS floor_runs (
    id bigserial PRIMARY KEY, agent_id text NOT NULL, status text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(), ended_at timestamptz
);
CREATE TABLE IF NOT EXISTS floor_messages (
    id bigserial PRIMARY KEY, agent_id text NOT NULL, role text NOT NULL, content text NOT NULL
);
CREATE INDEX IF NOT EXISTS floor_messages_agent ON floor_messages (agent_id, id);
"""
START_RUN = "INSERT INTO floor_runs (agent_id, status) VALUES ($1, 'running') RETURNING id"
END_RUN = "UPDATE floor_runs SET status = 'done', ended_at = now() WHERE id = $1"
READ_CONTEXT = (
    f"SELECT role, content FROM floor_messages WHERE agent_id = $1 ORDER BY id DESC LIMIT {CONTEXT_MESSAGES}"
)
APPEND = "INSERT INTO floor_messages (agent_id, role, content) VALUES ($1, 'user', $2), ($1, 'assistant', $3)"
FIXED_CONTEXT = json.dumps(
    [{"role": "user", "content": MESSAGE}, {"role": "assistant", "content": REPLY}] * (CONTEXT_MESSAGES // 2)
).encode()
"""What the context read returns with ``--no-db``: the history the echoing fake LLM builds anyway."""


def method(name: str) -> str:
    return f"/{SERVICE}/{name}"


async def _leave_as_is(_connection: asyncpg.Connection) -> None:
    """No reset query when a connection returns to the pool (one round trip less), as the suite's pools."""


async def open_pool(stack: AsyncExitStack, url: str | None) -> asyncpg.Pool | None:
    if url is None:
        return None
    pool = await asyncpg.create_pool(url, min_size=1, max_size=POOL_SIZE, reset=_leave_as_is)
    stack.push_async_callback(pool.close)
    return pool


async def gateway(stack: AsyncExitStack, args: argparse.Namespace) -> dict:
    """``Send``: record the run, stream the agent's step, record the run's end, reply."""
    pool = await open_pool(stack, args.db)
    agent = await stack.enter_async_context(grpc.aio.insecure_channel(args.agent))
    step = agent.unary_stream(method("Step"))

    async def send(request: bytes, _context) -> bytes:
        if pool is not None:
            run_id = await pool.fetchval(START_RUN, request.split(b"\0", 1)[0].decode())
        events = [event async for event in step(request, timeout=CALL_TIMEOUT_S)]
        if events[-1:] != [STOP]:
            raise RuntimeError("the step did not stop")
        if pool is not None:
            await pool.execute(END_RUN, run_id)
        return events[0]

    return {"Send": grpc.unary_unary_rpc_method_handler(send)}


async def agent(stack: AsyncExitStack, args: argparse.Namespace) -> dict:
    """``Step``: read the context, ask the LLM, stream the reply, append both messages, stop."""
    memory = await stack.enter_async_context(grpc.aio.insecure_channel(args.memory))
    read = memory.unary_unary(method("Read"))
    append = memory.unary_unary(method("Append"))
    http = await stack.enter_async_context(aiohttp.ClientSession())
    url = f"{args.llm}/chat/completions"

    async def step(request: bytes, _context):
        agent_id, text = request.split(b"\0", 1)
        messages = json.loads(await read(agent_id, timeout=CALL_TIMEOUT_S))
        messages.append({"role": "user", "content": text.decode()})
        body = {"model": "floor", "messages": messages, "stream": False}
        async with http.post(url, json=body) as response:
            response.raise_for_status()
            reply = (await response.json())["choices"][0]["message"]["content"].encode()
        yield reply
        await append(b"\0".join((agent_id, text, reply)), timeout=CALL_TIMEOUT_S)
        yield STOP

    return {"Step": grpc.unary_stream_rpc_method_handler(step)}


async def memory(stack: AsyncExitStack, args: argparse.Namespace) -> dict:
    """``Read``: the agent's last messages as OpenAI JSON, oldest first. ``Append``: two messages."""
    pool = await open_pool(stack, args.db)

    async def read(agent_id: bytes, _context) -> bytes:
        if pool is None:
            return FIXED_CONTEXT
        rows = await pool.fetch(READ_CONTEXT, agent_id.decode())
        return json.dumps([{"role": role, "content": content} for role, content in reversed(rows)]).encode()

    async def append(request: bytes, _context) -> bytes:
        if pool is not None:
            await pool.execute(APPEND, *request.decode().split("\0"))
        return b""

    return {
        "Read": grpc.unary_unary_rpc_method_handler(read),
        "Append": grpc.unary_unary_rpc_method_handler(append),
    }


ROLES = {"gateway": gateway, "agent": agent, "memory": memory}


async def serve(args: argparse.Namespace) -> None:
    """Serve one role until SIGTERM; print ``{"port": N}`` once listening."""
    async with AsyncExitStack() as stack:
        await echo.serve_bytes(SERVICE, await ROLES[args.role](stack, args))


def send_call(channel: grpc.aio.Channel, concurrency: int):
    """One message of worker ``i`` to its own agent; anything but the fake LLM's reply is an error."""
    send = channel.unary_unary(method("Send"))
    requests = [f"c{concurrency}-{worker}\0{MESSAGE}".encode() for worker in range(concurrency)]

    async def call(worker: int) -> None:
        if await send(requests[worker], timeout=CALL_TIMEOUT_S) != REPLY.encode():
            raise RuntimeError("unexpected reply")

    return call


def step_call(channel: grpc.aio.Channel):
    """The agent's ``Step`` called directly, for an agent of its own."""
    step = channel.unary_stream(method("Step"))
    request = f"direct\0{MESSAGE}".encode()

    async def call(_worker: int) -> None:
        if [event async for event in step(request, timeout=CALL_TIMEOUT_S)] != [REPLY.encode(), STOP]:
            raise RuntimeError("unexpected step")

    return call


async def measure(addresses: dict[str, str], pids: dict[str, int], args: argparse.Namespace) -> dict:
    """Closed loop on one channel to the gateway, each worker with its own agent id; then the
    gateway's overhead."""
    results = []
    async with grpc.aio.insecure_channel(addresses["gateway"]) as channel:
        await asyncio.wait_for(channel.channel_ready(), 10)
        for concurrency in args.concurrency:
            call = send_call(channel, concurrency)
            log(f"floor: concurrency {concurrency} for {args.warmup:g}s warm-up + {args.seconds:g}s")
            result = await closed_loop(
                call, concurrency=concurrency, seconds=args.seconds, warmup=args.warmup, meter=CpuMeter(pids)
            )
            cores = {"client": result["client_cpu_cores"], **result["server_cpu_cores"]}
            rate = result["messages_per_s"]
            result["cpu_ms_per_message"] = {
                name: round(used * 1000 / rate, 3) if rate else None for name, used in cores.items()
            }
            results.append(result)
        log(f"floor: overhead, Step direct vs Send, alternating, {args.overhead_seconds:g}s")
        async with grpc.aio.insecure_channel(addresses["agent"]) as agent_channel:
            overhead = await paired(
                {"direct_step": step_call(agent_channel), "through_gateway": send_call(channel, 1)},
                seconds=args.overhead_seconds,
                warmup=args.warmup,
            )
    return {"floor": results, "overhead": overhead}


async def run(args: argparse.Namespace) -> dict:
    document: dict = {
        "machine": machine(),
        "config": {
            "concurrency": args.concurrency,
            "seconds": args.seconds,
            "warmup_seconds": args.warmup,
            "overhead_seconds": args.overhead_seconds,
            "uvloop": args.uvloop,
            "database": not args.no_db,
            "context_messages": CONTEXT_MESSAGES,
            "message": MESSAGE,
        },
        "echo": await echo.measure(args.concurrency, seconds=args.seconds, warmup=args.warmup),
    }
    async with embedded_database() as (url, log_dir), AsyncExitStack() as stack:
        llm_url, llm_pid = await stack.enter_async_context(fake_llm(latency_ms=0, log_dir=log_dir))
        if not args.no_db:
            connection = await asyncpg.connect(url)
            await connection.execute(SCHEMA)
            await connection.close()
        flags = ["--uvloop"] if args.uvloop else []
        db = [] if args.no_db else ["--db", url]
        pids = {"fake_llm": llm_pid}

        async def start(role: str, *options: str) -> str:
            log(f"floor: starting {role}")
            command = [__file__, "serve", role, *flags, *options]
            port, pids[role] = await stack.enter_async_context(
                listening_process(command, log_file=log_dir / f"{role}.log")
            )
            return f"127.0.0.1:{port}"

        memory_address = await start("memory", *db)
        agent_address = await start("agent", "--memory", memory_address, "--llm", llm_url)
        gateway_address = await start("gateway", *db, "--agent", agent_address)
        if (postmaster := postmaster_pid(EmbeddedPostgres(log_dir.parent))) is not None:
            pids["postgres"] = postmaster
        measured = await measure({"gateway": gateway_address, "agent": agent_address}, pids, args)
    document["floor"] = measured["floor"]
    document["gateway_overhead"] = measured["overhead"]
    document["gateway_overhead_p50_ms"] = measured["overhead"]["difference_of_p50s_ms"]
    echo_rates = {r["concurrency"]: r["messages_per_s"] for r in document["echo"]["results"]}
    document["ratio_to_echo"] = {
        str(r["concurrency"]): round(r["messages_per_s"] / echo_rates[r["concurrency"]], 4)
        for r in document["floor"]
        if echo_rates.get(r["concurrency"])
    }
    return document


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench/floor.py", description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", action="append", help="e.g. 1,32 (repeatable)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per level")
    parser.add_argument("--warmup", type=float, default=2.0, help="unrecorded seconds before each window")
    parser.add_argument(
        "--overhead-seconds", type=float, default=5.0, help="window of the gateway-overhead measurement"
    )
    parser.add_argument("--no-db", action="store_true", help="skip the four statements")
    sub = parser.add_subparsers(dest="command")
    serve_cmd = sub.add_parser("serve", help="run one service of the skeleton (prints its port)")
    serve_cmd.add_argument("role", choices=ROLES)
    serve_cmd.add_argument("--db", help="PostgreSQL URL (none: no statements)")
    serve_cmd.add_argument("--agent", help="the agent's address (gateway)")
    serve_cmd.add_argument("--memory", help="memory's address (agent)")
    serve_cmd.add_argument("--llm", help="the fake LLM's OpenAI base URL (agent)")
    for command in (parser, serve_cmd):
        command.add_argument("--uvloop", action="store_true", help="run the services on uvloop")
    args = parser.parse_args(argv)

    if args.command == "serve":
        if args.uvloop:
            run_event_loop(serve(args))
        else:
            asyncio.run(serve(args))
    else:
        args.concurrency = echo.concurrency_list(args.concurrency or ["1,32"])
        print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
