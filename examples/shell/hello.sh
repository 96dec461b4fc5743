#!/usr/bin/env bash
# The suite from the shell with `buf curl`, every schema taken from the gateway's reflection:
# create an agent, talk to it (unary, then a Converse stream), read its memory, and decode the
# google.rpc details of an error.
#
#   AGENTSUITE_API_KEY=ags_... examples/shell/hello.sh [ADDRESS]     # ADDRESS: 127.0.0.1:50051
#
# BUF names the buf binary (default: buf on PATH, e.g. node_modules/.bin/buf); MODEL, when set,
# gives the agent that model on the suite's OpenAI-compatible provider; GOOGLE_RPC_PROTOS is
# where `buf convert` finds google/rpc/error_details.proto (default: the googleapis module on the
# Buf Schema Registry).
set -euo pipefail

ADDRESS=${1:-${AGENTSUITE_GATEWAY_ADDR:-127.0.0.1:50051}}
KEY=${AGENTSUITE_API_KEY:?set AGENTSUITE_API_KEY (make up prints one)}
BUF=${BUF:-buf}
GOOGLE_RPC_PROTOS=${GOOGLE_RPC_PROTOS:-buf.build/googleapis/googleapis}

# call SERVICE/METHOD JSON: one RPC with the API key; a JSON of "@-" reads the requests from stdin.
call() {
  "$BUF" curl --protocol grpc --http2-prior-knowledge -H "authorization: Bearer $KEY" \
    -d "$2" "http://$ADDRESS/agentsuite.$1"
}

echo "== the public services (reflection)"
"$BUF" curl --protocol grpc --http2-prior-knowledge --list-services "http://$ADDRESS"

echo "== create an agent"
model=""
[ -z "${MODEL:-}" ] || model=", \"model\": {\"provider\": \"openai\", \"model\": \"$MODEL\"}"
created=$(call agent.v1.AgentService/CreateAgent \
  "{\"agent\": {\"name\": \"shell-example\", \"system_prompt\": \"You are terse.\"$model}}")
agent_id=$(sed -n 's/^    "id": "\(.*\)",$/\1/p' <<<"$created")
echo "agent $agent_id"

echo "== send a message and wait for the reply (SendMessage)"
call gateway.v1.ConversationService/SendMessage \
  "{\"agent_id\": \"$agent_id\", \"messages\": [{\"content\": \"Hello from the shell\"}], \"idempotency_key\": \"hello-$agent_id\"}" |
  grep '"content"'

echo "== a Converse stream: open, send, then the client closes its side (the stream ends after the run)"
call gateway.v1.ConversationService/Converse @- <<JSON | grep -E '"(sendId|content)"'
{"open": {"agent_id": "$agent_id"}}
{"send": {"messages": [{"content": "And once more"}], "send_id": "shell-1"}}
JSON

echo "== its history (MemoryService.ListMessages)"
call memory.v1.MemoryService/ListMessages "{\"agent_id\": \"$agent_id\"}" | grep -E '"(seq|role|content)"'

echo "== an error and its details: a nameless agent is INVALID_ARGUMENT"
error=$(call agent.v1.AgentService/CreateAgent '{"agent": {"name": ""}}' 2>&1 >/dev/null) && {
  echo "unexpected: the agent was created" >&2
  exit 1
}
grep -E '"(code|message)"' <<<"$error"
# The details are google.rpc messages, shown base64-encoded; buf convert decodes one.
bad_request=$(grep -A1 '"google.rpc.BadRequest"' <<<"$error" | sed -n 's/.*"value": "\(.*\)".*/\1/p')
base64 -d <<<"$bad_request" |
  "$BUF" convert "$GOOGLE_RPC_PROTOS" --type google.rpc.BadRequest --from -#format=binpb
echo

call agent.v1.AgentService/DeleteAgent "{\"agent_id\": \"$agent_id\"}" >/dev/null
echo "== done"
