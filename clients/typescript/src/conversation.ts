// A Converse stream as objects: each send (or approval) is a Turn with its own events and result.
//
// The gateway echoes the send_id of a send on every event and error it causes, so several sends
// can be in flight on one stream; the Conversation routes each response to its Turn.
import { randomUUID } from "node:crypto";

import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";

import { AgentsuiteError } from "./errors.js";
import {
  MessageRole,
  type InputMessageSchema,
  type Message,
  type ToolApprovalSchema,
} from "./gen/agentsuite/common/v1/common_pb.js";
import type { BusyPolicy, Run, RunEvent } from "./gen/agentsuite/gateway/v1/gateway_pb.js";
import type {
  ConversationService,
  ConverseRequestSchema,
  ConverseResponse,
} from "./gen/agentsuite/gateway/v1/gateway_service_pb.js";
import { AsyncQueue } from "./queue.js";

/** A message to send: its text (a user message), or the message itself. */
export type Input = string | MessageInitShape<typeof InputMessageSchema>;

/** Options of Conversation (client.converse). */
export interface ConversationOptions {
  /** Follow this run from the start (after a dropped stream): its events go to `resumed`. */
  resumeRunId?: string;
  /** With resumeRunId: the last seq received; only the step-level events after it come again. */
  resumeAfterSeq?: bigint;
  /** Aborting it ends the stream (every pending turn fails with CANCELED). */
  signal?: AbortSignal;
}

/** Options of one send. */
export interface SendOptions {
  /**
   * Makes the send safe to repeat, also on another stream after a reconnect: the same key, the
   * same run. A fresh UUID by default (Turn.idempotencyKey tells it).
   */
  idempotencyKey?: string;
  /** What to do when the agent is already running; unspecified means enqueue. */
  busyPolicy?: BusyPolicy;
  /** Maximum steps of the run; 0 uses the agent's max_steps. */
  maxSteps?: number;
  /** Id echoed on the turn's events; a random UUID by default. */
  sendId?: string;
}

/** How a turn ended: the finished run and the assistant's messages. */
export interface TurnResult {
  /** The run in its final state (status, stop reason, usage). */
  run: Run;
  /** The assistant messages of the run, in order (each step's complete message). */
  messages: Message[];
  /** Their non-empty contents joined by blank lines: the reply. */
  text: string;
}

/** One send (or approval, or a resumed run) and the events of the run it started. */
export class Turn implements AsyncIterable<RunEvent> {
  /** Id of the run, once the gateway told it (on the first event). */
  runId: string | undefined;
  /** Resolves when the run finishes; rejects with AgentsuiteError when the send was refused. */
  readonly done: Promise<TurnResult>;
  private readonly events = new AsyncQueue<RunEvent>();
  private readonly messages: Message[] = [];
  private received = 0;
  private resolve!: (result: TurnResult) => void;
  private reject!: (error: AgentsuiteError) => void;

  constructor(
    /** The send_id the gateway echoes for this turn ("" for a resumed run). */
    readonly sendId: string,
    /** The send's idempotency key: send again with it to get this same run ("" when none). */
    readonly idempotencyKey = "",
    runId?: string,
  ) {
    this.runId = runId;
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.done.catch(() => undefined); // a refusal nobody awaits is not an unhandled rejection
  }

  /** The run's events as they arrive, ending with the finished event (one reader). */
  [Symbol.asyncIterator](): AsyncIterator<RunEvent> {
    return this.events[Symbol.asyncIterator]();
  }

  /** Take one event of this turn (the Conversation routes them); true when it ended the turn. */
  receive(event: RunEvent): boolean {
    const first = this.received++ === 0;
    this.runId ||= event.runId || undefined;
    const { case: kind, value } = event.event;
    if (kind === "error" && first) {
      // An error before anything else is the refusal of the send itself (busy, queue full, bad
      // input): no run follows. Later errors belong to the run, and a finished event follows.
      this.fail(AgentsuiteError.fromEvent(value));
      return true;
    }
    this.events.push(event);
    if (kind === "assistantMessage") this.messages.push(value);
    if (kind !== "finished") return false;
    this.events.end();
    const text = this.messages
      .map((message) => message.content)
      .filter(Boolean)
      .join("\n\n");
    this.resolve({ run: value.run!, messages: this.messages, text });
    return true;
  }

  /** End the turn with an error (a refusal, or the stream's end). */
  fail(error: AgentsuiteError): void {
    this.events.fail(error);
    this.reject(error);
  }
}

/**
 * A conversation with one agent over ConversationService.Converse.
 *
 * ```ts
 * const conversation = client.converse(agentId);
 * const turn = conversation.send("Hello!");
 * for await (const event of turn) {
 *   if (event.event.case === "assistantDelta") process.stdout.write(event.event.value.text);
 * }
 * const { run, text } = await turn.done;
 * await conversation.close();
 * ```
 */
