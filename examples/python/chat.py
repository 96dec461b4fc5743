"""Chat with an agent: replies stream as they are generated, and the agent remembers you.

    python examples/python/chat.py                      # type messages; Ctrl-D ends
    python examples/python/chat.py "hi" "what did I say?"   # send these, then exit

The gateway and API key come from AGENTSUITE_GATEWAY_ADDR and AGENTSUITE_API_KEY.
"""

import asyncio
import sys

from agentsuite.client import connect, events


async def typed_lines(given: list[str]):
    """The messages given on the command line, else lines typed until end of input."""
    for text in given:
        print(f"you> {text}")
        yield text
    while not given:
        try:
            yield await asyncio.to_thread(input, "you> ")
        except EOFError:
            return


async def main(given: list[str]) -> None:
    async with connect() as client:
        agent = await anext(aiter(client.agents.list(name="example-chat")), None)
        if agent is None:
            agent = await client.agents.create("example-chat", system_prompt="You are friendly and brief.")
        async with client.converse(agent.id) as conversation:
            async for text in typed_lines(given):
                print("agent> ", end="", flush=True)
                async for event in conversation.turn(text):
                    match event:
                        case events.AssistantDelta(text=delta):
                            print(delta, end="", flush=True)
                        case events.RunError(error=error):
                            print(f"[{error}]", end="")
                print()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
