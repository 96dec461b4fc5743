// Errors of the suite, with their google.rpc details decoded.
//
// A failed call carries a google.rpc.Status in the `grpc-status-details-bin` trailer; Connect
// parses it into ConnectError.details, and AgentsuiteError decodes the details the suite sends:
// ErrorInfo (a stable reason and facts such as a busy agent's running "run_id"), BadRequest (one
// violation per bad field), ResourceInfo (what was not found) and RetryInfo (when to try again).
// An error event inside a Converse stream carries the same details as google.protobuf.Any.
import type { Any } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";

import type { ErrorEvent } from "./gen/agentsuite/gateway/v1/gateway_pb.js";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  ResourceInfoSchema,
  RetryInfoSchema,
} from "./gen/google/rpc/error_details_pb.js";

/** One bad field of a request (google.rpc.BadRequest.FieldViolation). */
export interface FieldViolation {
  /** Path of the field, e.g. "messages[0].content". */
  field: string;
  /** What is wrong with it. */
  description: string;
}

/**
 * An error answered by the suite: the gRPC code and message, and the decoded details.
 *
 * It is a ConnectError (`instanceof ConnectError` holds; its name stays "ConnectError", which
 * Connect's instanceof check relies on), so `code`, `rawMessage` and `findDetails()` work as usual.
 */
export class AgentsuiteError extends ConnectError {
  /** The code as gRPC spells it, e.g. "INVALID_ARGUMENT". */
  readonly codeName: string;
  /** google.rpc.ErrorInfo reason, e.g. "AGENT_BUSY"; undefined when the error has none. */
  readonly reason: string | undefined;
  /**
   * google.rpc.ErrorInfo metadata, e.g. `{ run_id: "…" }` for a busy agent. (`metadata`, from
   * ConnectError, holds the response's trailers.)
   */
  readonly errorMetadata: Readonly<Record<string, string>>;
  /** google.rpc.BadRequest field violations (INVALID_ARGUMENT). */
  readonly fieldViolations: readonly FieldViolation[];
  /** google.rpc.ResourceInfo: the resource that was not found. */
  readonly resource: { type: string; name: string } | undefined;
  /** google.rpc.RetryInfo: how long to wait before trying again, in milliseconds. */
  readonly retryDelayMs: number | undefined;

  constructor(
    code: Code,
    message: string,
    details: ConnectError["details"],
    cause?: unknown,
    trailers?: Headers,
  ) {
    super(message, code, trailers, undefined, cause);
    this.details = details;
    this.codeName = codeName(code);
    const info = this.findDetails(ErrorInfoSchema)[0];
    this.reason = info?.reason || undefined;
    this.errorMetadata = { ...info?.metadata };
    this.fieldViolations = this.findDetails(BadRequestSchema).flatMap((bad) =>
      bad.fieldViolations.map(({ field, description }) => ({ field, description })),
    );
    const resource = this.findDetails(ResourceInfoSchema)[0];
    this.resource = resource && { type: resource.resourceType, name: resource.resourceName };
    const retry = this.findDetails(RetryInfoSchema)[0]?.retryDelay;
    this.retryDelayMs = retry && Number(retry.seconds) * 1000 + Math.round(retry.nanos / 1e6);
  }

  // ConnectError's own check would take any ConnectError for an AgentsuiteError.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }

  /** The run the error is about: a busy agent's running run, or the run a deadline left running. */
  get runId(): string | undefined {
    return this.errorMetadata.run_id;
  }

  /** The same error as an AgentsuiteError (a ConnectError, an abort, anything thrown). */
  static from(error: unknown): AgentsuiteError {
    if (error instanceof AgentsuiteError) return error;
    const connect = ConnectError.from(error);
    const { code, rawMessage, details, cause, metadata } = connect;
    return new AgentsuiteError(code, rawMessage, details, cause ?? error, metadata);
  }

  /**
   * The error an ErrorEvent of a stream reports, with its details; for a BroadcastResult, pass
   * `{ code: result.errorCode, message: result.errorMessage, details: result.errorDetails }`.
   */
  static fromEvent(event: Pick<ErrorEvent, "code" | "message"> & { details: Any[] }): AgentsuiteError {
    // An Any holds the detail's binary encoding: what the trailer's Status holds too.
    const details = event.details.map((any) => ({ type: typeName(any), value: any.value }));
    return new AgentsuiteError(event.code as Code, event.message, details);
  }
}

/** "INVALID_ARGUMENT" for Code.InvalidArgument: the name every gRPC library uses. */
export function codeName(code: Code): string {
  if (code === Code.Canceled) return "CANCELLED"; // Connect spells it the American way
  return (Code[code] ?? "UNKNOWN").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

function typeName(any: Any): string {
  return any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
}