export class Conversation {
  /** The run resumed by `resumeRunId`, if any. */
  readonly resumed: Turn | undefined;
  private readonly requests = new AsyncQueue<MessageInitShape<typeof ConverseRequestSchema>>();
  private readonly bySendId = new Map<string, Turn>();
  private readonly byRunId = new Map<string, Turn>();
  /** Turns whose run is not known yet, oldest first. */
  private readonly unassigned: Turn[] = [];
  private readonly pings = new Map<bigint, () => void>();
  private nextNonce = 1n;
  private readonly finished: Promise<void>;

  constructor(
    client: Client<typeof ConversationService>,
    readonly agentId: string,
    options: ConversationOptions = {},
  ) {
    const { resumeRunId = "", resumeAfterSeq = 0n, signal } = options;
    this.requests.push({ request: { case: "open", value: { agentId, resumeRunId, resumeAfterSeq } } });
    if (resumeRunId) {
      this.resumed = new Turn("", "", resumeRunId);
      this.byRunId.set(resumeRunId, this.resumed);
    }
    this.finished = this.read(client.converse(this.requests, { signal }));
  }

  /** Send messages to the agent, starting a run (or queueing one behind the agent's runs). */
  send(input: Input | Input[], options: SendOptions = {}): Turn {
    const { idempotencyKey = randomUUID(), busyPolicy, maxSteps = 0, sendId = randomUUID() } = options;
    const messages = (Array.isArray(input) ? input : [input]).map(inputMessage);
    const turn = this.track(new Turn(sendId, idempotencyKey));
    this.requests.push({
      request: { case: "send", value: { messages, idempotencyKey, busyPolicy, maxSteps, sendId } },
    });
    return turn;
  }

  /** Decide on the pending tool calls of a run awaiting approval; the run goes on in this turn. */
  approve(runId: string, approvals: MessageInitShape<typeof ToolApprovalSchema>[], sendId = randomUUID()): Turn {
    const turn = this.track(new Turn(sendId));
    this.requests.push({ request: { case: "approval", value: { runId, approvals, sendId } } });
    return turn;
  }

  /** Cancel a run; its turn ends with the finished event (stop reason CANCELLED). */
  cancel(runId: string): void {
    this.requests.push({ request: { case: "cancel", value: { runId } } });
  }

  /** Resolves when the gateway answers: the stream is alive end to end. */
  ping(): Promise<void> {
    const nonce = this.nextNonce++;
    const pong = new Promise<void>((resolve) => this.pings.set(nonce, resolve));
    this.requests.push({ request: { case: "ping", value: { nonce } } });
    return pong;
  }

  /** Send nothing more; resolves when the gateway ends the stream (after every run finished). */
  async close(): Promise<void> {
    this.requests.end();
    await this.finished;
  }

  private track(turn: Turn): Turn {
    this.bySendId.set(turn.sendId, turn);
    this.unassigned.push(turn);
    return turn;
  }

  private async read(responses: AsyncIterable<ConverseResponse>): Promise<void> {
    let failure: AgentsuiteError | undefined;
    try {
      for await (const response of responses) this.dispatch(response);
    } catch (error) {
      failure = AgentsuiteError.from(error);
    }
    this.requests.end();
    const pending = new Set([...this.bySendId.values(), ...this.byRunId.values()]);
    for (const turn of pending) {
      turn.fail(failure ?? AgentsuiteError.from(new Error("the conversation ended before the run finished")));
    }
  }

  private dispatch(response: ConverseResponse): void {
    const { case: kind, value } = response.response;
    if (kind === "pong") {
      this.pings.get(value.nonce)?.();
      this.pings.delete(value.nonce);
    } else if (kind === "event") {
      const turn = this.turnOf(response.sendId, value.runId);
      if (turn?.receive(value)) this.forget(turn);
    }
  }

  private turnOf(sendId: string, runId: string): Turn | undefined {
    const turn =
      (sendId && this.bySendId.get(sendId)) ||
      (runId && this.byRunId.get(runId)) ||
      // A response without a send_id (a send refused for its over-long send_id, or a gateway
      // older than the field): it belongs to the oldest send not yet answered, which holds
      // while one send at a time is in flight.
      (!sendId ? this.unassigned[0] : undefined);
    if (turn && runId && !turn.runId) {
      turn.runId = runId;
      this.byRunId.set(runId, turn);
    }
    if (turn) this.forgetUnassigned(turn); // its first event names its run (or refuses it)
    return turn;
  }

  private forget(turn: Turn): void {
    this.bySendId.delete(turn.sendId);
    if (turn.runId) this.byRunId.delete(turn.runId);
    this.forgetUnassigned(turn);
  }

  private forgetUnassigned(turn: Turn): void {
    const index = this.unassigned.indexOf(turn);
    if (index >= 0) this.unassigned.splice(index, 1);
  }
}

/** A user message with `text`, or the message as given (an unset role means USER). */
export function inputMessage(input: Input): MessageInitShape<typeof InputMessageSchema> {
  return typeof input === "string" ? { role: MessageRole.USER, content: input } : input;
}
