// The agentsuite TypeScript client: connect(), conversations, decoded errors, and the generated
// messages and services (import more of them from "@agentsuite/client/gen/...").
export { connect, type AgentsuiteClient, type ConnectOptions } from "./client.js";
export {
  Conversation,
  Turn,
  inputMessage,
  type ConversationOptions,
  type Input,
  type SendOptions,
  type TurnResult,
} from "./conversation.js";
export { AgentsuiteError, codeName, type FieldViolation } from "./errors.js";
export { DEFAULT_RETRY_POLICY, retryUnavailable, type RetryPolicy } from "./retry.js";

export * from "./gen/agentsuite/agent/v1/agent_pb.js";
export * from "./gen/agentsuite/agent/v1/agent_service_pb.js";
export * from "./gen/agentsuite/common/v1/common_pb.js";
export * from "./gen/agentsuite/gateway/v1/gateway_pb.js";
export * from "./gen/agentsuite/gateway/v1/gateway_service_pb.js";
export * from "./gen/agentsuite/memory/v1/memory_pb.js";
export * from "./gen/agentsuite/memory/v1/memory_service_pb.js";
export * from "./gen/agentsuite/tools/v1/tools_pb.js";
export * from "./gen/agentsuite/tools/v1/tools_service_pb.js";
export * from "./gen/google/rpc/error_details_pb.js";
export { Code, ConnectError } from "@connectrpc/connect";
export { create, type MessageInitShape } from "@bufbuild/protobuf";
