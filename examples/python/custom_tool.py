"""A custom tool with a secret: the tool is the source of one Python function, run in the
sandbox; the secret is stored once (write only, never returned) and reaches only the tools that
name it, as an environment variable.

    python examples/python/custom_tool.py [--provider openai --model gpt-4o-mini]
"""

import argparse
import asyncio
from datetime import timedelta

from agentsuite.client import connect, events, types

TOOL_SOURCE = '''
import os


def harbour_weather(city: str) -> str:
    """The weather at a city's harbour, from the (imaginary) harbour weather service.

    Args:
        city: the city whose harbour to ask about.
    """
    token = os.environ["HARBOUR_API_TOKEN"]  # granted to this tool only
    # The sandbox has no network; a real tool would call the service with the token here.
    return f"{city}: 18 C, light breeze (asked with a token of {len(token)} characters)"
'''


async def main(model: types.ModelConfig) -> None:
    async with connect() as client:
        await client.secrets.set("HARBOUR_API_TOKEN", "token-from-your-vault")
        tool = await client.tools.create(
            TOOL_SOURCE, secret_names=["HARBOUR_API_TOKEN"], timeout_limit=timedelta(seconds=10)
        )
        agent = await client.agents.create(
            "harbour-master",
            system_prompt="Use harbour_weather to answer questions about the weather.",
            tool_ids=[tool.id],
            model=model,
        )
        try:
            tried = await client.tools.run(tool.id, arguments={"city": "Porto"})
            print(f"test run: {tried.result_json}")
            async for event in client.messages.stream(agent.id, "What's the weather in Lisbon's harbour?"):
                match event:
                    case events.ToolReturned(result=result):
                        print(f"tool {result.name}: {result.content}")
                    case events.AssistantMessage(message=message) if message.content:
                        print(f"agent: {message.content}")
            print("secrets:", [secret.name for secret in await client.secrets.list()])
        finally:
            await client.agents.delete(agent.id)
            await client.tools.delete(tool.id)
            await client.secrets.delete("HARBOUR_API_TOKEN")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", default="", help="provider configured on the agent service")
    parser.add_argument("--model", default="", help="model name (default: the service's)")
    args = parser.parse_args()
    asyncio.run(main(types.ModelConfig(provider=args.provider, model=args.model)))
