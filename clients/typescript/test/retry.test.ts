// The client's retries against an in-process gRPC server (real HTTP/2 on loopback) that answers
// UNAVAILABLE on purpose: no suite needed.
import assert from "node:assert/strict";
import { createServer, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";

import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

import { AgentService, connect, type AgentsuiteClient } from "@agentsuite/client";

const attempts = new Map<string, string[]>(); // method → what each attempt carried
let server: Http2Server;
let client: AgentsuiteClient;

/** Answers UNAVAILABLE to the first `failures` attempts of each method, then succeeds. */
function flaky(method: string, carried: string, failures = 2) {
  const seen = attempts.get(method) ?? [];
  attempts.set(method, [...seen, carried]);
  if (seen.length < failures) throw new ConnectError("restarting", Code.Unavailable);
}

before(async () => {
  const handler = connectNodeAdapter({
    routes: (router) =>
      router.service(AgentService, {
        getAgent: (request) => (flaky("getAgent", request.agentId), { agent: { id: request.agentId } }),
        createAgent: (request) => (flaky("createAgent", request.requestId), { agent: { id: "new" } }),
        deleteAgent: (request) => (flaky("deleteAgent", request.agentId), {}),
      }),
  });
  server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  client = connect(`127.0.0.1:${port}`, { apiKey: "k", retry: { maxAttempts: 4, initialBackoffMs: 1, maxBackoffMs: 5 } });
});
after(() => {
  client.close();
  server.close();
});

test("a read answered UNAVAILABLE is tried again until it succeeds", async () => {
  const { agent } = await client.agents.getAgent({ agentId: "a1" });
  assert.equal(agent?.id, "a1");
  assert.deepEqual(attempts.get("getAgent"), ["a1", "a1", "a1"]);
});

test("a create without a request id gets one, the same on every attempt", async () => {
  await client.agents.createAgent({ agent: { name: "x" } });
  const keys = attempts.get("createAgent")!;
  assert.equal(keys.length, 3);
  assert.ok(keys[0]!.length > 0);
  assert.equal(new Set(keys).size, 1);
});

test("a delete is not repeated: its UNAVAILABLE reaches the caller", async () => {
  await assert.rejects(client.agents.deleteAgent({ agentId: "a1" }), { code: Code.Unavailable });
  assert.equal(attempts.get("deleteAgent")!.length, 1);
});
