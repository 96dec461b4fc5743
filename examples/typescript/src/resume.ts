// Resuming a dropped stream: the run goes on in the suite when a client loses its stream; the
// client follows it again with WatchRun from the last seq it received and gets exactly the
// step-level events after it (no gap, no duplicate), then the live ones.
//   node examples/typescript/dist/resume.js
import { randomUUID } from "node:crypto";

import { AgentsuiteError, Code } from "@agentsuite/client";

import { exampleClient, exampleModel } from "./connection.js";

const client = exampleClient();
const { agent } = await client.agents.createAgent({
  agent: { name: "storyteller", systemPrompt: "You tell short stories.", model: exampleModel() },
});
const seen: bigint[] = [];
let runId = "";
let reply = "";

try {
  const connection = new AbortController();
  try {
    const request = {
      agentId: agent!.id,
      messages: [{ content: "Tell me a story about a lighthouse." }],
      idempotencyKey: randomUUID(), // a retry of this very request would stream the same run
    };
    for await (const { event } of client.conversations.streamMessage(request, { signal: connection.signal })) {
      runId = event!.runId;
      if (event!.event.case !== "assistantDelta") seen.push(event!.seq);
      console.log(`#${event!.seq} ${event!.event.case}`);
      if (event!.event.case === "started") connection.abort(); // the network drops here
    }
  } catch (error) {
    if (!(error instanceof AgentsuiteError && error.code === Code.Canceled)) throw error;
    console.log(`-- stream lost after #${seen.at(-1)}; resuming run ${runId} --`);
  }

  // Deltas carry the seq of the step-level event before them and are never replayed: a client
  // resuming mid-step gets the rest of the step's text as a whole in its assistant_message.
  for await (const { event } of client.conversations.watchRun({ runId, afterSeq: seen.at(-1) ?? 0n })) {
    const { case: kind, value } = event!.event;
    if (kind === "assistantDelta" || kind === "heartbeat") continue;
    seen.push(event!.seq);
    console.log(`#${event!.seq} ${kind}`);
    if (kind === "assistantMessage") reply += value.content;
  }
  const gapless = seen.every((seq, index) => seq === BigInt(index + 1));
  console.log(`events 1..${seen.length}, ${gapless ? "no gap, no duplicate" : "NOT in order"}`);
  console.log(`story: ${reply}`);
  if (!gapless) process.exitCode = 1;
} finally {
  await client.agents.deleteAgent({ agentId: agent!.id });
  client.close();
}
