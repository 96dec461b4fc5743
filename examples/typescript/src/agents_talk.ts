// Agents messaging each other: a host agent asks the agents tagged "poet" for a haiku with the
// built-in tool send_message_to_agents_matching_tags, then answers the user with it.
//   node examples/typescript/dist/agents_talk.js
import { exampleClient, exampleModel } from "./connection.js";

const client = exampleClient();
const model = exampleModel();
const { agent: poet } = await client.agents.createAgent({
  agent: { name: "poet", systemPrompt: "You write one haiku about what you are asked.", tags: ["poet"], model },
});
const { agent: host } = await client.agents.createAgent({
  agent: {
    name: "host",
    systemPrompt:
      "You host a poetry evening. For a poem, ask the agents tagged 'poet' with " +
      "send_message_to_agents_matching_tags, then present their poem to the user.",
    model,
  },
});

try {
  for await (const { event } of client.conversations.streamMessage({
    agentId: host!.id,
    messages: [{ content: "Could we hear a haiku about the sea?" }],
  })) {
    const { case: kind, value } = event!.event;
    if (kind === "toolCall") console.log(`host calls ${value.name} ${value.argumentsJson}`);
    if (kind === "toolReturn") console.log(`the poets answer: ${value.content}`);
    if (kind === "assistantMessage" && value.content) console.log(`host: ${value.content}`);
    if (kind === "finished") console.log(`run ${value.run!.id} finished`);
  }
  // The poet's side of it: its history holds the host's request and its haiku.
  const { messages } = await client.memory.listMessages({ agentId: poet!.id });
  for (const message of messages) console.log(`poet's history #${message.seq}: ${message.content}`);
} finally {
  for (const agent of [host!, poet!]) await client.agents.deleteAgent({ agentId: agent.id });
  client.close();
}
