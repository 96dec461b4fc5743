"""Agents messaging each other: a writer asks the agents tagged "research" and answers with
what they said. The message goes through the gateway, so the researcher's own lane, memory and
history apply; the researcher's history keeps the question, signed by the writer.

    python examples/python/agents_messaging.py [--provider openai --model gpt-4o-mini]

Agents need a model that calls tools (the offline scripted model does not).
"""

import argparse
import asyncio

from agentsuite.client import connect, events, types


async def main(model: types.ModelConfig) -> None:
    async with connect() as client:
        researcher = await client.agents.create(
            "researcher",
            system_prompt="You answer questions about the harbour from your memory, in one sentence.",
            blocks=[types.BlockSpec(label="facts", value="The lighthouse is red and 40 m tall.")],
            tags=["research"],
            model=model,
        )
        writer = await client.agents.create(
            "writer",
            system_prompt=(
                "Before answering, ask the agents tagged 'research' with "
                "send_message_to_agents_matching_tags, then answer with what they said."
            ),
            model=model,
        )
        try:
            async for event in client.messages.stream(writer.id, "How tall is the lighthouse?"):
                match event:
                    case events.ToolCalled(call=call):
                        print(f"writer calls {call.name}({call.arguments_json})")
                    case events.ToolReturned(result=result):
                        print(f"researchers answered: {result.content}")
                    case events.AssistantMessage(message=message) if message.content:
                        print(f"writer: {message.content}")
            async for message in client.messages.list(researcher.id, roles=["user"]):
                print(f"researcher's history: {message.name} asked {message.content!r}")
        finally:
            await client.agents.delete(writer.id)
            await client.agents.delete(researcher.id)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", default="", help="provider configured on the agent service")
    parser.add_argument("--model", default="", help="model name (default: the service's)")
    args = parser.parse_args()
    asyncio.run(main(types.ModelConfig(provider=args.provider, model=args.model)))
