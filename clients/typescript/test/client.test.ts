// The TypeScript client against the running suite (tests/e2e/test_typescript.py starts it and
// sets AGENTSUITE_GATEWAY_ADDR, AGENTSUITE_API_KEY and AGENTSUITE_FAKE_LLM_URL).
import assert from "node:assert/strict";
import { after, test } from "node:test";

import {
  AgentsuiteError,
  BusyPolicy,
  Code,
  MessageRole,
  RunStatus,
  StopReason,
  connect,
} from "@agentsuite/client";

import { required, scriptedModel } from "./fake_llm.js";

const client = connect(required("AGENTSUITE_GATEWAY_ADDR"), { apiKey: required("AGENTSUITE_API_KEY") });
after(() => client.close());

async function newAgent(model: string) {
  const { agent } = await client.agents.createAgent({
    agent: { name: "ts-client", systemPrompt: "You are terse.", model: { provider: "openai", model } },
    memoryBlocks: [{ label: "human", value: "Name: Ada", limit: 1000 }],
  });
  return agent!;
}

test("a conversation streams the reply's deltas then the finished run, and memory holds both messages", async () => {
  const model = await scriptedModel([{ content: "one two three four five six", chunk_size: 4, chunk_delay_ms: 20 }]);
  const agent = await newAgent(model);

  const conversation = client.converse(agent.id);
  const turn = conversation.send({ content: "count for me", metadata: { source: "ts", attempt: 1 } });
  const kinds: string[] = [];
  let streamed = "";
  for await (const event of turn) {
    kinds.push(event.event.case ?? "");
    if (event.event.case === "assistantDelta") streamed += event.event.value.text;
  }
  const { run, text } = await turn.done;
  await conversation.ping(); // answered: the stream is alive end to end
  await conversation.close();

  assert.deepEqual(kinds.slice(0, 2), ["queued", "started"]);
  assert.equal(kinds.at(-1), "finished");
  assert.ok(kinds.filter((kind) => kind === "assistantDelta").length > 1);
  assert.equal(streamed, "one two three four five six");
  assert.equal(text, streamed);
  assert.equal(run.id, turn.runId);
  assert.equal(run.status, RunStatus.COMPLETED);
  assert.equal(run.stopReason, StopReason.END_TURN);
  const { messages } = await client.memory.listMessages({ agentId: agent.id });
  assert.deepEqual(
    messages.map((message) => [message.seq, message.role, message.content]),
    [
      [1n, MessageRole.USER, "count for me"],
      [2n, MessageRole.ASSISTANT, "one two three four five six"],
    ],
  );
  // protobuf-es maps google.protobuf.Struct to a plain JSON object, both ways.
  assert.deepEqual(messages[0]!.metadata, { source: "ts", attempt: 1 });
  const { blocks } = await client.memory.listBlocks({ agentId: agent.id });
  assert.deepEqual(
    blocks.map((block) => [block.label, block.value]),
    [["human", "Name: Ada"]],
  );
});

test("a send refused while the agent is busy fails its own turn with the running run's id", async () => {
  // 3 s of streaming: the first run still runs when the second send arrives, even on a loaded machine.
  const model = await scriptedModel([{ content: "slow ".repeat(30), chunk_size: 5, chunk_delay_ms: 100 }]);
  const agent = await newAgent(model);
  const conversation = client.converse(agent.id);

  const first = conversation.send("take your time");
  const events = first[Symbol.asyncIterator]();
  await events.next(); // the first run is accepted
  const second = conversation.send("me too", { busyPolicy: BusyPolicy.REJECT });
  const refusal = await second.done.then(
    () => assert.fail("a busy agent took the second send"),
    (error: unknown) => error,
  );

  assert.ok(refusal instanceof AgentsuiteError);
  assert.equal(refusal.code, Code.Aborted);
  assert.equal(refusal.codeName, "ABORTED");
  assert.equal(refusal.reason, "AGENT_BUSY");
  assert.equal(refusal.runId, first.runId);
  assert.equal((await first.done).run.status, RunStatus.COMPLETED);
  await conversation.close();
});

test("a conversation opened on a run replays its step-level events after the seq given", async () => {
  const model = await scriptedModel([{ content: "Once upon a time." }]);
  const agent = await newAgent(model);
  const first = client.converse(agent.id);
  const turn = first.send("a story");
  const seqs: bigint[] = [];
  for await (const event of turn) if (event.event.case !== "assistantDelta") seqs.push(event.seq);
  await first.close();

  const again = client.converse(agent.id, { resumeRunId: turn.runId!, resumeAfterSeq: 2n });
  const replayed: bigint[] = [];
  for await (const event of again.resumed!) replayed.push(event.seq);
  const { run, text } = await again.resumed!.done;
  await again.close();

  assert.deepEqual(replayed, seqs.slice(2));
  assert.equal(run.id, turn.runId);
  assert.equal(text, "Once upon a time.");
});

test("a bad request is INVALID_ARGUMENT with its google.rpc.BadRequest field violations decoded", async () => {
  const refusal = await client.agents.createAgent({ agent: { name: "" } }).then(
    () => assert.fail("an agent without a name was created"),
    (error: unknown) => error,
  );

  assert.ok(refusal instanceof AgentsuiteError);
  assert.equal(refusal.code, Code.InvalidArgument);
  assert.deepEqual(
    refusal.fieldViolations.map((violation) => violation.field),
    ["agent.name"],
  );
  assert.ok(refusal.fieldViolations[0]!.description.length > 0);
});

test("an unknown agent is NOT_FOUND, from a unary call and from a stream alike", async () => {
  const agentId = "00000000-0000-4000-8000-000000000000";
  await assert.rejects(client.agents.getAgent({ agentId }), { code: Code.NotFound });
  const conversation = client.converse(agentId);
  const turn = conversation.send("anyone there?");
  await assert.rejects(turn.done, (error: unknown) => error instanceof AgentsuiteError && error.code === Code.NotFound);
  await conversation.close();
});
