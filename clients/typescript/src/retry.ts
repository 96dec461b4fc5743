// Retries of unary calls that are safe to repeat, when the gateway answers UNAVAILABLE (a replica
// restarting, a backend briefly unreachable) — the policy the Python client declares in its
// channel's service config. Connect has no retries of its own, so an interceptor does it.
import { randomUUID } from "node:crypto";

import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

/** Reads, and writes whose repeat leaves the same state. */
const SAFE: Record<string, readonly string[]> = {
  "agentsuite.agent.v1.AgentService": ["GetAgent", "ListAgents", "ExportAgent", "UpdateAgent"],
  "agentsuite.memory.v1.MemoryService": [
    "GetBlock",
    "ListBlocks",
    "ListBlockHistory",
    "GetArchive",
    "ListArchives",
    "ListPassages",
    "SearchPassages",
    "ListMessages",
    "SearchMessages",
    "CountMessages",
  ],
  "agentsuite.tools.v1.ToolService": ["GetTool", "ListTools", "UpdateTool", "SetSecret", "ListSecrets"],
  "agentsuite.gateway.v1.ConversationService": ["GetRun", "ListRuns", "CancelRun"],
};

/** Writes made safe to repeat by a key in the request: the field that holds it. */
const KEYED: Record<string, Record<string, string>> = {
  "agentsuite.agent.v1.AgentService": { CreateAgent: "requestId" },
  "agentsuite.memory.v1.MemoryService": { InsertPassages: "idempotencyKey", EditBlock: "idempotencyKey" },
  "agentsuite.gateway.v1.ConversationService": { SendMessage: "idempotencyKey", CreateRun: "idempotencyKey" },
};

/** How often and how long to wait: 4 attempts, 100 ms doubling up to 2 s, with jitter. */
export interface RetryPolicy {
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 4, initialBackoffMs: 100, maxBackoffMs: 2000 };

/**
 * Retry the unary calls that are safe to repeat on UNAVAILABLE, within the call's deadline. A
 * keyed write without a key gets a fresh one first (the request's own field, so the caller sees
 * it), which makes its repeat return the first attempt's result. Streams are never retried:
 * resume a run with WatchRun, or a conversation with resumeRunId.
 */
export function retryUnavailable(policy: RetryPolicy = DEFAULT_RETRY_POLICY): Interceptor {
  return (next) => async (request) => {
    const service = request.service.typeName;
    const method = request.method.name;
    const keyField = KEYED[service]?.[method];
    if (request.stream || !(keyField || SAFE[service]?.includes(method))) return next(request);
    const message = request.message as unknown as Record<string, unknown>;
    if (keyField && !message[keyField]) message[keyField] = randomUUID();
    let backoff = policy.initialBackoffMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(request);
      } catch (error) {
        const unavailable = ConnectError.from(error).code === Code.Unavailable;
        if (!unavailable || attempt >= policy.maxAttempts || request.signal.aborted) throw error;
        await sleep(Math.random() * backoff, request.signal);
        backoff = Math.min(backoff * 2, policy.maxBackoffMs);
      }
    }
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}
