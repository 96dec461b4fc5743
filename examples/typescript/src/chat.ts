// A chat with an agent: each line you type is sent on one Converse stream, the reply streams back.
//   node examples/typescript/dist/chat.js
import { createInterface } from "node:readline/promises";

import { exampleClient, exampleModel } from "./connection.js";

const client = exampleClient();
const { agent } = await client.agents.createAgent({
  agent: { name: "chat-example", systemPrompt: "You are a friendly, concise assistant.", model: exampleModel() },
  memoryBlocks: [{ label: "human", value: "Nothing known about the user yet.", limit: 2000 }],
});
const conversation = client.converse(agent!.id);
const lines = createInterface({ input: process.stdin, output: process.stdout, prompt: "you> " });

lines.prompt();
for await (const line of lines) {
  if (!line.trim()) continue;
  const turn = conversation.send(line);
  process.stdout.write("agent> ");
  for await (const { event } of turn) {
    if (event.case === "assistantDelta") process.stdout.write(event.value.text);
    if (event.case === "retried") process.stdout.write("\n[the step is tried again]\nagent> ");
    if (event.case === "toolCall") process.stdout.write(`\n[calls ${event.value.name}]\n`);
  }
  const { run } = await turn.done;
  process.stdout.write(`\n(${run.usage?.totalTokens ?? 0n} tokens)\n`);
  lines.prompt();
}
await conversation.close();
await client.agents.deleteAgent({ agentId: agent!.id });
client.close();
