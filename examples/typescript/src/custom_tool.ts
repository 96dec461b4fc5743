// A custom tool with a secret: Python source run in the tools service's sandbox, given the secret
// as an environment variable. The secret's value is write-only: no RPC ever returns it.
//   WEATHER_API_TOKEN=... node examples/typescript/dist/custom_tool.js
import { MessageRole } from "@agentsuite/client";

import { exampleClient, exampleModel } from "./connection.js";

const SOURCE = `
import os

def weather_report(city: str) -> str:
    """Report the weather in a city.

    Args:
        city: Name of the city.
    """
    token = os.environ["WEATHER_API_TOKEN"]  # a real tool would call its API with it
    return f"Sunny and 21 C in {city} (asked with a token ending in {token[-4:]})"
`;

const client = exampleClient();
const { tool } = await client.tools.createTool({
  tool: { sourceCode: SOURCE, secretNames: ["WEATHER_API_TOKEN"] },
});
const { agent } = await client.agents.createAgent({
  agent: {
    name: "forecaster",
    systemPrompt: "Answer questions about the weather with the weather_report tool.",
    toolIds: [tool!.id],
    model: exampleModel(),
  },
});
// An agent's secret; without agentId it would be the tenant's, for every agent.
await client.tools.setSecret({
  name: "WEATHER_API_TOKEN",
  value: process.env.WEATHER_API_TOKEN ?? "demo-token-1234",
  agentId: agent!.id,
});

try {
  const { secrets } = await client.tools.listSecrets({ agentId: agent!.id });
  console.log(`secrets of the agent (names only): ${secrets.map((secret) => secret.name).join(", ")}`);
  const reply = await client.conversations.sendMessage({
    agentId: agent!.id,
    messages: [{ content: "What is the weather in Paris?" }],
  });
  for (const message of reply.messages) {
    for (const call of message.toolCalls) console.log(`the agent calls ${call.name}(${call.argumentsJson})`);
    if (message.name === "weather_report") console.log(`the tool returns: ${message.content}`);
    else if (message.content) console.log(`${message.role === MessageRole.ASSISTANT ? "agent" : "user"}: ${message.content}`);
  }
} finally {
  await client.agents.deleteAgent({ agentId: agent!.id });
  await client.tools.deleteTool({ toolId: tool!.id });
  client.close();
}
