"""Resuming a dropped stream: a reader that lost a run's stream asks for what followed the last
seq it saw (WatchRun, on any gateway replica) and gets exactly the missed step-level events,
then the live ones: no gap, no duplicate. Text deltas are live only; the complete assistant
message arrives as a step-level event, so nothing of the reply is lost.

    python examples/python/resume_stream.py
"""

import asyncio

from agentsuite.client import connect, events


async def main() -> None:
    async with connect() as client:
        agent = await client.agents.create("resumable", system_prompt="You are brief.")
        try:
            seen: list[events.Event] = []
            async for event in client.messages.stream(agent.id, "Tell me about lighthouses."):
                seen.append(event)
                if isinstance(event, events.RunStarted):
                    break  # the connection "drops" here
            run_id, last_seq = seen[-1].run_id, seen[-1].seq
            print(f"stream dropped after seq {last_seq} of run {run_id}")

            async for event in client.runs.watch(run_id, after_seq=last_seq):
                seen.append(event)
                if isinstance(event, events.AssistantMessage):
                    print(f"agent: {event.message.content}")
                if isinstance(event, events.RunFinished):
                    print(f"run finished: {event.run.stop_reason}")

            seqs = [event.seq for event in seen if event.step_level]
            assert seqs == list(range(1, len(seqs) + 1)), seqs
            print(f"step-level events 1..{seqs[-1]}: no gap, no duplicate")
        finally:
            await client.agents.delete(agent.id)


if __name__ == "__main__":
    asyncio.run(main())
