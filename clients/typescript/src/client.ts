// A connection to the gateway: one HTTP/2 session speaking the gRPC protocol, the API key on every
// call, a default deadline on unary calls, keepalive pings, and every error an AgentsuiteError.
import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";

import { Conversation, type ConversationOptions } from "./conversation.js";
import { AgentsuiteError } from "./errors.js";
import { AgentService } from "./gen/agentsuite/agent/v1/agent_service_pb.js";
import { ConversationService } from "./gen/agentsuite/gateway/v1/gateway_service_pb.js";
import { MemoryService } from "./gen/agentsuite/memory/v1/memory_service_pb.js";
import { ToolService } from "./gen/agentsuite/tools/v1/tools_service_pb.js";
import { DEFAULT_RETRY_POLICY, retryUnavailable, type RetryPolicy } from "./retry.js";

/** How to reach the gateway. */
export interface ConnectOptions {
  /** The API key, sent as `authorization: Bearer <key>` on every call. */
  apiKey: string;
  /**
   * Deadline of every unary call that names none, in milliseconds (default 30 000; SendMessage
   * 300 000, ExportAgent and ImportAgent 600 000, as in the Python client). Streams
   * (StreamMessage, Converse, WatchRun, Broadcast) get none by default: they last as long as
   * their runs; give one per call with `{ timeoutMs }`.
   */
  timeoutMs?: number;
  /**
   * TLS: `true` for the system's CAs; or PEM contents: `ca` to trust a private CA, `cert` and
   * `key` to present a client certificate (mTLS). Off by default (plain HTTP/2).
   */
  tls?: boolean | { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer };
  /** Interval of HTTP/2 keepalive pings, in milliseconds (default 20 000, as the services use). */
  keepaliveMs?: number;
  /**
   * Retries of the unary calls that are safe to repeat, on UNAVAILABLE (see retry.ts); `false`
   * turns them off. Default: 4 attempts, backoff from 100 ms to 2 s, within the call's deadline.
   */
  retry?: RetryPolicy | false;
}

/** Typed clients of the four public services, on one connection. */
export interface AgentsuiteClient {
  /** AgentService: create, read, update, delete, export and import agents. */
  readonly agents: Client<typeof AgentService>;
  /** ConversationService: messages, runs, streams and broadcasts. */
  readonly conversations: Client<typeof ConversationService>;
  /** MemoryService: core memory blocks, archives and passages, message history. */
  readonly memory: Client<typeof MemoryService>;
  /** ToolService: custom tools and their secrets. */
  readonly tools: Client<typeof ToolService>;
  /** Open a Converse stream with one agent; see Conversation. */
  converse(agentId: string, options?: ConversationOptions): Conversation;
  /** Close the connection; calls still in flight fail with CANCELED. */
  close(): void;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_KEEPALIVE_MS = 20_000;

/** Connect to the gateway at `address` ("host:port", or a URL "http(s)://host:port"). */
export function connect(address: string, options: ConnectOptions): AgentsuiteClient {
  const tls = options.tls === true ? {} : options.tls || undefined;
  const baseUrl = address.includes("://") ? address : `${tls ? "https" : "http"}://${address}`;
  const session = new Http2SessionManager(
    baseUrl,
    { pingIntervalMs: options.keepaliveMs ?? DEFAULT_KEEPALIVE_MS },
    tls ? { ca: tls.ca, cert: tls.cert, key: tls.key } : {},
  );
  const grpc = createGrpcTransport({
    baseUrl,
    sessionManager: session,
    interceptors: [
      bearer(options.apiKey),
      asAgentsuiteErrors,
      ...(options.retry === false ? [] : [retryUnavailable(options.retry ?? DEFAULT_RETRY_POLICY)]),
    ],
  });
  const transport = withUnaryDeadline(grpc, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const client = <S extends DescService>(service: S) => createClient(service, transport);
  const conversations = client(ConversationService);
  return {
    agents: client(AgentService),
    conversations,
    memory: client(MemoryService),
    tools: client(ToolService),
    converse: (agentId, conversationOptions) => new Conversation(conversations, agentId, conversationOptions),
    close: () => session.abort(),
  };
}

function bearer(apiKey: string): Interceptor {
  return (next) => (request) => {
    request.header.set("authorization", `Bearer ${apiKey}`);
    return next(request);
  };
}

/** Every failure, of a unary call or in the middle of a stream, thrown as an AgentsuiteError. */
const asAgentsuiteErrors: Interceptor = (next) => async (request) => {
  try {
    const response = await next(request);
    if (!response.stream) return response;
    return { ...response, message: rethrowing(response.message) };
  } catch (error) {
    throw AgentsuiteError.from(error);
  }
};

async function* rethrowing<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (error) {
    throw AgentsuiteError.from(error);
  }
}

/** Unary calls that last longer by nature: a whole run, a whole agent document (as in Python). */
const LONG_CALL_TIMEOUT_MS: Record<string, number> = {
  SendMessage: 300_000,
  ExportAgent: 600_000,
  ImportAgent: 600_000,
};

/** A unary call without a deadline of its own gets its default; streams are left alone. */
function withUnaryDeadline(transport: Transport, timeoutMs: number): Transport {
  return {
    unary: (method, signal, timeout, header, input, contextValues) => {
      const deadline = timeout ?? LONG_CALL_TIMEOUT_MS[method.name] ?? timeoutMs;
      return transport.unary(method, signal, deadline, header, input, contextValues);
    },
    stream: (method, signal, timeout, header, input, contextValues) =>
      transport.stream(method, signal, timeout, header, input, contextValues),
  };
}
